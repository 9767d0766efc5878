"""Files as mlci reads them: hashed in chunks, and only when they are regular files."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from mlci.errors import ModelError


def shown_path(value: str, base: Path) -> str:
    """Return a local path as a report shows it: relative to `base` (the project) when inside it, else as given.

    Reports, comparison.json, manifests and `validate` lines travel (PR comments, artifacts,
    registries): a runner-local absolute path (`/home/runner/work/...`) means nothing there.
    URIs (`s3://...`) and paths outside `base` are returned unchanged.
    """
    if not value or "://" in value or not Path(value).is_absolute():
        return value
    trailing = "/" if value.endswith("/") and len(value) > 1 else ""
    try:
        relative = Path(value).resolve().relative_to(base.resolve())
    except (ValueError, OSError):
        return value
    return (relative.as_posix() if str(relative) != "." else ".") + trailing


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    # Large chunks: hashlib releases the GIL while it hashes them, so a hash can run beside
    # the threads of a multipart upload.
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def regular_file(path: Path) -> Path:
    """Return `path` when it is a regular file (not a symlink, FIFO or device); ModelError otherwise.

    A FIFO would hang a reader and a symlink would let a bundle name a file outside itself.
    """
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        raise ModelError(f"{path}: missing from the bundle (the manifest lists it)") from None
    if not stat.S_ISREG(mode):
        kind = "a symlink" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise ModelError(f"{path}: is {kind}; a bundle holds only regular files")
    return path
