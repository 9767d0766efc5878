"""Shared fixtures: the example project in a temp dir, and running the real `mlci` CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


def mlci_env(**extra: str) -> dict[str, str]:
    """Return an environment for a subprocess `mlci` without any GitHub Actions variables of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "INPUT_", "MLCI_"))}
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


@pytest.fixture
def mlci() -> Callable[..., Run]:
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
