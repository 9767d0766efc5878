"""The errors mlci raises, named by what failed.

Every class says what went wrong, in one sentence; none is chosen for its exit code. The CLI
alone maps classes to exit codes (`mlci.cli.output.exit_code`, docs/troubleshooting.md): 1 a check said no,
2 bad input (the command line, mlci.yaml, a table, a model file), 3 someone else moved first,
4 an outside service failed after retries. Library errors (botocore, requests, SQLAlchemy,
skops, onnxruntime) are translated where they are called, with secrets scrubbed.
"""

from __future__ import annotations


class MlciError(Exception):
    """Base of every error mlci raises on purpose; its message is written for the user."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        self.notes: list[str] = []  # what the command did before it failed, shown before the error
        super().__init__(message if hint is None else f"{message} ({hint})")

    def lines(self) -> list[str]:
        """Return the lines the CLI prints for this error."""
        return [str(self)]


class _WithProblems(MlciError):
    """An error that adds one line per problem it found."""

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None) -> None:
        self.problems = problems or []
        super().__init__(message, hint=hint)


# --- What the user gave: the command line, mlci.yaml, tables, suites, their training code --------


class UsageError(MlciError):
    """The command line asks for something mlci cannot do."""


class ConfigError(_WithProblems):
    """mlci.yaml is missing, malformed or inconsistent; carries one line per problem."""

    def lines(self) -> list[str]:
        return self.problems or [str(self)]


class DataError(MlciError):
    """A data table is missing, unreadable, empty, or lacks a needed column."""


class SuiteError(MlciError):
    """An expectation suite file is malformed."""


class TrainingError(MlciError):
    """The user's estimator, entrypoint or training command failed to build or fit."""


class ResultsError(_WithProblems):
    """The per-example results a command wrote do not fit the evaluation rows; one line per problem."""

    def lines(self) -> list[str]:
        return self.problems or [str(self)]


# --- Models and versions --------------------------------------------------------------------------


class ModelError(MlciError):
    """A model bundle is incomplete, altered, holds untrusted types, or cannot be loaded or scored."""


class UntrustedTypes(ModelError):
    """A model file holds types the loading job does not trust; `types` names every one."""

    def __init__(self, where: object, types: list[str]) -> None:
        self.types = types
        super().__init__(
            f"{where}: holds {len(types)} type(s) that are not trusted: {', '.join(types)}",
            hint="loading a model runs these; if you trust this code, list each exact name under "
            "model.trusted_types in mlci.yaml",
        )


class ScoringFailed(ModelError):
    """A model crashed, hung, passed a limit of its contained process, or raised while it was scored.

    `raised` is the model's own exception as `Type: message` when it raised one.
    """

    def __init__(self, message: str, *, hint: str | None = None, raised: str | None = None) -> None:
        self.raised = raised
        super().__init__(message, hint=hint)


class NotFoundError(MlciError):
    """A version, alias or bundle that was named does not exist."""


# --- A check said no ------------------------------------------------------------------------------


class CheckFailed(_WithProblems):
    """A check said no: expectations, gates, a smoke test, a signature or the release policy."""

    def lines(self) -> list[str]:
        return [str(self), *self.problems]


class ExpectationsFailed(CheckFailed):
    """The data broke a critical expectation, so nothing was evaluated, stored or promoted."""


class GatesFailed(CheckFailed):
    """The candidate failed a gate against its baseline."""


class SmokeTestFailed(CheckFailed):
    """A published model did not load or did not predict what it predicted at training time."""


class SignatureRefused(CheckFailed):
    """A version is unsigned, or signed outside the signing policy."""


class PolicyRefused(CheckFailed):
    """The release policy refuses to move this version to that environment (its check failed)."""


# --- Someone else moved first ---------------------------------------------------------------------


class ConflictError(MlciError):
    """Someone else moved an alias (or wrote an object) between our read and our write."""


# --- Outside services ----------------------------------------------------------------------------


class ServiceError(MlciError):
    """S3, GitHub, a database or a webhook failed after retries."""


class GitHubError(ServiceError):
    """A GitHub API call failed; `status` is the HTTP status when there was a response."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        self.status = status
        super().__init__(message, hint=hint)


class ReadOnlyToken(GitHubError):
    """The token lacks the permission a call needs (a fork PR's GITHUB_TOKEN, or missing `permissions:`).

    `permission` names it as a workflow's `permissions:` key would (`statuses: write`).
    """

    def __init__(self, message: str, *, permission: str, status: int | None = 403, hint: str | None = None) -> None:
        self.permission = permission
        super().__init__(message, status=status, hint=hint)


# --- A command that could not finish -------------------------------------------------------------


class Interrupted(MlciError):
    """A signal (SIGINT, SIGTERM) stopped the command; what it changed was put back."""

    def __init__(self, message: str, signum: int) -> None:
        self.signum = signum
        super().__init__(message)


class DeployFailed(MlciError):
    """A deploy or rollback failed and was undone; `cause` is what failed (it decides the exit code)."""

    def __init__(self, message: str, cause: BaseException, *, hint: str | None = None) -> None:
        self.cause = cause
        super().__init__(message, hint=hint)


# Names of earlier releases, kept for code that imported them.
ArtifactError = ModelError
ChecksFailed = CheckFailed
