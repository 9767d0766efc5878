"""`mlci card REF` prints text a pull request could have written: never as terminal escapes or workflow commands."""

from __future__ import annotations

import re

import pytest

from mlci.cli import text
from mlci.flows.release import CardResult

HOSTILE = "# Model card\n\nfine print\n::warning title=mlci::approved by security\n\x1b]0;owned\x07done\n"


def test_a_card_loses_its_control_characters_and_outside_actions_prints_as_written(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    (body,) = text.card(CardResult(version="0" * 16, uri="registry/v", text=HOSTILE), quiet=False)
    assert "\x1b" not in body and "\x07" not in body
    assert body == "# Model card\n\nfine print\n::warning title=mlci::approved by security\n]0;owneddone"


def test_in_actions_a_card_is_printed_between_stop_commands_markers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    start, body, end = text.card(CardResult(version="0" * 16, uri="registry/v", text=HOSTILE), quiet=False)
    token = re.fullmatch(r"::stop-commands::([0-9a-f]{32})", start)
    assert token and end == f"::{token.group(1)}::"
    assert token.group(1) not in body and "::warning" in body  # shown, not obeyed
