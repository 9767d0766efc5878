"""Load and score a model in a contained child process: a deadline, CPU and memory limits, no core dump.

Every model mlci did not train in this process — `mlci evaluate`'s, the check's baseline,
promote --from-pr's re-evaluation, the smoke test of deploy and rollback, drift and retrain —
is scored by `score()`. Its child loads the bundle (sha256, member sizes, trusted types and tree
structures: `mlci.artifacts.load_model`) and predicts the rows. A model that crashes its library
(SIGSEGV), loops forever in compiled code (which ignores SIGTERM, so it is killed with SIGKILL)
or allocates without end takes down only that child, and the job fails in one line naming the
version and what happened, within the deadline.

The child runs the model, so everything it sends back is untrusted: predictions come back as
.npy files read with `allow_pickle=False` and a small JSON document, never as a pickle, and its
texts are cut to one printable line before they reach a message.

Children are forked from a fork server: a fresh interpreter that imports the model libraries
once per mlci process, so a scoring pays a fork and a pickle of the rows (tens of ms), not a
fresh interpreter's imports (2-3 s). The calling process is never forked itself: the check trains
in it, and a child forked after GNU OpenMP (libgomp) ran can hang. multiprocessing's own
"forkserver" is not used, for two reasons: it runs the caller's main script again in every child
(its "safe importing of main module" rule, which a library cannot impose on the scripts that
call it), and its children hold the server's liveness pipe, so the child of a killed caller would
outlive it. This server answers each request on its own connection, kills the child when that
connection closes (the caller was interrupted or killed) or its deadline passes, and exits when
the process that started it (and every fork of it) is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci.errors import ArtifactError, MlciError, ScoringFailed

if TYPE_CHECKING:
    import socket
    import subprocess

    import pandas as pd

    from mlci.artifacts import Bundle
    from mlci.config import Config
    from mlci.evaluation import Predictions

# What the fork server imports once, so each child starts with it loaded: what a skops bundle
# needs to load and predict, and mlci's loader.
_PRELOAD = (
    "numpy",
    "pandas",
    "sklearn.pipeline",
    "skops.io",
    "mlci.artifacts",
    "mlci.trees",
    "mlci.training",
    "mlci.transformers",
    "mlci.evaluation",
)
# The child's own alarm kills it this long after the deadline: a backstop when its server is
# gone or late (the alarm's default action ends the process whatever code it is running).
_GRACE_SECONDS = 5.0
# How long the caller waits for the server to fork the child (the first request waits for its
# imports), and past the deadline for the child's end, before giving up on the server.
_START_SECONDS = 600.0
_ANSWER_SECONDS = 30.0
_RESULT_MAX_BYTES = 1 << 20
_OUTPUT_EXCERPT = 2000
_STAGES = {"loading": "loading the model", "scoring": "scoring {rows:,} rows", "writing": "returning its predictions"}
_REQUEST = "request.pickle"


@dataclass(frozen=True)
class Sandbox:
    """What the contained process may load (trusted types, model size) and use (time, CPU, memory)."""

    trusted_types: tuple[str, ...] = ()
    max_model_mb: int = 2048
    timeout_seconds: float = 600.0
    cpu_seconds: int = 1800
    memory_mb: int = 4096
    # The repository's own code, for a model built by it (mlci.training.repo_on_path), and the
    # directory the child works in.
    paths: tuple[str, ...] = ()
    cwd: str | None = None


def sandbox_of(config: Config) -> Sandbox:
    """Return the contained process's settings from mlci.yaml (`model.trusted_types`, `model.sandbox`)."""
    model, limits = config.model, config.model.sandbox
    here = os.getcwd()
    return Sandbox(
        trusted_types=tuple(model.trusted_types),
        max_model_mb=model.max_model_mb,
        timeout_seconds=limits.timeout_seconds,
        cpu_seconds=limits.cpu_seconds,
        memory_mb=limits.memory_mb,
        paths=(str(config.base_dir), here),
        cwd=here,
    )


def warm_up() -> None:
    """Start the fork server now, so its imports run beside this process's work, not in the first score()."""
    with _lock:
        _server()


