"""A fork server: a fresh interpreter that imports libraries once, then forks one child per request.

mlci.modeling.sandbox scores models in children forked from it, so a scoring pays a fork (tens of ms),
not a new interpreter's imports (2-3 s). The calling process is never forked itself: the check
trains in it, and a child forked after GNU OpenMP (libgomp) ran can hang.

multiprocessing's own "forkserver" start method is not used, for two reasons: it runs the
caller's main script again in every child (its "safe importing of main module" rule, which a
library cannot impose on the scripts that call it), and its children hold the server's liveness
pipe, so the child of a killed caller would outlive it. This one answers each request on its own
connection (a Unix socket in a 0700 directory): it forks the child, says so, and answers its exit
code when it ends. It kills the child (SIGKILL) when the request's deadline passes or when the
caller closes the connection (it was interrupted, or killed), and exits — killing its children —
when the process that started it, and every fork of that process, is gone. A child dies with the
server (PR_SET_PDEATHSIG on Linux). Forks of the starting process share its server.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import socket
    import subprocess
    from collections.abc import Callable

# How long the caller waits for the server to fork the child (the first request waits for its
# imports), and past the deadline for the child's end, before giving up on the server.
_START_SECONDS = 600.0
_ANSWER_SECONDS = 30.0


@dataclass(frozen=True)
class Program:
    """What a fork server runs: the modules it imports once, and the function each child calls."""

    entry: str  # "module:function", called in the child with the request's directory (a Path)
    preload: tuple[str, ...] = ()


# --- the caller's side ----------------------------------------------------------------------

_lock = threading.Lock()
_servers: dict[Program, _Server] = {}


def warm_up(program: Program) -> None:
    """Start the fork server of `program` now, so its imports run beside this process's work."""
    with _lock:
        _server(program)


def request(program: Program, directory: Path, timeout: float) -> socket.socket:
    """Ask for a child that runs `program` on `directory`, killed after `timeout` s; return the connection.

    The child is killed as soon as the connection closes: keep it open until `answer()` returns.
    """
    with _lock:
        server = _server(program)
    try:
        conn = _connect(server)
    except OSError:  # the server died since it was checked: start another, once
        with _lock:
            if _servers.get(program) is server:
                server.stop()
            server = _server(program)
        conn = _connect(server)
    try:
        conn.sendall(json.dumps({"directory": str(directory), "timeout": timeout}).encode() + b"\n")
    except BaseException:
        conn.close()
        raise
    return conn


def answer(conn: socket.socket, timeout: float) -> Answer | None:
    """Return how the child of a request ended; None when the server stopped answering.

    The deadline runs from the fork, which the server says first (a first request waits for the
    server's imports); `timeout` is the request's.
    """
    reader = _Lines(conn)
    started = reader.next(_START_SECONDS)
    if started is None:
        return None
    ended = reader.next(timeout + _ANSWER_SECONDS)
    if ended is None:
        return None
    code = ended.get("code")
    return Answer(code if isinstance(code, int) else None, bool(ended.get("timed_out")))


def server_output(program: Program, limit: int = 4000) -> str:
    """Return the end of what this process's fork server of `program` printed (to explain a failure)."""
    server = _servers.get(program)
    if server is None or server.owner != os.getpid():
        return ""
    with contextlib.suppress(OSError):
        server.log.seek(0, os.SEEK_END)
        server.log.seek(max(0, server.log.tell() - limit))
        return server.log.read().decode("utf-8", "replace")
    return ""


@dataclass(frozen=True)
class Answer:
    """How a child ended: its exit code (-N: killed by signal N), and whether its deadline killed it."""

    code: int | None
    timed_out: bool


class _Server:
    """A fork server this process started: its process, and the socket it answers on."""

    def __init__(self, program: Program) -> None:
        import socket
        import subprocess

        self.directory = tempfile.mkdtemp(prefix="mlci-sandbox-")  # 0700: only this user connects
        self.address = os.path.join(self.directory, "socket")
        self.owner = os.getpid()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (the server writes to it for as long as it runs)
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(self.address)
            listener.listen(64)
            code = "import json, sys; sys.path[:0] = json.loads(sys.argv[1]); from mlci.modeling.forkserver import serve; serve()"
            arguments = [json.dumps(sys.path), str(listener.fileno()), self.directory, json.dumps(program.preload)]
            self.process: subprocess.Popen[bytes] = subprocess.Popen(
                [sys.executable, "-c", code, *arguments, program.entry],
                stdin=subprocess.PIPE,  # the server exits when this pipe closes: its owner is gone
                stdout=self.log,
                stderr=self.log,
                pass_fds=(listener.fileno(),),
                start_new_session=True,  # a Ctrl-C reaches this process, which stops the child itself
            )

    def alive(self) -> bool:
        if self.owner != os.getpid():  # inherited by a fork: not ours to poll; the socket tells
            return os.path.exists(self.address)
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop the server (it kills any child of its own) and wait for it."""
        import subprocess

        if self.owner != os.getpid():
            return
        with contextlib.suppress(OSError):
            self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def _server(program: Program) -> _Server:
    server = _servers.get(program)
    if server is None or not server.alive():
        server = _servers[program] = _Server(program)
    return server


def _connect(server: _Server) -> socket.socket:
    import socket

    conn = socket.socket(socket.AF_UNIX)
    try:
        conn.connect(server.address)
    except OSError:
        conn.close()
        raise
    return conn


class _Lines:
    """The server's JSON lines on one connection."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.data = b""

    def next(self, timeout: float) -> dict[str, Any] | None:
        """Return the next line's object; None when none came within `timeout` or the server is gone."""
        import time

        deadline = time.monotonic() + timeout
        while b"\n" not in self.data:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.conn.settimeout(left)
            try:
                chunk = self.conn.recv(4096)
            except TimeoutError:
                return None
            if not chunk:  # the server died: its children die with it
                return None
            self.data += chunk
        line, _, self.data = self.data.partition(b"\n")
        answer = json.loads(line)
        return answer if isinstance(answer, dict) else None


