"""The model registry: immutable versions, aliases moved by compare-and-swap, an audit log.

`open_store` picks the Store (a directory or `s3://bucket/prefix`); `Registry` is written
once above it.
"""

from mlci.registry.registry import READ, AliasRecord, PushResult, Registry
from mlci.registry.store import ObjectInfo, Store, open_store

__all__ = ["READ", "AliasRecord", "ObjectInfo", "PushResult", "Registry", "Store", "open_store"]
