"""The model registry: immutable versions, aliases moved by compare-and-swap, an audit log.

`Registry` is written once above a `mlci.storage.Store` (a directory or `s3://bucket/prefix`).
"""

from __future__ import annotations

from mlci.registry.registry import READ, AliasRecord, PushResult, Registry

__all__ = ["READ", "AliasRecord", "PushResult", "Registry"]
