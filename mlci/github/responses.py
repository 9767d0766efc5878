"""The fields mlci reads from GitHub's answers, as typed models.

GitHub's REST description (vendored in tests/github_spec.py) says what each answer holds;
mlci reads a few fields of each. Each model names only those, strictly typed (a number is
not a string, a string is not a number, `true` is not 1) and ignores the rest, so an answer
GitHub's description does not allow (a proxy's, a fault's, a change on GitHub's side) is
refused in one line naming the field (`problem`) instead of failing wherever it is used.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from mlci._internal.models import Record


class Answer(Record):
    """Base of the answers: strict types, unknown fields ignored, immutable."""


class Account(Answer):
    """A user, bot or organisation (`simple-user`)."""

    login: str
    type: str | None = None  # "User", "Bot", "Organization"


class Comment(Answer):
    """An issue or pull request comment (`issue-comment`)."""

    id: int
    html_url: str
    body: str | None = None
    user: Account | None = None
    created_at: str | None = None


class Issue(Answer):
    """An issue, or a pull request seen through the issues API (`issue`)."""

    number: int
    html_url: str
    title: str
    body: str | None = None
    user: Account | None = None
    # Present on pull requests only: the issues API lists both.
    pull_request: dict[str, Any] | None = None


class Created(Answer):
    """Something GitHub created and mlci needs only the id of (a status, a deployment status)."""

    id: int


class CheckRun(Answer):
    """A check run (`check-run`): its id, page and state."""

    id: int
    html_url: str | None = None
    status: str
    conclusion: str | None = None


class Deployment(Answer):
    """A deployment (`deployment`); `payload` is an object or a JSON text, as it was sent."""

    id: int
    payload: dict[str, Any] | str = ""


class Accepted(Answer):
    """GitHub's 202 to a deployment request it merged instead of creating a deployment."""

    message: str = ""


class PullOfCommit(Answer):
    """A pull request a commit belongs to (`pull-request-simple`)."""

    number: int
    merged_at: str | None = None


class CommitDetail(Answer):
    """The git part of a commit."""

    message: str


class Commit(Answer):
    """A commit (`commit`)."""

    commit: CommitDetail


class Repository(Answer):
    """A pull request's head repository."""

    full_name: str


class Head(Answer):
    """A pull request's head: its commit and repository (None once a fork is deleted)."""

    sha: str
    repo: Repository | None = None


class PullRequest(Answer):
    """A pull request (`pull-request`)."""

    number: int
    merged: bool | None = None
    merged_at: str | None = None
    head: Head


_JSON_TYPES = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "a boolean",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
}


def problem(error: ValidationError, prefix: tuple[str | int, ...] = ()) -> str:
    """Return the first problem of `error` in words: which field, what it holds, what GitHub documents."""
    errors = error.errors()
    first = errors[0]
    loc = _fields(first["loc"])
    field = ""
    for part in (*prefix, *loc):
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    field = field or "the answer"
    if first["type"] == "missing":
        return f"`{field}` is missing"
    value = first["input"]
    held = "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)
    # Each member of a union that refused the value says what it expected.
    expected = " or ".join(
        dict.fromkeys(_EXPECTED.get(e["type"], e["msg"].lower()) for e in errors if _fields(e["loc"]) == loc)
    )
    return f"`{field}` is {held}, not {expected}"


def _fields(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    # A union adds the member it tried to the location ("payload", "str"): a tag, not a field.
    return tuple(part for part in loc if isinstance(part, int) or part in _FIELD_NAMES)


_FIELD_NAMES = {name for model in Answer.__subclasses__() for name in model.model_fields}
