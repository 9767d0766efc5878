"""The model bundle: model.skops + manifest.json (+ profile.json, smoke.parquet), hashed and safely loaded.

A bundle is a directory. Its manifest lists the sha256 of every other file; the version
id is the first 16 hex digits of the model file's sha256. Loading checks the hashes
before deserialising and lets skops build only trusted types, never bare pickle.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci.errors import ArtifactError

MODEL_FILE = "model.skops"
MANIFEST = "manifest.json"
PROFILE = "profile.json"
SMOKE = "smoke.parquet"
FORMAT = 1

# Types skops may build without the user listing them: scikit-learn's own classes and the
# numpy/scipy containers they hold. Anything else (a user's own class, xgboost, functions)
# must be named in model.trusted_types, because loading a model file runs its constructors.
DEFAULT_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.sparse.")


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    # Large chunks: hashlib releases the GIL while it hashes them, so a hash can run beside
    # the threads of a multipart upload.
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def version_id(model_sha256: str) -> str:
    """Return the version id of a model file with this sha256."""
    return model_sha256[:16]


@dataclass
class Bundle:
    """A bundle directory and its manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def write_manifest(self) -> None:
        """Write the manifest back (after adding metrics or a verdict; the model is unchanged)."""
        (self.path / MANIFEST).write_text(json.dumps(self.manifest, indent=2, sort_keys=True, default=str) + "\n")

    def profile(self) -> dict[str, Any] | None:
        """Return the reference profile of the training data, when the bundle has one."""
        path = self.path / PROFILE
        return json.loads(path.read_text()) if path.exists() else None


_IDS = re.compile(r'("__id__": )(\d+)|("file": ")(\d+)(\.npy")')


def canonical_skops(data: bytes) -> bytes:
    """Return the skops file `data` rewritten so the same model always gives the same bytes.

    skops names its memo ids and array files after CPython `id()`s and stamps zip entries
    with the wall clock, so two identical fits give different bytes and different version
    ids. No skops option turns that off; we renumber the ids by first appearance (keeping
    shared references shared) and zero the timestamps. The result loads with skops as is.
    """
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(data))
    schema = source.read("schema.json").decode()
    mapping: dict[str, str] = {}

    def renumber(m: re.Match[str]) -> str:
        old = m.group(2) or m.group(4)
        new = mapping.setdefault(old, str(len(mapping) + 1))
        return f"{m.group(1)}{new}" if m.group(1) else f"{m.group(3)}{new}{m.group(5)}"

    schema = _IDS.sub(renumber, schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        entries = [("schema.json", schema.encode())]
        for info in source.infolist():
            if info.filename == "schema.json":
                continue
            stem, _, ext = info.filename.partition(".")
            name = f"{mapping.get(stem, stem)}.{ext}" if ext else mapping.get(stem, stem)
            entries.append((name, source.read(info.filename)))
        for name, content in sorted(entries):
            target.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content)
    return out.getvalue()


def write_bundle(
    dest: Path, model: Any, manifest: dict[str, Any], extra_files: dict[str, bytes] | None = None
) -> Bundle:
    """Return the bundle written to `dest`: model.skops, extra files, then the manifest with their hashes."""
    import skops.io as sio

    dest.mkdir(parents=True, exist_ok=True)
    data = canonical_skops(sio.dumps(model))
    (dest / MODEL_FILE).write_bytes(data)
    files = {MODEL_FILE: hashlib.sha256(data).hexdigest()}
    for name, content in (extra_files or {}).items():
        (dest / name).write_bytes(content)
        files[name] = hashlib.sha256(content).hexdigest()
    manifest = dict(manifest)
    manifest.update(format=FORMAT, sha256=files[MODEL_FILE], version=version_id(files[MODEL_FILE]), files=files)
    bundle = Bundle(dest, manifest)
    bundle.write_manifest()
    return bundle


def open_bundle(path: Path) -> Bundle:
    """Return the bundle at `path` after checking every file against the manifest's sha256."""
    manifest_path = path / MANIFEST
    if not path.is_dir():
        raise ArtifactError(f"{path}: not a bundle directory")
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no {MANIFEST}; not an mlci bundle") from None
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{manifest_path}: not valid JSON ({e.msg})") from None
    files = manifest.get("files") or {MODEL_FILE: manifest.get("sha256")}
    for name, expected in files.items():
        target = path / name
        if not target.exists():
            raise ArtifactError(f"{target}: missing from the bundle (the manifest lists it)")
        actual = sha256_file(target)
        if actual != expected:
            raise ArtifactError(
                f"{target}: sha256 {actual[:16]}… does not match the manifest's {str(expected)[:16]}…; "
                "the bundle was altered or corrupted, refusing to load it"
            )
    if manifest.get("sha256") != files.get(MODEL_FILE):
        raise ArtifactError(f"{manifest_path}: sha256 and files[{MODEL_FILE}] disagree; refusing to load")
    return Bundle(path, manifest)


def load_model(bundle: Bundle, trusted_types: list[str] | tuple[str, ...] = ()) -> Any:
    """Return the estimator in a verified bundle, refusing any type that is not trusted."""
    import skops.io as sio

    data = bundle.model_path.read_bytes()
    # Re-check here: the file could have changed since open_bundle looked at it.
    if hashlib.sha256(data).hexdigest() != bundle.manifest["sha256"]:
        raise ArtifactError(f"{bundle.model_path}: changed since it was verified; refusing to load it")
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as e:
        raise ArtifactError(f"{bundle.model_path}: not a readable skops file ({e})") from None
    allowed = set(trusted_types)
    refused = [t for t in untrusted if t not in allowed and not t.startswith(DEFAULT_TRUSTED_PREFIXES)]
    if refused:
        raise ArtifactError(
            f"{bundle.model_path}: holds type(s) that are not trusted: {', '.join(refused)}",
            hint="if you trust this code, list it under model.trusted_types in mlci.yaml",
        )
    try:
        return sio.loads(data, trusted=untrusted)
    except Exception as e:
        raise ArtifactError(f"{bundle.model_path}: cannot load ({type(e).__name__}: {e})") from None
