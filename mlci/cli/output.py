"""What the command line prints, and how it ends: one `emit` for every result, one exit code per error class.

Every command hands its result to `emit`, which honours `--json` (the result as JSON on stdout),
`-q` (the result line only) and plain text (the command's renderer), as sqlite-utils'
`output_options` serve every command the same way. Errors are mapped to exit codes here and
nowhere else (docs/troubleshooting.md): 1 a check said no, 2 bad input, 3 conflict, 4 an outside service.
Every line printed passes through `scrub`: no token, and no credential in a URI, is printed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from mlci._internal.text import first_line
from mlci.errors import CheckFailed, ConflictError, DeployFailed, Interrupted, MlciError, ServiceError

if TYPE_CHECKING:
    from mlci.project import Project

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

# The exit code of each kind of failure (docs/troubleshooting.md); the nearest class in an error's MRO decides.
EXIT_CODES: dict[type[MlciError], int] = {CheckFailed: 1, ConflictError: 3, ServiceError: 4, MlciError: 2}


@dataclass
class Options:
    """Global options every command sees."""

    config: str
    json: bool
    verbose: int
    quiet: bool

    def project(self) -> Project:
        """Return the Project of -c/--config, with this run's one GitHub context and the process environment."""
        from mlci._internal.redaction import remember
        from mlci.github.context import GitHubContext
        from mlci.project import Project

        project = Project.load(self.config, context=GitHubContext.from_env(os.environ), variables=dict(os.environ))
        # Its URLs' passwords, and the webhook's signing secret, are masked in all this command prints or writes.
        remember(*project.config.secrets, os.environ.get(project.config.deploy.webhook_secret_env))
        return project


def exit_code(error: BaseException) -> int:
    """Return the exit code of a failure: by its class; a failed deploy by what made it fail."""
    if isinstance(error, DeployFailed):
        return exit_code(error.cause)
    if isinstance(error, Interrupted):
        return 128 + error.signum
    if isinstance(error, KeyboardInterrupt):
        return 128 + signal.SIGINT
    if isinstance(error, MlciError):
        return next(EXIT_CODES[cls] for cls in type(error).__mro__ if cls in EXIT_CODES)
    return 2


def secrets() -> list[str]:
    """Return the tokens of this process's environment that must never be printed."""
    from mlci.github.context import SECRET_VARIABLES

    return [v for k in SECRET_VARIABLES if len(v := os.environ.get(k, "")) >= 4]


def scrub(text: str) -> str:
    """Return `text` with every token and password mlci knows of, and credentials in URIs, replaced by ***."""
    from mlci._internal.redaction import redact

    return redact(text, secrets=secrets())


def echo(text: str = "", *, err: bool = False) -> None:
    """Print `text` with secrets scrubbed."""
    click.echo(scrub(text), err=err)


def in_actions() -> bool:
    """Return whether mlci runs inside a GitHub Actions step."""
    from mlci.github.context import running_in_actions

    return running_in_actions(os.environ)


def to_json(value: Any) -> Any:
    """Return a result as plain JSON data: pydantic models, typed results and containers of them alike."""
    from mlci._internal.serial import to_data

    return to_data(value)


def emit(
    opts: Options,
    value: T,
    text: Callable[[T, bool], Iterable[str]],
    *,
    data: Any = None,
    notes: Iterable[str] = (),
) -> None:
    """Show a command's result: `data` (default: the result) as JSON with --json, else `text(result, quiet)`.

    `notes` are lines the text includes; with --json they go to stderr (unless -q), keeping stdout pure JSON.
    """
    if opts.json:
        for note in [] if opts.quiet else notes:
            echo(note, err=True)
        echo(json.dumps(to_json(value if data is None else data), indent=2, default=str))
        return
    for line in text(value, opts.quiet):
        echo(line)


def fail(error: MlciError, verbose: int, json: bool = False) -> NoReturn:
    """Print what the command did before it failed, then `error` (traceback only with -v); exit with its code."""
    for note in error.notes:
        echo(note, err=json)
    if verbose:
        echo("".join(traceback.format_exception(error)), err=True)
    for line in error.lines():
        echo(line, err=True)
    if error.hint and error.lines() != [str(error)]:
        echo(f"  hint: {error.hint}", err=True)
    sys.exit(exit_code(error))


def run_command(fn: F) -> F:
    """Decorate a command so MlciError becomes one clear line and its exit code."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mlci.github.workflow import add_mask

        opts: Options = click.get_current_context().find_object(Options) or Options("mlci.yaml", False, 0, False)
        if not opts.verbose:
            import warnings

            # numpy's and scikit-learn's warnings speak to developers, in their words; mlci says
            # in its own what matters (an undefined metric, a column left out). -v shows them.
            warnings.simplefilter("ignore")
        if in_actions():
            # Before anything else is printed: the runner hides every later occurrence of the token.
            for secret in secrets():
                # With --json, stdout is the machine-readable document: keep it pure, and let the
                # runner (which reads commands on both streams) find the mask on stderr.
                click.echo(add_mask(secret), err=opts.json)
        from mlci._internal.redaction import remember, remembering

        # What the command remembers (tokens here, passwords as it loads mlci.yaml or a table
        # argument) is masked in all it prints and writes, and forgotten when it ends.
        with remembering(), _library_logs(opts.verbose):
            remember(*secrets())
            return _run(fn, opts, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class _ScrubbedLog(logging.Handler):
    """Writes a library's log records (GX logs each failed query with its traceback) to stderr, scrubbed."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            echo(self.format(record), err=True)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _library_logs(verbose: int) -> Iterator[None]:
    """Show libraries' warnings and errors, scrubbed, with -v; otherwise not at all (a user error is one line).

    Without a handler of its own, Python's logging would print them, unscrubbed, to stderr.
    """
    handler = _ScrubbedLog(logging.WARNING) if verbose else logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    # The user's training command (model.command) streams its stdout and stderr here: to stderr,
    # scrubbed, whatever -v says, so the job's log shows the training as it runs.
    command, shown = logging.getLogger("mlci.command"), _ScrubbedLog(logging.INFO)
    command.setLevel(logging.INFO)
    command.propagate = False
    command.addHandler(shown)
    try:
        yield
    finally:
        root.removeHandler(handler)
        command.removeHandler(shown)


def _run(fn: Callable[..., Any], opts: Options, *args: Any, **kwargs: Any) -> Any:
    """Return what the command `fn` returns; its errors become one line and their exit code."""
    try:
        return fn(*args, **kwargs)
    except MlciError as e:
        fail(e, opts.verbose, opts.json)
    except BrokenPipeError:  # `mlci history | head`: the reader left, nothing to report
        sys.exit(0)
    except KeyboardInterrupt:
        echo("mlci: interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # a bug in mlci or a library: still no traceback without -v
        first = first_line(e)
        if opts.verbose:
            # Scrubbed like every other line: a driver's message in it may hold a password.
            echo("".join(traceback.format_exception(e)), err=True)
            echo(f"mlci: internal error: {type(e).__name__}: {first}", err=True)
        else:
            echo(f"mlci: internal error: {type(e).__name__}: {first} (re-run with -v for the traceback)", err=True)
        sys.exit(2)


def warn(message: str) -> None:
    """Print a warning: an Actions annotation in a workflow, else a `warning:` line."""
    from mlci.github.workflow import annotation

    echo(annotation("warning", message, title="mlci") if in_actions() else f"warning: {message}")
