"""The registry's audit log: one typed model per action, read and written only through `Event`.

Every event is stored as `{time, action, model, actor, alias, env, version, previous, reason,
extra}` (docs/registry.md); `action` says which model reads it and `extra` holds what only
that action records (a check's verdict, a deploy's result). Events are written by pull
requests' jobs too, so a record is believed only as far as its model: one that does not
parse is skipped with a warning by the reader (`Registry.events`), never an internal error.
Events written by older mlci versions still parse: fields they lack have defaults, keys this
version does not know are ignored, and the `unpublish` action they wrote is still read.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Literal, Self

from pydantic import Field, TypeAdapter, ValidationError

from mlci._internal.models import Record
from mlci.contracts.document import ReportDocument, StageName, VerdictStatus
from mlci.contracts.parsing import field_problem, read_object, shown
from mlci.errors import ModelError

# --- what each action records in `extra` -----------------------------------------------------


class NoDetails(Record):
    """`extra` of an action that records nothing beyond the common fields: `{}`."""


class CheckedDetails(Record):
    """What a check or a scheduled retrain found about the candidate it stored (or could not store)."""

    verdict: VerdictStatus
    headline: str = ""  # older mlci wrote the verdict alone
    failed_stages: list[StageName] = []
    baseline: str | None = None  # the version compared with; None without one (or when the data stopped the check)

    @classmethod
    def of(cls, document: ReportDocument, **details: object) -> Self:
        """Return what `document` decided (verdict, headline, failed stages, baseline) with the action's `details`."""
        found = {
            "verdict": document.verdict,
            "headline": document.headline,
            "failed_stages": [s.name for s in document.failed_stages],
            "baseline": document.baseline.version if document.baseline else None,
        }
        return cls.model_validate({**found, **details})


class CheckDetails(CheckedDetails):
    """`extra` of a `check` event: the verdict, and the pull request and commit it was about."""

    pr: int | None = None
    sha: str | None = None


class RetrainDetails(CheckedDetails):
    """`extra` of a `retrain` event: the verdict, the drift of the fresh data and where it came from."""

    drift: Literal["ok", "warn", "fail", "none"] | None = None
    data: str | None = None


class DeployDetails(Record):
    """`extra` of a `deploy` or `rollback` event: whether the new version stayed or was rolled back."""

    result: Literal["ok", "rolled back"]
    card: str | None = None  # sha256 of the model card that went live with the version (None: it has none)


# --- the events ----------------------------------------------------------------------------------


class _Event(Record):
    # Stamped by Registry.log_event when the event is appended.
    time: str = ""
    model: str = ""
    actor: str | None = None
    alias: str | None = None
    env: str | None = None  # the deployment environment
    version: str | None = None
    previous: str | None = None
    reason: str | None = None


class PushEvent(_Event):
    """A version was stored (first push only: re-pushing an existing version logs nothing)."""

    action: Literal["push"] = "push"
    version: str
    extra: NoDetails = NoDetails()


class AliasEvent(_Event):
    """An alias moved to `version` from `previous`; `version` None: the alias was removed."""

    action: Literal["alias"] = "alias"
    alias: str
    extra: NoDetails = NoDetails()


class PublishEvent(_Event):
    """The pointer of `env` was switched to `version`'s release; `version` None: nothing is served there now."""

    action: Literal["publish"] = "publish"
    env: str
    extra: NoDetails = NoDetails()


class UnpublishEvent(_Event):
    """Written by mlci before 62d06da when a deployment was removed; now a `publish` with version None."""

    action: Literal["unpublish"] = "unpublish"
    env: str
    extra: NoDetails = NoDetails()


class CheckEvent(_Event):
    """A check's verdict on the candidate it stored under `alias` (no `version`: the data stopped it)."""

    action: Literal["check"] = "check"
    alias: str
    extra: CheckDetails


class RetrainEvent(_Event):
    """A scheduled retrain's verdict on the candidate it stored under `alias` (no `version`: the data stopped it)."""

    action: Literal["retrain"] = "retrain"
    alias: str
    extra: RetrainDetails


class DeployEvent(_Event):
    """A deploy of `version` to `env` finished: it is live (`ok`) or `previous` is back (`rolled back`)."""

    action: Literal["deploy"] = "deploy"
    env: str
    version: str
    extra: DeployDetails


class RollbackEvent(_Event):
    """A rollback of `env` to `version` finished, as a deploy does."""

    action: Literal["rollback"] = "rollback"
    env: str
    version: str
    extra: DeployDetails


AnyEvent = (
    PushEvent | AliasEvent | PublishEvent | UnpublishEvent | CheckEvent | RetrainEvent | DeployEvent | RollbackEvent
)
Event = Annotated[AnyEvent, Field(discriminator="action")]


@cache
def _adapter() -> TypeAdapter[AnyEvent]:
    return TypeAdapter(Event)


def parse_event(raw: bytes | str, where: str) -> AnyEvent:
    """Return the event in `raw` (the bytes of `where`); ModelError naming what does not fit."""
    data = read_object(raw, where)
    try:
        return _adapter().validate_python(data)
    except ValidationError as e:
        if e.errors()[0]["type"] in ("union_tag_invalid", "union_tag_not_found"):
            raise ModelError(f"{where}: not an event mlci writes (action {shown(data.get('action'))})") from None
        raise ModelError(f"{where}: {field_problem(e, path=lambda loc: loc[1:])}") from None


def dump_event(event: AnyEvent) -> str:
    """Return the event's JSON as the registry stores it: every field, keys sorted, indented."""
    return json.dumps(event.model_dump(mode="json"), indent=2, sort_keys=True)