def _forget_after_fork() -> None:
    global _lock
    _lock = threading.Lock()  # a fork of a thread holding it would otherwise wait forever


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


# --- the server -----------------------------------------------------------------------------


def serve() -> None:
    """Run the fork server (in its own process): import the preloads, then fork one child per request."""
    import importlib
    import selectors
    import socket
    import time

    listener_fd, directory, preload, entry = int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]), sys.argv[5]
    for name in preload:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    module, _, function = entry.partition(":")
    run = getattr(importlib.import_module(module), function)
    listener = socket.socket(fileno=listener_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd hears of each exit
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwinds through `finally`: the children die
    jobs: dict[int, _Job] = {}
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(0, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    try:
        while True:
            pending = [job.deadline for job in jobs.values() if not job.killed]
            wait = max(0.0, min(pending) - time.monotonic()) if pending else None
            for key, _ in selector.select(wait):
                if key.fileobj is listener:
                    job = _start(listener, jobs, run)
                    if job is not None:
                        selector.register(job.conn, selectors.EVENT_READ, job.pid)
                elif key.fileobj == 0:
                    if not os.read(0, 4096):
                        return  # the process that started this server, and every fork of it, is gone
                elif key.fileobj == wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 4096)
                elif (job := jobs.get(key.data)) is not None and not _client_there(job.conn):
                    selector.unregister(job.conn)
                    job.abandoned = True
                    _kill(job)  # its caller was interrupted or died: nobody wants the result
            for pid, code in _reaped(jobs):
                job = jobs.pop(pid)
                if not job.abandoned:
                    selector.unregister(job.conn)
                _answer(job, code)
            now = time.monotonic()
            for job in jobs.values():
                if not job.killed and now >= job.deadline:
                    job.timed_out = True
                    _kill(job)
    finally:
        for job in jobs.values():
            _kill(job)
        for pid in list(jobs):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(directory, "socket"))
            os.rmdir(directory)


@dataclass
class _Job:
    pid: int
    conn: socket.socket
    deadline: float
    killed: bool = False
    timed_out: bool = False
    abandoned: bool = False  # its caller closed the connection


def _start(listener: socket.socket, jobs: dict[int, _Job], run: Callable[[Path], None]) -> _Job | None:
    """Accept one request and fork its child; None when the request was unreadable."""
    import time

    conn, _ = listener.accept()
    conn.settimeout(10.0)  # the caller writes its one line right after connecting
    data = b""
    try:
        while not data.endswith(b"\n") and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        request = json.loads(data)
        directory, timeout = str(request["directory"]), float(request["timeout"])
    except (OSError, ValueError, KeyError, TypeError):
        conn.close()
        return None
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            _detach(Path(directory))
            run(Path(directory))
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    conn.settimeout(None)
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps({"started": pid}).encode() + b"\n")
    return jobs.setdefault(pid, _Job(pid, conn, time.monotonic() + timeout))


def _client_there(conn: socket.socket) -> bool:
    """Return whether the caller still holds its connection (it sends nothing more: readable = closed)."""
    import socket

    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def _kill(job: _Job) -> None:
    if not job.killed:
        job.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(job.pid, signal.SIGKILL)  # not reaped yet: the pid is still this child's


def _reaped(jobs: dict[int, _Job]) -> list[tuple[int, int]]:
    out = []
    for pid in list(jobs):
        with contextlib.suppress(ChildProcessError):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                out.append((pid, os.waitstatus_to_exitcode(status)))
    return out


def _answer(job: _Job, code: int) -> None:
    with contextlib.suppress(OSError), job.conn:
        job.conn.sendall(json.dumps({"code": code, "timed_out": job.timed_out}).encode() + b"\n")


def _detach(out: Path) -> None:
    """Give the child `out`/output.txt as its output and nothing else of the server's; it dies with the server."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # What the model prints goes to a file of this scoring's own, shown only to explain a failure.
    fd = os.open(out / "output.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the server's socket, its clients' connections
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
