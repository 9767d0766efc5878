"""Where the repository, the example project and the suite's own data live."""

from __future__ import annotations

from pathlib import Path

SUPPORT = Path(__file__).resolve().parent
ROOT = SUPPORT.parent.parent
EXAMPLE = ROOT / "examples" / "churn"
# Records that earlier mlci versions wrote (its README says which runs).
RECORDS = SUPPORT / "data" / "records"
# GitHub's webhook payloads as the e2e runs send them (the PR event also feeds in-process checks).
EVENTS = ROOT / "tests" / "e2e" / "events"
