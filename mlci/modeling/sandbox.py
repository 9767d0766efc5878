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

Children are forked from a fork server (mlci.modeling.forkserver) that imports the model libraries once
per mlci process, so a scoring pays a fork and a pickle of the rows (tens of ms), not a fresh
interpreter's imports (2-3 s). It kills the child at the deadline, or as soon as the caller is
interrupted or killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci.errors import MlciError, ModelError, ScoringFailed
from mlci.modeling.forkserver import Program

if TYPE_CHECKING:
    import socket

    import pandas as pd

    from mlci.config.schema import Config
    from mlci.modeling.bundle import Bundle
    from mlci.modeling.formats import Predictor
    from mlci.stats.evaluation import Predictions

# What the fork server imports once, so each child starts with it loaded: what every bundle
# needs to load and predict, and mlci's loader.
# needs to load and predict (mlci.modeling.formats adds each format's own), and mlci's loader.
_PRELOAD = (
    "numpy",
    "pandas",
    "mlci.modeling.bundle",
    "mlci.modeling.formats",
    "mlci.modeling.training",
    "mlci.stats.evaluation",
)


def _program(format_name: str = "skops") -> Program:
    """Return the fork server's program for models of one format: one server per format a run scores."""
    from mlci.modeling.formats import format_named

    return Program(entry="mlci.modeling.sandbox:contained", preload=_PRELOAD + format_named(format_name).preload)


# The child's own alarm kills it this long after the deadline: a backstop when its server is
# gone or late (the alarm's default action ends the process whatever code it is running).
_GRACE_SECONDS = 5.0
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
    # An ONNX classifier's labels when neither its manifest nor its metadata names them: the sorted
    # labels of the training data (given only while training it).
    fallback_classes: tuple[Any, ...] = ()


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


def warm_up(format_name: str = "skops") -> None:
    """Start the fork server now, so its imports run beside this process's work, not in the first score().

    A format that holds no model (`results`: the user's command scores) starts nothing.
    """
    from mlci.modeling import forkserver
    from mlci.modeling.formats import FORMATS

    if format_name not in FORMATS:
        return

    forkserver.warm_up(_program(format_name))


def score(bundle: Bundle, rows: pd.DataFrame, sandbox: Sandbox) -> Predictions:
    """Return the predictions of the model in `bundle` on `rows`, computed in a contained child process.

    ModelError (UntrustedTypes, ...) when the bundle cannot be loaded, as `load_model` says it;
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

        from mlci.modeling import forkserver
        from mlci.modeling.formats import format_of

        self.bundle, self.sandbox, self.rows = bundle, sandbox, len(rows)
        self._program = _program(format_of(bundle.manifest).name)
        self._tmp = tempfile.TemporaryDirectory(prefix="mlci-score-")
        self._conn: socket.socket | None = None
        try:
            out = Path(self._tmp.name)
            with open(out / _REQUEST, "wb") as f:  # from this (trusted) process to the child: a pickle is fine
                pickle.dump((bundle, rows, sandbox), f, protocol=5)
            self._conn = forkserver.request(self._program, out, sandbox.timeout_seconds)
        except OSError as e:  # no fork server could be started or reached (an exhausted machine)
            self.cancel()
            raise ScoringFailed(
                f"version {bundle.version}: could not start the process that scores it ({type(e).__name__}: {e})"
            ) from e
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
        from mlci.modeling import forkserver

        try:
            answer = forkserver.answer(self._conn, self.sandbox.timeout_seconds)
            if answer is None:
                error = ScoringFailed(
                    f"version {self.bundle.version}: the server of contained processes stopped answering; "
                    "the scoring was stopped",
                    hint="a bug in mlci or an exhausted machine: re-run with -v",
                )
                if printed := forkserver.server_output(self._program):
                    error.__cause__ = ChildOutput(f"the fork server printed:\n{printed}")
                raise error
            out = Path(self._tmp.name)
            return _outcome(self.bundle, out, answer.code, answer.timed_out, self.sandbox, self.rows)
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Stop the child if it still runs (closing the connection makes the server kill it); clean up."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._tmp.cleanup()


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
        from mlci.modeling.bundle import UntrustedTypes

        types = [t for t in result.get("types") or [] if isinstance(t, str) and re.fullmatch(r"[\w.]{1,300}", t)]
        raise UntrustedTypes(bundle.model_path, types)
    if kind == "artifact":
        raise ModelError(message, hint=hint)
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

    from mlci.stats.evaluation import Predictions

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
    runtime = _line(result.get("runtime"), 200) or None
    return Predictions(labels=labels, proba=proba, classes=classes, runtime=runtime)


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


def contained(out: Path) -> None:
    """Run in the child (the fork server's entry): contain this process, load, predict, write the result to `out`."""
    import pickle

    from mlci.modeling.bundle import UntrustedTypes

    with open(out / _REQUEST, "rb") as f:
        bundle, rows, sandbox = pickle.load(f)  # written by the caller, before any model ran
    _contain(sandbox)
    result: dict[str, Any]
    try:
        _stage(out, "loading")
        model = _load(bundle, sandbox)
        _stage(out, "scoring")
        prediction = model.predict(rows, str(bundle.manifest.task))
        _stage(out, "writing")
        result = {"kind": "ok", "runtime": model.runtime, **_write(prediction, out)}
    except UntrustedTypes as e:
        result = {"kind": "untrusted", "types": e.types}
    except MlciError as e:
        result = {"kind": "artifact", "message": e.message, "hint": e.hint}
    except MemoryError:
        result = {"kind": "memory"}
    except Exception as e:  # the model's own error: the caller reports it, naming the version
        result = {"kind": "raised", "message": _describe(e)}
    (out / "result.json").write_text(json.dumps(result))


def _load(bundle: Bundle, sandbox: Sandbox) -> Predictor:
    """Return the model of a bundle, loaded the way its format says (mlci.modeling.formats)."""
    from mlci.modeling.formats import format_of

    return format_of(bundle.manifest).load(bundle, sandbox)


def _describe(error: BaseException) -> str:
    try:
        return f"{type(error).__name__}: {error}"
    except Exception:  # a __str__ that raises
        return type(error).__name__


def _stage(out: Path, stage: str) -> None:
    (out / "stage").write_text(stage)


def _contain(sandbox: Sandbox) -> None:
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
