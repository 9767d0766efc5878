"""Run the user's own training command: argv (never a shell), its environment, a deadline, its whole process group.

The command is the repository's code, run in the repository. Its stdout and stderr stream, line by
line and masked by mlci's one redactor, to the `mlci.command` log (the CLI writes it to stderr, so
the Actions log shows the training as it happens and --json stays clean). It runs in a session of its
own: at its end, normal or not, every process of that group is killed with it (killpg), so no stray
trainer holds the runner's GPU or memory after mlci moved on. A process that leaves the group on
purpose (`setsid`, a daemon) is out of killpg's reach; catching those too needs a cgroup or a child
subreaper around mlci's own children (the fork server, the validation worker), which mlci does not
set up: the runner's end of the job is what ends them.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mlci.errors import TrainingError

log = logging.getLogger("mlci.command")

# How many of the command's last stderr lines its failure quotes, and how long one may be.
_TAIL_LINES = 5
_LINE_CHARS = 500
# After SIGTERM to the group, how long its processes get to end before SIGKILL.
_TERM_GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class CommandRun:
    """A command that ran to its end with exit code 0."""

    argv: tuple[str, ...]
    seconds: float
    stderr_tail: tuple[str, ...]


def run_command(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_seconds: float,
    field: str = "model.command",
    secrets: Sequence[str] = (),
) -> CommandRun:
    """Return the run of `argv` in `cwd` with exactly `env`; TrainingError (one line) when it did not succeed.

    A non-zero exit names the code and quotes the last lines of stderr; past `timeout_seconds`
    the command's process group is terminated, then killed. Its lines are logged as they come.
    """
    from mlci._internal.redaction import redact

    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: killpg reaches every child it starts
        )
    except FileNotFoundError:
        raise TrainingError(
            f"{field}: cannot run {argv[0]!r}: no such program (is it installed, or on PATH?)",
            hint="install it with the action's `requirements` input, or write the path to it",
        ) from None
    except OSError as e:
        raise TrainingError(f"{field}: cannot run {argv[0]!r} ({e.strerror})") from None
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)

    def pump(stream: IO[bytes], level: int, keep: bool) -> None:
        for raw in iter(stream.readline, b""):
            line = redact(raw.decode("utf-8", "replace").rstrip("\r\n"), secrets=secrets)
            log.log(level, line)
            if keep and line.strip():
                tail.append(line if len(line) <= _LINE_CHARS else line[: _LINE_CHARS - 1] + "…")
        stream.close()

    assert proc.stdout is not None and proc.stderr is not None
    readers = [
        threading.Thread(target=pump, args=(proc.stdout, logging.INFO, False), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, logging.WARNING, True), daemon=True),
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        try:
            proc.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
    finally:
        # Also on success and on Ctrl-C: whatever it left running (a data loader, a daemon) goes too.
        _end_group(proc)
        for reader in readers:
            reader.join(timeout=5)
    seconds = time.monotonic() - started
    shown = " ".join(argv)
    if timed_out:
        raise TrainingError(
            f"{field}: '{shown}' still ran after model.timeout_minutes = {timeout_seconds / 60:g}; "
            "it and its process group were killed",
            hint="raise model.timeout_minutes in mlci.yaml if the command really takes longer",
        )
    if proc.returncode != 0:
        how = (
            f"was killed by {_signal_name(-proc.returncode)}"
            if proc.returncode < 0
            else f"exited with code {proc.returncode}"
        )
        last = " | ".join(tail) if tail else "it wrote nothing to stderr"
        raise TrainingError(f"{field}: '{shown}' {how}; last lines of stderr: {last}")
    return CommandRun(argv=tuple(argv), seconds=seconds, stderr_tail=tuple(tail))


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the command's process group, then kill what is left of it; reap the command."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + _TERM_GRACE_SECONDS
        while time.monotonic() < deadline and _group_alive(proc):
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    proc.poll()  # reap the leader, or it stays a zombie and the group looks alive
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def command_environment(
    inherited: Mapping[str, str], variables: Mapping[str, str], python: str = sys.executable
) -> dict[str, str]:
    """Return the command's environment: what mlci was started with, the MLCI_* variables, mlci's Python first on PATH.

    mlci's own interpreter comes first on PATH, so `python train.py` is the Python that holds
    mlci and the packages the action installed beside it (its `requirements`).
    """
    env = {k: v for k, v in inherited.items() if not k.startswith("MLCI_")}
    here = str(Path(python).parent)
    env["PATH"] = os.pathsep.join([here, *(p for p in env.get("PATH", os.defpath).split(os.pathsep) if p != here)])
    env.update(variables)
    return env


# Not the repository's code: what mlci, git and Python write beside it.
_NOT_CODE = (".git", ".mlci", "__pycache__", ".venv", "node_modules")


def repository_hash(root: Path, skip: tuple[str, ...] = ()) -> str:
    """Return a hash of every file a command in `root` can read as its code: git's tracked and unignored files.

    Outside a git checkout, every file under `root` but mlci's work directory, .git and caches.
    `skip` names files (mlci's own outputs: report.md, comparison.json) and folders whose files are
    left out, as paths relative to `root`.
    """
    skip = tuple(Path(s).as_posix() for s in skip)  # "./prompts/" -> "prompts"
    folders = tuple(s + "/" for s in skip)
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            timeout=60,
        )
        names = sorted(set(listed.stdout.decode("utf-8", "surrogateescape").split("\0")) - {""})
        ok = listed.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok, names = False, []
    if not ok:
        names = sorted(
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and not any(part in _NOT_CODE for part in p.relative_to(root).parts)
        )
    h = hashlib.sha256()
    for name in names:
        if Path(name).parts[:1] == (".mlci",) or name in skip or name.startswith(folders):
            continue
        path = root / name
        h.update(name.encode("utf-8", "surrogateescape") + b"\0")
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()
