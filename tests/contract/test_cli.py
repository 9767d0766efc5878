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


def test_the_entry_point_ends_as_a_normal_exit_would_less_the_module_teardown(tmp_path: Path):
    # main() ends through mlci.cli.app.end (os._exit after what a normal exit does), so the
    # interpreter does not free the check's thousands of modules one by one. What a normal exit
    # guarantees must still happen: the exit status, a non-daemon thread's last write, atexit
    # handlers, Python's buffered output on a pipe, and what native code printed through C's
    # stdio. Without the thread join or the atexit step in `end`, an assertion below fails (checked);
    # the C output arrives here even without `end`'s fflush (this CPython's C stdout does not
    # hold it back), which `end` still calls for a libc that does.
    marker = tmp_path / "atexit-ran"
    code = (
        "import atexit, ctypes, sys, threading, time\n"
        "from mlci.cli.app import end\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()\n"
        "ctypes.CDLL(None).printf(b'from C stdio\\n')\n"
        "sys.stdout.write('x' * 100000 + '\\n')\n"
        "end(3)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 3, run.stderr
    assert marker.read_text() == "ran"
    assert "thread done" in run.stdout and "from C stdio" in run.stdout and "x" * 100000 in run.stdout
    # A message exits 1 with the message on stderr, as sys.exit("...") does.
    said = subprocess.run(
        [sys.executable, "-c", "from mlci.cli.app import end; end('stopped: why')"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (said.returncode, said.stderr) == (1, "stopped: why\n")


def test_under_a_profiler_the_entry_point_exits_normally_so_the_profile_is_written(tmp_path: Path):
    # cProfile (like coverage and debuggers) writes its report in the normal exit that `end` skips.
    out = tmp_path / "mlci.prof"
    run = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "mlci", "--version"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0 and run.stdout.startswith("mlci "), run.stderr
    assert out.stat().st_size > 0
