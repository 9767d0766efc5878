"""Running `mlci`: in this process (the default) or as a real process, with a clean environment."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path


class Run(subprocess.CompletedProcess[str]):
    """What a user sees from one `mlci` invocation: its exit code, stdout and stderr."""

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


# Variables of the GitHub Actions job (or shell) pytest itself may run in; a test adds the
# ones it means to set.
_FOREIGN = ("GITHUB_", "RUNNER_", "INPUT_", "MLCI_")


def mlci_env(**extra: str) -> dict[str, str]:
    """Return an environment for `mlci` without any GitHub Actions or MLCI_ variables of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN)}
    env.update(extra)
    return env


def run_mlci(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    """Return what `python -m mlci ARGS` in `cwd` with exactly `env` gives, run in-process by click's CliRunner.

    The same command group, option parsing, error mapping and exit codes as the console
    script, without paying a Python start and the library imports per call. Output is
    captured at file descriptors 1 and 2, so what a worker process or a C library writes is
    read as a subprocess's caller would read it. There is no process to time out: pytest's
    timeout bounds the test. Where the process itself is the point (a signal, a race of
    several processes, a bound on its run time), use `run_process`.
    """
    # A process that has imported GX validates small tables itself instead of starting a
    # worker that imports it again (mlci.flows.check.validate_here). Every in-process run shares
    # this pytest process, so GX is imported once here rather than each check spawning an
    # interpreter to import it (3-4 s of CPU each). The worker path is the real entry
    # point's: every subprocess and act run takes it, and
    # tests/integration/test_validation_worker.py forces it.
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
    return Run(["mlci", *args], result.exit_code, result.stdout, result.stderr)


def run_process(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
    """Return what `python -m mlci ARGS` gives as a real process in `cwd`, killed after `timeout` seconds."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlci", *args],
        cwd=cwd,
        env=env if env is not None else mlci_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(proc.args, proc.returncode, proc.stdout, proc.stderr)


def one_line(stderr: str) -> str:
    """Return the one line `stderr` holds, asserting it is one line with no traceback and no `internal error`."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "internal error" not in lines[0] and "Traceback" not in stderr
    return lines[0]