def score(bundle: Bundle, rows: pd.DataFrame, sandbox: Sandbox) -> Predictions:
    """Return the predictions of the model in `bundle` on `rows`, computed in a contained child process.

    ArtifactError (UntrustedTypes, ...) when the bundle cannot be loaded, as `load_model` says it;
    ScoringFailed when the model crashed, hung past `timeout_seconds`, passed the CPU or memory
    limit, or raised while it predicted. The child is always stopped and reaped before this
    returns, also when this process is interrupted meanwhile.
    """
    with start(bundle, rows, sandbox) as scoring:
        return scoring.result()


def start(bundle: Bundle, rows: pd.DataFrame, sandbox: Sandbox) -> Scoring:
    """Return a scoring of `rows` by `bundle` started in a contained child process (`score()`, in two steps).

    The child runs while this process does other work; `result()` waits for it. Use it as a
    context manager: leaving it unconsumed stops the child.
    """
    return Scoring(bundle, rows, sandbox)


class Scoring:
    """A model scoring rows in a contained child process."""

    def __init__(self, bundle: Bundle, rows: pd.DataFrame, sandbox: Sandbox) -> None:
        import pickle

        self.bundle, self.sandbox, self.rows = bundle, sandbox, len(rows)
        self._tmp = tempfile.TemporaryDirectory(prefix="mlci-score-")
        self._conn: socket.socket | None = None
        try:
            out = Path(self._tmp.name)
            with open(out / _REQUEST, "wb") as f:  # from this (trusted) process to the child: a pickle is fine
                pickle.dump((bundle, rows, sandbox), f, protocol=5)
            self._conn = _request(out, sandbox.timeout_seconds)
        except BaseException:
            self.cancel()
            raise

    def __enter__(self) -> Scoring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def result(self) -> Predictions:
        """Return the predictions, once the child is done; raise what stopped it (see `score`)."""
        if self._conn is None:
            raise RuntimeError("this scoring was cancelled or its result already read")
        try:
            answer = _answer_of(self._conn, self.sandbox.timeout_seconds)
            if answer is None:
                raise ScoringFailed(
                    f"version {self.bundle.version}: the server of contained processes stopped answering; "
                    "the scoring was stopped",
                    hint="a bug in mlci or an exhausted machine: re-run with -v",
                )
            code = answer.get("code")
            code = code if isinstance(code, int) else None
            out = Path(self._tmp.name)
            return _outcome(self.bundle, out, code, bool(answer.get("timed_out")), self.sandbox, self.rows)
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Stop the child if it still runs (closing the connection makes the server kill it); clean up."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._tmp.cleanup()


# --- the fork server, from the caller's side -----------------------------------------------

_lock = threading.Lock()
_current: _Server | None = None


