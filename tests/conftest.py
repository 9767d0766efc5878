"""The suite's root: it registers the shared fixtures of tests/support and prints the act timings.

Layout (docs/architecture.md, "Tests"): unit/ (one package's behaviour in this process, no
servers), integration/ (real servers and real processes), e2e/ (the action under `act`),
contract/ (the package's shape, its docs and workflows), support/ (what the tests stand on).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_mlci, run_process
from tests.support.paths import EXAMPLE
from tests.support.tools import ACT_SECONDS

pytest_plugins = ["tests.support.fixtures"]


@dataclass
class Run:
    """What a user sees from one `mlci` invocation."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """Return a private copy of examples/churn (data, suite, mlci.yaml)."""
    import shutil

    dest = tmp_path / "churn"
    shutil.copytree(
        EXAMPLE, dest, ignore=shutil.ignore_patterns(".mlci", "__pycache__", "report.md", "comparison.json")
    )
    return dest


@pytest.fixture
def mlci() -> Callable[..., Run]:
    def run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
        done = run_mlci(cwd, *args, env=env)
        return Run(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def mlci_process() -> Callable[..., Run]:
    def run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
        done = run_process(cwd, *args, env=env, timeout=timeout)
        return Run(done.returncode, done.stdout, done.stderr)

    return run


def pytest_terminal_summary(terminalreporter: Any) -> None:
    timings = [
        (report.nodeid, *value)
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if report.when == "call"
        for name, value in getattr(report, "user_properties", [])
        if name == ACT_SECONDS
    ]
    if timings:
        terminalreporter.write_sep("-", "act runs (seconds)")
        for nodeid, run, seconds in timings:
            terminalreporter.write_line(f"{seconds:7.1f}  {nodeid} {run}")
