"""The Store protocol: the few object operations the Registry needs.

Two real implementations sit behind it: `LocalStore` (a directory, the embedded default)
and `S3Store` (any S3-compatible service). Keys are '/'-separated relative paths; the
store maps them under its root (a directory or `s3://bucket/prefix`).

ETags are opaque strings: callers only ever hand back one they got from `get`, `head`
or a write, to `put_if_match`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlci.errors import ConfigError, ModelError

LOCKING_MODES = ("conditional", "none")
ADDRESSING_STYLES = ("auto", "path", "virtual")


@dataclass(frozen=True)
class ObjectInfo:
    """What `head` knows about one object."""

    key: str
    etag: str
    size: int


class Store(Protocol):
    """A flat key -> bytes store with atomic writes and compare-and-swap."""

    uri: str

    def get(self, key: str, *, limit: int | None = None) -> tuple[bytes, str]:
        """Return (data, etag); NotFoundError when the key is absent.

        With `limit`, an object larger than `limit` bytes is refused (ModelError, naming its
        size) before its bytes are read: what a bucket writer can plant cannot make mlci read more.
        """
        ...

    def get_file(self, key: str, path: Path) -> str:
        """Download the object to `path` (large objects in parallel ranges); return its etag."""
        ...

    def head(self, key: str) -> ObjectInfo | None:
        """Return the object's etag and size, or None when it is absent."""
        ...

    def put(self, key: str, data: bytes) -> str:
        """Write unconditionally; return the new etag."""
        ...

    def put_file(self, key: str, path: Path) -> str:
        """Write a (large) file unconditionally; return the new etag."""
        ...

    def put_if_absent(self, key: str, data: bytes | Path, *, sha256: str | None = None) -> bool:
        """Write only if the key does not exist; False (and no bytes sent) if it does.

        With `sha256`, the object becomes visible only if its content has that digest
        (ModelError otherwise), checked while writing rather than in a pass before it.
        """
        ...

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        """Compare-and-swap: write only if the current etag is `etag` (None: must not exist).

        Returns the new etag; raises ConflictError when someone else wrote first.
        """
        ...

    def copy(self, src: str, dst: str) -> str:
        """Copy one object to another key inside the store (server-side on S3); return its etag."""
        ...

    def delete(self, key: str) -> None:
        """Remove the key; absent keys are not an error."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Return every key that starts with `prefix`, sorted."""
        ...

    def url(self, key: str) -> str:
        """Return where a user or a serving system finds `key` (a path or an s3:// URI)."""
        ...


TEMP_PREFIX = ".mlci-tmp-"
# A temporary file this old belongs to a process that died (a kill, a lost runner): no write
# of mlci takes an hour between creating its temporary file and renaming it.
ORPHAN_AGE = 3600.0


def sweep_temp(directory: Path, *, older_than: float = ORPHAN_AGE) -> int:
    """Remove orphaned `.mlci-tmp-*` files and directories in `directory`; return how many went."""
    import shutil
    import time

    removed = 0
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if info.st_mtime > cutoff:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            removed += 1
        except OSError:
            continue
    return removed


def too_large(where: str, size: int, limit: int) -> ModelError:
    """The error for an object over a read limit."""
    return ModelError(f"{where} is {size} bytes, over the {limit}-byte limit for it; not read")


def check_key(key: str) -> str:
    """Return `key` when it is a safe relative '/'-path; ConfigError otherwise."""
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in key.split("/")):
        raise ConfigError(f"invalid registry key {key!r}: keys are relative paths without '..'")
    return key