class _Server:
    """A fork server this process started: its process, and the socket it answers on."""

    def __init__(self) -> None:
        import socket
        import subprocess

        self.directory = tempfile.mkdtemp(prefix="mlci-sandbox-")  # 0700: only this user connects
        self.address = os.path.join(self.directory, "socket")
        self.owner = os.getpid()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (the server writes to it for as long as it runs)
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(self.address)
            listener.listen(64)
            code = "import json, sys; sys.path[:0] = json.loads(sys.argv[1]); from mlci.sandbox import serve; serve()"
            self.process: subprocess.Popen[bytes] = subprocess.Popen(
                [sys.executable, "-c", code, json.dumps(sys.path), str(listener.fileno()), self.directory],
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


def _server() -> _Server:
    global _current
    if _current is None or not _current.alive():
        _current = _Server()
    return _current


def _request(out: Path, timeout: float) -> socket.socket:
    """Ask the fork server for a child to score what `out` holds; return the connection its answer comes on."""
    with _lock:
        server = _server()
    try:
        conn = _connect(server)
    except OSError:  # the server died since it was checked: start another, once
        with _lock:
            if _current is server:
                server.stop()
            server = _server()
        conn = _connect(server)
    try:
        conn.sendall(json.dumps({"directory": str(out), "timeout": timeout}).encode() + b"\n")
    except BaseException:
        conn.close()
        raise
    return conn


def _answer_of(conn: socket.socket, timeout: float) -> dict[str, Any] | None:
    """Return the server's answer on `conn`; None when none came in time or the server is gone.

    The deadline runs from the fork, which the server says first (a first request waits for the
    server's imports). Closing the connection early (an interrupt, no answer in time) makes the
    server kill the child.
    """
    reader = _Lines(conn)
    if reader.next(_START_SECONDS) is None:
        return None
    return reader.next(timeout + _ANSWER_SECONDS)


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


# --- the fork server itself ------------------------------------------------------------------


def serve() -> None:
    """Run the fork server (in its own process): import the model libraries, then fork one child per request."""
    import importlib
    import selectors
    import socket
    import time

    listener_fd, directory = int(sys.argv[2]), sys.argv[3]
    for name in _PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
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
                    job = _start(listener, jobs)
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


def _start(listener: socket.socket, jobs: dict[int, _Job]) -> _Job | None:
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
            _contained(Path(directory))
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


# --- what the parent makes of the child's end ----------------------------------------------


def _outcome(bundle: Bundle, out: Path, code: int | None, timed_out: bool, sandbox: Sandbox, rows: int) -> Predictions:
    version = bundle.version
    doing = _STAGES.get(_read_small(out / "stage", 32).strip(), "starting").format(rows=rows)
    if timed_out or code == -signal.SIGALRM:
        raise _with_output(
            ScoringFailed(
                f"version {version}: still {doing} after model.sandbox.timeout_seconds = "
                f"{sandbox.timeout_seconds:g} s; its contained process was killed",
                hint="a model that never finishes is corrupt or hostile; if it is only slow, raise "
                "model.sandbox.timeout_seconds in mlci.yaml",
            ),
            out,
        )
    if code is not None and code < 0:
        raise _with_output(_signalled(version, -code, doing, sandbox), out)
    result = _result(out) if code == 0 else None
    if result is None:
        raise _with_output(
            ScoringFailed(f"version {version}: its contained process exited with code {code} while {doing}"),
            out,
        )
    kind = result.get("kind")
    if kind == "ok":
        return _predictions(version, out, result, rows)
    message, hint = _line(result.get("message")), _line(result.get("hint")) or None
    if kind == "untrusted":
        from mlci.artifacts import UntrustedTypes

        types = [t for t in result.get("types") or [] if isinstance(t, str) and re.fullmatch(r"[\w.]{1,300}", t)]
        raise UntrustedTypes(bundle.model_path, types)
    if kind == "artifact":
        raise ArtifactError(message, hint=hint)
    if kind == "memory":
        raise ScoringFailed(
            f"version {version}: needed more than model.sandbox.memory_mb = {sandbox.memory_mb} MiB while {doing}",
            hint="a model that allocates without end is corrupt or hostile; if it really needs that much, "
            "raise model.sandbox.memory_mb in mlci.yaml",
        )
    raise _with_output(
        ScoringFailed(f"version {version}: the model raised {message} while {doing}", raised=message), out
    )


def _signalled(version: str, signum: int, doing: str, sandbox: Sandbox) -> ScoringFailed:
    name = _signal_name(signum)
    if signum == signal.SIGXCPU:
        return ScoringFailed(
            f"version {version}: used more than model.sandbox.cpu_seconds = {sandbox.cpu_seconds} s of CPU "
            f"while {doing}; its contained process was stopped ({name})",
            hint="a model that computes without end is corrupt or hostile; if it is only slow, raise "
            "model.sandbox.cpu_seconds in mlci.yaml",
        )
    if signum == signal.SIGKILL:  # not ours (we kill only after the deadline): the kernel's
        return ScoringFailed(
            f"version {version}: its contained process was killed ({name}) while {doing}: out of memory, "
            f"or past model.sandbox.cpu_seconds = {sandbox.cpu_seconds} s",
            hint=f"model.sandbox.memory_mb is {sandbox.memory_mb} MiB: raise it in mlci.yaml if the model "
            "really needs more",
        )
    if signum == signal.SIGXFSZ:
        return ScoringFailed(
            f"version {version}: wrote more than model.sandbox.memory_mb = {sandbox.memory_mb} MiB to a file "
            f"while {doing}; its contained process was stopped ({name})"
        )
    return ScoringFailed(
        f"version {version}: the model crashed its contained process ({name}) while {doing}",
        hint="a model that crashes its library is corrupt or was crafted to; nothing else ran it",
    )


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _read_small(path: Path, limit: int) -> str:
    """Return up to `limit` bytes of a file the child wrote ('' if it did not), never following a link."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        return f.read(limit).decode("utf-8", "replace")


def _line(value: object, limit: int = 1000) -> str:
    """Return a text the child sent as one printable line of at most `limit` characters."""
    text = value if isinstance(value, str) else ""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _result(out: Path) -> dict[str, Any] | None:
    text = _read_small(out / "result.json", _RESULT_MAX_BYTES + 1)
    if not text or len(text) > _RESULT_MAX_BYTES:
        return None
    try:
        result = json.loads(text)
    except ValueError:
        return None
    return result if isinstance(result, dict) else None


class ChildOutput(Exception):
    """What the contained process printed before it failed (the cause shown by `mlci -v`)."""


def _with_output(error: MlciError, out: Path) -> MlciError:
    text = _read_small(out / "output.txt", 1 << 20)
    if len(text) > 2 * _OUTPUT_EXCERPT:  # the start says what failed (a crash's Python stack), the end how
        text = f"{text[:_OUTPUT_EXCERPT]}\n[...]\n{text[-_OUTPUT_EXCERPT:]}"
    if text.strip():
        printable = "".join(c if c.isprintable() or c == "\n" else "?" for c in text)
        error.__cause__ = ChildOutput(f"the contained process printed:\n{printable}")
    return error


def _predictions(version: str, out: Path, result: dict[str, Any], rows: int) -> Predictions:
    """Return the Predictions the child wrote, checked against the rows it was given."""
    import numpy as np

    from mlci.evaluation import Predictions

    def malformed(what: str) -> ScoringFailed:
        return ScoringFailed(f"version {version}: the model returned malformed predictions ({what})")

    try:
        labels = _load_values(out, "labels", result.get("labels"))
        proba = np.load(out / "proba.npy", allow_pickle=False) if result.get("proba") else None
        classes = None
        if result.get("classes") is not None:
            classes = list(_load_values(out, "classes", result["classes"]))
    except (OSError, ValueError, TypeError, KeyError, IndexError) as e:
        raise malformed(f"{type(e).__name__}: {_line(str(e), 200)}") from None
    if labels.ndim not in (1, 2) or labels.shape[0] != rows:
        raise malformed(f"{labels.shape[0] if labels.ndim else 0} labels for {rows:,} rows")
    if proba is not None:
        if proba.dtype.kind != "f" or proba.ndim != 2 or proba.shape[0] != rows:
            raise malformed(f"probabilities of shape {proba.shape} and type {proba.dtype} for {rows:,} rows")
        if classes is not None and len(classes) != proba.shape[1]:
            raise malformed(f"{len(classes)} classes for {proba.shape[1]} probability columns")
    return Predictions(labels=labels, proba=proba, classes=classes)


def _load_values(out: Path, name: str, spec: object) -> Any:
    """Return an array the child wrote: a plain .npy, or codes into a JSON list (strings and objects)."""
    import numpy as np

    if spec == "npy":
        array = np.load(out / f"{name}.npy", allow_pickle=False)
        if array.dtype.kind not in "biufU":
            raise ValueError(f"{name} of type {array.dtype}")
        return array
    if isinstance(spec, dict) and isinstance(spec.get("values"), list):
        values = spec["values"]
        if not all(v is None or isinstance(v, (str, int, float, bool)) for v in values):
            raise ValueError(f"{name} values that are not plain")
        codes = np.load(out / f"{name}.npy", allow_pickle=False)
        if (
            codes.dtype.kind not in "iu"
            or codes.ndim != 1
            or (len(codes) and not 0 <= codes.min() <= codes.max() < len(values))
        ):
            raise ValueError(f"{name} codes outside their {len(values)} values")
        table = np.empty(len(values), dtype=object)
        table[:] = values
        return table[codes]
    raise ValueError(f"no {name}")


# --- the child -----------------------------------------------------------------------------


def _contained(out: Path) -> None:
    """Run in the child: contain this process, load the bundle, predict the rows, write the result to `out`."""
    import pickle

    from mlci.artifacts import UntrustedTypes

    _detach(out)
    with open(out / _REQUEST, "rb") as f:
        bundle, rows, sandbox = pickle.load(f)  # written by the caller, before any model ran
    _contain(sandbox, out)
    result: dict[str, Any]
    try:
        _stage(out, "loading")
        model = _load(bundle, sandbox)
        _stage(out, "scoring")
        from mlci.training import predictions

        prediction = predictions(model, rows, str(bundle.manifest.task))
        _stage(out, "writing")
        result = {"kind": "ok", **_write(prediction, out)}
    except UntrustedTypes as e:
        result = {"kind": "untrusted", "types": e.types}
    except MlciError as e:
        result = {"kind": "artifact", "message": e.message, "hint": e.hint}
    except MemoryError:
        result = {"kind": "memory"}
    except Exception as e:  # the model's own error: the caller reports it, naming the version
        result = {"kind": "raised", "message": _describe(e)}
    (out / "result.json").write_text(json.dumps(result))


def _load(bundle: Bundle, sandbox: Sandbox) -> Any:
    """Return the model of a bundle: the one place a model format is chosen (skops today)."""
    from mlci.artifacts import load_model

    return load_model(bundle, sandbox.trusted_types, max_mb=sandbox.max_model_mb)


def _describe(error: BaseException) -> str:
    try:
        return f"{type(error).__name__}: {error}"
    except Exception:  # a __str__ that raises
        return type(error).__name__


def _stage(out: Path, stage: str) -> None:
    (out / "stage").write_text(stage)


def _detach(out: Path) -> None:
    """Give the child its own output file and nothing else of the server's; it dies with the server."""
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


def _contain(sandbox: Sandbox, out: Path) -> None:
    """Limit this (the child) process: working directory, core dumps, CPU, wall time, memory."""
    import faulthandler
    import resource

    faulthandler.enable(file=sys.stderr)  # a crash leaves its Python stack in output.txt (no core: below)
    if sandbox.cwd is not None:
        os.chdir(sandbox.cwd)
    for path in reversed(sandbox.paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    # The alarm's default action ends the process in the kernel, whatever code holds the GIL.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.setitimer(signal.ITIMER_REAL, sandbox.timeout_seconds + _GRACE_SECONDS)
    mib = 1024 * 1024
    _set_limit(resource.RLIMIT_CORE, 0)
    # Past the soft limit the kernel sends SIGXCPU (which ends the process); the hard one is SIGKILL.
    _set_limit(resource.RLIMIT_CPU, sandbox.cpu_seconds, sandbox.cpu_seconds + 5)
    _set_limit(resource.RLIMIT_FSIZE, sandbox.memory_mb * mib)
    # Last, on top of what is mapped now (the libraries, the rows): an allocation past it fails
    # (MemoryError) instead of growing until the runner's memory is gone.
    if (mapped := _address_space()) is not None:
        _set_limit(resource.RLIMIT_AS, mapped + sandbox.memory_mb * mib)


def _set_limit(kind: int, soft: int, hard: int | None = None) -> None:
    import resource

    hard = soft if hard is None else hard
    allowed = resource.getrlimit(kind)[1]
    if allowed != resource.RLIM_INFINITY:
        hard = min(hard, allowed)
        soft = min(soft, hard)
    resource.setrlimit(kind, (soft, hard))


def _address_space() -> int | None:
    """Return this process's mapped address space in bytes (Linux), else None."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    return None


def _write(prediction: Predictions, out: Path) -> dict[str, Any]:
    """Write the predictions as .npy files (no pickles); return how to read them back."""
    import numpy as np

    meta: dict[str, Any] = {"labels": _save_values(out, "labels", np.asarray(prediction.labels))}
    if prediction.proba is not None:
        np.save(out / "proba.npy", np.asarray(prediction.proba, dtype="float64"), allow_pickle=False)
        meta["proba"] = True
    if prediction.classes is not None:
        classes = list(prediction.classes)
        # numpy scalars (an estimator's classes_) stay numpy; Python values (str, int) stay Python.
        numpy_only = all(isinstance(c, np.generic) for c in classes)
        meta["classes"] = _save_values(out, "classes", np.asarray(classes, dtype=None if numpy_only else object))
    return meta


def _save_values(out: Path, name: str, array: Any) -> Any:
    import numpy as np
    import pandas as pd

    if array.dtype.kind in "biufU":
        np.save(out / f"{name}.npy", array, allow_pickle=False)
        return "npy"
    if array.ndim != 1:
        raise TypeError(f"{name} of type {array.dtype} with {array.ndim} dimensions cannot be returned")
    codes, uniques = pd.factorize(array, use_na_sentinel=False)
    values = [v.item() if isinstance(v, np.generic) else v for v in uniques]
    if not all(v is None or isinstance(v, (str, int, float, bool)) for v in values):
        raise TypeError(f"{name} hold values that are not numbers or strings")
    np.save(out / f"{name}.npy", np.asarray(codes, dtype="int64"), allow_pickle=False)
    return {"values": values}
