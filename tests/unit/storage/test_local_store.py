"""The local store: keys stay inside it, relative paths resolve against the config, orphaned temporary files are swept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlci.errors import ConfigError
from mlci.registry import Registry
from mlci.storage import open_store


def test_orphaned_temporary_files_are_swept(tmp_path):
    from mlci.storage.local import LocalStore

    store = LocalStore(tmp_path / "registry")
    store.put("churn/events/a.json", b"{}")
    orphan = tmp_path / "registry" / "churn" / "events" / ".mlci-tmp-0123456789ab-b.json"
    orphan.write_bytes(b"half")
    os.utime(orphan, (0, 0))  # a process that died long ago
    fresh = orphan.with_name(".mlci-tmp-fedcba987654-c.json")
    fresh.write_bytes(b"in flight")  # another process's write in progress: left alone
    LocalStore(tmp_path / "registry").put("churn/events/d.json", b"{}")
    assert not orphan.exists() and fresh.exists()


def test_open_store_resolves_relative_paths_against_the_config_dir(tmp_path: Path) -> None:
    store = open_store("reg", base_dir=tmp_path)
    assert store.uri == str((tmp_path / "reg").resolve())
    assert open_store(f"file://{tmp_path}/abs", base_dir=Path("/")).uri == str((tmp_path / "abs").resolve())
    with pytest.raises(ConfigError, match="'gs' is not supported"):
        open_store("gs://bucket/x", base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"registry\.locking"):
        open_store("reg", base_dir=tmp_path, locking="optimistic")


def test_keys_cannot_escape_the_store(tmp_path: Path) -> None:
    store = open_store("reg", base_dir=tmp_path)
    with pytest.raises(ConfigError):
        store.put("../outside", b"x")
    with pytest.raises(ConfigError):
        Registry(store, "../evil")
