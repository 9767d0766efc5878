"""The errors mlci raises, each carrying the exit code the CLI maps it to.

Exit codes (DESIGN.md): 0 success, 1 a check said no, 2 bad input, 3 conflict,
4 an outside service failed after retries.
"""

from __future__ import annotations


class MlciError(Exception):
    """Base of every error mlci raises on purpose; its message is written for the user."""

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")

    def lines(self) -> list[str]:
        """Return the lines the CLI prints for this error."""
        return [str(self)]


# Bad input: the user can fix it (exit 2)


class UsageError(MlciError):
    """The command line asks for something mlci cannot do."""

    exit_code = 2


class ConfigError(MlciError):
    """mlci.yaml is missing, malformed or inconsistent; carries one line per problem."""

    exit_code = 2

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None) -> None:
        self.problems = problems or []
        super().__init__(message, hint=hint)

    def lines(self) -> list[str]:
        return self.problems or [str(self)]


class DataError(MlciError):
    """A data table is missing, unreadable, empty, or lacks a needed column."""

    exit_code = 2


class SuiteError(MlciError):
    """An expectation suite file is malformed."""

    exit_code = 2


class TrainingError(MlciError):
    """The user's estimator or entrypoint failed to build or fit."""

    exit_code = 2


class ArtifactError(MlciError):
    """A model bundle is incomplete, tampered with, or holds untrusted types."""

    exit_code = 2


class ScoringFailed(ArtifactError):
    """A model crashed, hung, passed a limit of its contained process, or raised while it was scored.

    `raised` is the model's own exception as `Type: message` when it raised one.
    """

    def __init__(self, message: str, *, hint: str | None = None, raised: str | None = None) -> None:
        self.raised = raised
        super().__init__(message, hint=hint)


class NotFoundError(MlciError):
    """A version, alias or bundle that was named does not exist."""

    exit_code = 2


# A check said no (exit 1)


class ChecksFailed(MlciError):
    """Expectations, gates or a smoke test said no; `problems` adds one line per finding."""

    exit_code = 1

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None) -> None:
        self.problems = problems or []
        super().__init__(message, hint=hint)

    def lines(self) -> list[str]:
        return [str(self), *self.problems]


# Concurrency (exit 3)


class ConflictError(MlciError):
    """Someone else moved an alias (or wrote an object) between our read and our write."""

    exit_code = 3


# Outside services (exit 4)


class ServiceError(MlciError):
    """S3, GitHub or a webhook failed after retries."""

    exit_code = 4
