"""Shared fixtures: the example project in a temp dir, and running the real `mlci` CLI."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["tests.fixtures_github", "tests.fixtures_s3", "tests.fixtures_engines"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "churn"


@dataclass
class Run:
    """What a user sees from one `mlci` invocation."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


_FOREIGN = ("GITHUB_", "RUNNER_", "INPUT_", "MLCI_")


def mlci_env(**extra: str) -> dict[str, str]:
    """Return an environment for a subprocess `mlci` without any GitHub Actions variables of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN)}
    env.update(extra)
    return env


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """Return a private copy of examples/churn (data, suite, mlci.yaml)."""
    dest = tmp_path / "churn"
    shutil.copytree(
        EXAMPLE, dest, ignore=shutil.ignore_patterns(".mlci", "__pycache__", "report.md", "comparison.json")
    )
    return dest


def run_mlci(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Return what `python -m mlci ARGS` in `cwd` with exactly `env` gives, run in-process by click's CliRunner.

    The same command group, option parsing, error mapping and exit codes as the console
    script, without paying a Python start and the library imports per call. Output is
    captured at file descriptors 1 and 2, so what a worker process or a C library writes is
    read as a subprocess's caller would read it. There is no process to time out: pytest's
    timeout bounds the test. Where the process itself is the point (a signal, a race of
    several processes, a bound on its run time), run the real entry point instead.
    """
    # A process that has imported GX validates small tables itself instead of starting a
    # worker that imports it again (mlci.flows.check.validate_here). Every in-process run shares
    # this pytest process, so GX is imported once here rather than each check spawning an
    # interpreter to import it (3-4 s of CPU each). The worker path is the real entry
    # point's: every subprocess and act run takes it, and tests/test_overlap.py forces it.
    import great_expectations  # noqa: F401
    from click.testing import CliRunner

    from mlci.cli.app import cli

    wanted = env if env is not None else mlci_env()
    # CliRunner overlays its env on os.environ: None removes a variable for the call.
    overlay: dict[str, str | None] = {k: None for k in os.environ if k not in wanted}
    overlay.update({k: v for k, v in wanted.items() if os.environ.get(k) != v})
    with contextlib.chdir(cwd):
        result = CliRunner(env=overlay, capture="fd").invoke(cli, list(args), prog_name="mlci")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # the command group let an exception escape: a bug to see
    return subprocess.CompletedProcess(["mlci", *args], result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def mlci() -> Callable[..., Run]:
    """Return a function running `mlci ARGS` in a directory in-process (`run_mlci`).

    `mlci_process` runs the real entry point where the process itself is what a test is about;
    both take the same arguments (`timeout` bounds only a real process).
    """

    def run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
        done = run_mlci(cwd, *args, env=env)
        return Run(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def mlci_process() -> Callable[..., Run]:
    """Return a function running `python -m mlci ARGS` in a directory, as a user would."""

    def run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "mlci", *args],
            cwd=cwd,
            env=env if env is not None else mlci_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


# The name under which tests/e2e records each act run's wall time (record_property).
ACT_SECONDS = "act run seconds"


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
