"""Object storage under the registry and the data tables: one Store protocol, a local directory and S3.

`open_store` lives here, not in store.py, because the stores import the protocol module: the
factory beside the protocol would make store.py and its implementations import each other.
"""

from __future__ import annotations

from pathlib import Path

from mlci.errors import ConfigError
from mlci.storage.store import ADDRESSING_STYLES, LOCKING_MODES, ObjectInfo, Store

__all__ = ["ObjectInfo", "Store", "open_store"]


def open_store(
    uri: str,
    *,
    base_dir: Path,
    endpoint_url: str | None = None,
    region: str | None = None,
    addressing_style: str = "auto",
    locking: str = "conditional",
) -> Store:
    """Return the store for `uri`: `s3://bucket/prefix`, `file:///abs/dir` or a directory path.

    A relative directory is resolved against `base_dir` (the directory of mlci.yaml), so
    the registry does not move when mlci runs from another working directory.
    """
    if locking not in LOCKING_MODES:
        raise ConfigError(f"registry.locking must be one of {', '.join(LOCKING_MODES)}, not {locking!r}")
    if addressing_style not in ADDRESSING_STYLES:
        raise ConfigError(
            f"registry.addressing_style must be one of {', '.join(ADDRESSING_STYLES)}, not {addressing_style!r}"
        )
    from mlci._internal.redaction import has_credentials, redact

    if has_credentials(uri):
        raise ConfigError(
            f"registry.uri {redact(uri)} carries credentials; mlci does not use them",
            hint="give S3 credentials through AWS_* variables or a role, not in the URI",
        )
    if uri.startswith("s3://"):
        from mlci.storage.s3 import S3Store

        return S3Store(
            uri,
            endpoint_url=endpoint_url,
            region=region,
            addressing_style=addressing_style,
            locking=locking,
        )
    if "://" in uri and not uri.startswith("file://"):
        scheme = uri.split("://", 1)[0]
        raise ConfigError(
            f"registry.uri {redact(uri)!r}: scheme {scheme!r} is not supported; use a directory or s3://bucket/prefix"
        )
    from mlci.storage.local import LocalStore

    path = Path(uri.removeprefix("file://")).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            where = "is a file" if part == path else f"is inside {part}, which is a file"
            raise ConfigError(
                f"registry.uri {uri!r}: {path} {where}, not a directory",
                hint="point registry.uri at a directory (mlci creates it) or at s3://bucket/prefix",
            )
    return LocalStore(path)
