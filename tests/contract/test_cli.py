"""The CLI contract: every command listed, --version, fast cold start, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.support.paths import ROOT

CONTRACT = [
    "init", "config", "validate", "train", "evaluate", "report", "check", "push",
    "promote", "deploy", "rollback", "history", "drift", "retrain", "demo", "card", "monitor",
]  # fmt: skip


def test_help_lists_every_command_of_the_contract(mlci, tmp_path):
    run = mlci("--help", cwd=tmp_path)
    assert run.returncode == 0
    listed = {line.split()[0] for line in run.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert set(CONTRACT) <= listed


def test_version_prints_the_package_version(mlci_process, tmp_path):
    from mlci import __version__

    run = mlci_process("--version", cwd=tmp_path)
    assert run.returncode == 0
    assert run.stdout.strip() == f"mlci {__version__}"


def test_help_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from mlci.cli.app import cli\n"
        "try:\n    cli(['--help'], prog_name='mlci')\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('pandas', 'sklearn', 'great_expectations', 'boto3', 'numpy', 'pydantic', 'skops')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


@pytest.mark.slow
def test_fresh_venv_install_gives_a_working_console_script(tmp_path):
    # A fresh venv with only mlci (no deps but click) proves both the entry point and that
    # --help/--version need nothing heavy.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)  # this environment's pip installs into it (--python)
    install = [sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"), "install", "-q"]
    subprocess.run([*install, "--no-deps", "-e", str(ROOT), "click"], check=True, timeout=300)
    exe = env_dir / "bin" / "mlci"
    helped = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0, helped.stderr
    for command in CONTRACT:
        assert f"\n  {command} " in helped.stdout
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.startswith("mlci ")
    module = subprocess.run([env_dir / "bin" / "python", "-m", "mlci", "--version"], capture_output=True, text=True)
    assert module.stdout == version.stdout


def test_unknown_option_is_a_usage_error_without_traceback(mlci_process, tmp_path):
    # The real entry point: exit code and streams as the shell sees them.
    run = mlci_process("validate", "--nope", cwd=tmp_path)
    assert run.returncode == 2
    assert "Traceback" not in run.text


def test_missing_config_is_one_line_exit_2(mlci_process, tmp_path: Path):
    run = mlci_process("config", "check", cwd=tmp_path)
    assert run.returncode == 2
    assert "mlci.yaml: no such file" in run.stderr
    assert "mlci init" in run.stderr
    assert "Traceback" not in run.text
