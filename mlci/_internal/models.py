"""The three kinds of typed model mlci has, each with its one pydantic configuration.

- `Result`: what mlci computed and hands to a caller (frozen, no unknown fields).
- `Section`: a part of mlci.yaml (no unknown fields: a misspelt key is an error; aliases accepted).
- `Record`: what someone else wrote and mlci reads (a registry record, GitHub's answer): strict
  types, unknown fields ignored so a newer writer's additions do not break an older reader.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Result(BaseModel):
    """A typed result mlci computed: frozen, every field declared."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Section(BaseModel):
    """A section of mlci.yaml: every key declared, field names or aliases accepted."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Record(BaseModel):
    """A record another writer made: strict types, unknown fields ignored, frozen once read."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)
