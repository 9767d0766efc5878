"""Validate the data in a worker process while the candidate trains.

Importing Great Expectations (~2 s) and running a suite over a million rows (2-5 s) used to
come before the fit, in series. `BackgroundValidation` starts one worker process (spawn: a
fresh interpreter, never a fork of a process holding OpenMP threads), sends it the tables from
a thread of this process (so pickling them does not delay the fit), and collects each table's
`ValidationResult` as it arrives. While `stopping_fit()` is active, the first failed table (or
a suite the worker cannot run) interrupts the main thread with `ValidationFailed`, so a fit on
data that broke its expectations stops at its next Python step instead of running to the end.
The worker is always joined or terminated when the validation is closed. A process that has
imported GX already validates small tables itself instead (`mlci.flows.check.validate_here`).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlci.errors import MlciError

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from pathlib import Path

    import pandas as pd

    from mlci.contracts.validation import ValidationResult

# How long close() waits for a terminated worker and the reader thread to finish.
_JOIN_SECONDS = 10.0
_STOP_SIGNAL = getattr(signal, "SIGUSR1", None)  # absent on Windows: the fit then runs to its end


class ValidationFailed(BaseException):
    """Raised in the main thread, inside `stopping_fit()`, when a table failed its expectations.

    A BaseException, like KeyboardInterrupt, so that `except Exception` in the training code
    (mlci's or the user's entrypoint) cannot turn the stop into a training error.
    """


def _worker(conn: Connection) -> None:
    """Run the suite on each table received; send back each result, an MlciError, or a crash."""
    try:
        # GX imports jsonschema, which loads its optional format checkers at import. With the
        # signing extra installed (cyclonedx-python-lib[json-validation]) they include
        # rfc3987-syntax, whose import builds an Earley grammar for IRIs: ~1.2 s of a core the
        # fit needs. Its checkers are for the "iri" formats only, which GX never meets (its one
        # use of jsonschema, expect_column_values_to_match_json_schema, checks the user's schema
        # against metaschemas with uri/regex formats and the values without a format checker),
        # and this process only runs GX suites, so the optional import is made to fail here, as
        # if the package were absent. Processes that validate an ML-BOM are not touched.
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
        # Import GX (2-5 s) first: it overlaps the parent pickling and sending the tables.
        import great_expectations  # noqa: F401

        from mlci._internal.serial import to_data
        from mlci.data.validation import validate

        suite, jobs = conn.recv()
        for name, table, frame in jobs:
            conn.send(("result", name, to_data(validate(frame, suite, table=table))))
        conn.send(("done",))
    except MlciError as exc:  # a suite the user must fix: the parent raises the same error
        conn.send(("error", exc))
    except Exception as exc:  # pragma: no cover - a GX bug; the parent reports it as such
        import traceback

        conn.send(("crash", "".join(traceback.format_exception(exc))))
    finally:
        conn.close()


def _worker_process(conn: Connection) -> None:
    """The worker process: `_worker`, then out without the interpreter's teardown.

    Every result has gone through the pipe by then, and the process holds nothing else. A normal
    exit tears down GX's modules and threads, about a quarter of its import time (measured: 7-8 s
    after a 30 s import under load, 0.2 s with os._exit), while `wait()` joins it on the check's
    critical path.
    """
    import os

    _worker(conn)  # what it cannot handle (a BaseException) leaves the normal way, with its exit code
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


class BackgroundValidation:
    """An expectation suite running on some tables in a worker process."""

    def __init__(self, suite: Path, jobs: list[tuple[str, str, pd.DataFrame]]) -> None:
        """Start validating `jobs` (name, table URI, frame) against `suite`."""
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_worker_process, args=(child,), name="mlci-validate", daemon=True)
        self._process.start()
        child.close()
        self.results: dict[str, ValidationResult] = {}
        self._error: BaseException | None = None
        self._failed = threading.Event()
        self._lock = threading.Lock()
        self._armed = False
        self._reader = threading.Thread(target=self._read, args=(str(suite), jobs), daemon=True)
        self._reader.start()

    def _read(self, suite: str, jobs: list[tuple[str, str, pd.DataFrame]]) -> None:
        from mlci._internal.serial import from_data
        from mlci.contracts.validation import ValidationResult

        try:
            self._conn.send((suite, jobs))
            while True:
                kind, *payload = self._conn.recv()
                if kind == "done":
                    return
                if kind == "result":
                    result = from_data(ValidationResult, payload[1])
                    self.results[payload[0]] = result
                    if result.critical_failures:  # a warning-severity failure does not stop the fit
                        self._fail()
                    continue
                error = payload[0]
                self._error = error if kind == "error" else RuntimeError(f"the validation worker failed:\n{error}")
                self._fail()
                return
        except (EOFError, OSError) as exc:
            code = self._process.exitcode
            self._error = RuntimeError(f"the validation worker stopped without a result (exit code {code}): {exc}")
            self._fail()

    def _fail(self) -> None:
        import _thread

        self._failed.set()
        with self._lock:
            if self._armed and _STOP_SIGNAL is not None:
                # Trips our handler at the main thread's next Python step; with no handler of
                # ours installed it does nothing (no real signal is sent to the process).
                _thread.interrupt_main(_STOP_SIGNAL)

    @property
    def failed(self) -> bool:
        """Return whether a table has failed (or the suite could not run) so far."""
        return self._failed.is_set()

    @contextlib.contextmanager
    def stopping_fit(self) -> Iterator[None]:
        """Within this block, a validation failure raises ValidationFailed in this (the main) thread."""
        if _STOP_SIGNAL is None or threading.current_thread() is not threading.main_thread():
            yield  # cannot interrupt: the fit runs to its end and the caller discards it
            return

        def stop(signum: int, frame: Any) -> None:
            with self._lock:
                armed = self._armed
            if armed:
                raise ValidationFailed()

        previous = signal.signal(_STOP_SIGNAL, stop)
        try:
            with self._lock:
                self._armed = True
            if self._failed.is_set():
                raise ValidationFailed()
            yield
        finally:
            with self._lock:
                self._armed = False
            signal.signal(_STOP_SIGNAL, previous)

    def wait(self) -> dict[str, ValidationResult]:
        """Return every table's result once the worker is done; raise the worker's error, if any."""
        self._reader.join()
        self.close()
        if self._error is not None:
            raise self._error
        return self.results

    def close(self) -> None:
        """Stop the worker (if still running) and release the pipe."""
        self._process.join(1.0)  # after "done" it is exiting; otherwise its work is no longer wanted
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(_JOIN_SECONDS)
        self._reader.join(_JOIN_SECONDS)  # the pipe's far end is gone, so its recv/send returns
        self._conn.close()
