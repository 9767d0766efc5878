"""A local cache of results that are pure functions of their inputs (validation, comparison).

The train cache lives in the registry (a stored candidate with the same cache key), so it
works across CI runners; this one only spares a local re-run the GX validation and the
scoring, whose results cannot change while the data, suite, models and settings are the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from mlci import __version__
from mlci._internal.nesting import load_json
from mlci._internal.redaction import redact

T = TypeVar("T")


def key_of(kind: str, **inputs: Any) -> str:
    """Return the cache key of a result of `kind` computed from `inputs` (and this mlci version)."""
    payload = json.dumps({"kind": kind, "mlci": __version__, **inputs}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class ResultCache:
    """JSON results under a directory, one file per key, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, key: str) -> Any | None:
        """Return the cached value for `key`, or None."""
        try:
            return load_json((self.root / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None

    def get_as(self, key: str, cls: type[T]) -> T | None:
        """Return the cached result under `key` as a `cls`; None (a miss) when absent or written in another shape."""
        from pydantic import ValidationError

        from mlci._internal.serial import from_data

        data = self.get(key)
        if data is None:
            return None
        try:
            return from_data(cls, data)
        except ValidationError:  # an older mlci wrote it in another shape
            return None

    def put(self, key: str, value: Any) -> None:
        """Store `value` (plain JSON data, or a typed result) under `key`; a failure to cache is never an error."""
        from mlci._internal.serial import to_data

        if not isinstance(value, (dict, list, str, int, float, bool, type(None))):
            value = to_data(value)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(redact(json.dumps(value)))  # a cached result is an artifact like any other
            os.replace(tmp, self.root / f"{key}.json")
        except OSError:
            pass
