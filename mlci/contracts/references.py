"""A bundle labelled by what the user named: an alias, a version id or a bundle path."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlci._internal.models import Result


class Reference(Result):
    """A bundle labelled by what the user named: the alias it came from, a version id, or a bundle path."""

    label: str = Field(description="`staging`, `pr-7`, a version id or a bundle path: what the user named.")
    kind: Literal["alias", "version", "bundle"]
    version: str
    uri: str = Field(description="Where it lives: its version in the registry, or its bundle directory.")
    git_sha: str | None = None
