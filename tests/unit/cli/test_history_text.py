"""`mlci history` in text says why each alias moved, as --json does."""

from __future__ import annotations

from mlci.cli import text
from mlci.contracts.events import AliasEvent, CheckDetails, CheckEvent
from mlci.flows.release import History


def test_the_text_history_shows_the_reason_of_a_move():
    events = [
        AliasEvent(time="2026-01-02T00:00:00Z", alias="production", version="a" * 16, actor="ana", reason="canary ok"),
        CheckEvent(time="2026-01-01T00:00:00Z", alias="pr-1", actor="bot", extra=CheckDetails(verdict="pass")),
    ]
    history = History(model="churn", registry=".mlci/registry/churn", versions=[], aliases=[], events=events)
    lines = text.history(history, quiet=False)
    (moved,) = [line for line in lines if "production" in line and "canary" in line]
    assert moved.endswith("ana  reason: canary ok")
    (checked,) = [line for line in lines if "pr-1" in line]
    assert "reason" not in checked
