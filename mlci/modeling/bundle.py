"""The model bundle: model.skops + manifest.json (+ profile.json, smoke.parquet), hashed and safely loaded.

A bundle is a directory. Its manifest lists the sha256 of every other file; the version
id is the first 16 hex digits of the model file's sha256. Loading checks the hashes
before deserialising and lets skops build only trusted types, never bare pickle.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci._internal.files import regular_file, sha256_file
from mlci.contracts.drift import Profile
from mlci.contracts.manifest import Manifest
from mlci.errors import ModelError, UntrustedTypes
from mlci.modeling.trees import check_trees

MODEL_FILE = "model.skops"
# The model file of each format (mlci.modeling.formats); a manifest's `model_format` picks one.
# The file whose sha256 is a version's id, per model_format (format results: the artifacts' index).
MODEL_FILES = {"skops": MODEL_FILE, "onnx": "model.onnx", "results": "artifacts.json"}
MANIFEST = "manifest.json"
PROFILE = "profile.json"
SMOKE = "smoke.parquet"
CARD = "card.md"  # the version's model card (mlci.report.card), listed in the manifest so signatures cover it
FORMAT = 1

# Loading a model file runs code: every type skops builds is a constructor or a function it
# calls. skops' own default trusted set (what `get_untrusted_types` does not report) is the
# only implicit trust; anything else must be named exactly in the loading job's
# model.trusted_types. Never by prefix: `numpy.` alone includes numpy.testing's exec().
DEFAULT_MAX_MODEL_MB = 2048
# Three exact classes (no functions) that scikit-learn models hold but skops 0.16's default set
# does not list: tree models' Tree and TreePredictor and numpy.dtype, which every estimator
# fitted on a DataFrame stores. Constructing them runs no user code, but a tree's node arrays are
# indices scikit-learn's compiled loops follow unchecked: skops PR #535 dropped tree nodes from its
# trusted set for that reason (after PR #513 had added TreePredictor). mlci keeps them, because its
# default estimators are tree models, and checks every tree before use (mlci.modeling.trees; why:
# docs/security.md). Anything else needs the user's exact name.
MLCI_TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # mlci's own preprocessing for datetime, free-text and boolean features (mlci.transformers).
    "mlci.transformers.DatetimeParts",
    "mlci.transformers.TextHasher",
    "mlci.transformers.BooleanToFloat",
    # XGBoost's classifier behind its labels' encoding (string class labels): a list and the estimator.
    "mlci.transformers.EncodedLabels",
)


def model_file(manifest: Manifest) -> str:
    """Return the name of the model file of a bundle with this manifest (model.skops, model.onnx)."""
    name = manifest.model_format or "skops"
    if name not in MODEL_FILES:
        raise ModelError(f"manifest.json: model_format {name!r} is not one this mlci knows ({', '.join(MODEL_FILES)})")
    return MODEL_FILES[name]


def version_id(model_sha256: str) -> str:
    """Return the version id of a model file with this sha256."""
    return model_sha256[:16]


@dataclass
class Bundle:
    """A bundle directory and its manifest."""

    path: Path
    manifest: Manifest

    @property
    def version(self) -> str:
        return str(self.manifest.version)

    @property
    def model_path(self) -> Path:
        return self.path / model_file(self.manifest)

    def write_manifest(self) -> None:
        """Write the manifest back (after adding metrics or a verdict; the model is unchanged)."""
        from mlci._internal.redaction import redact

        (self.path / MANIFEST).write_text(redact(self.manifest.dump()))

    def attach(self, name: str, content: bytes) -> None:
        """Write `content` as the bundle file `name` and list its sha256 in the manifest (call write_manifest after)."""
        (self.path / name).write_bytes(content)
        files = dict(self.manifest.files or {})
        files[name] = hashlib.sha256(content).hexdigest()
        self.manifest.files = files

    def profile(self) -> Profile | None:
        """Return the reference profile of the training data, when the bundle has one; ModelError if malformed."""
        path = self.path / PROFILE
        return Profile.parse(regular_file(path).read_bytes(), str(path)) if path.exists() else None


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


def write_bundle(dest: Path, model: Any, manifest: Manifest, extra_files: dict[str, bytes] | None = None) -> Bundle:
    """Return the bundle of an estimator written to `dest`: model.skops, extra files, the manifest."""
    return write_model(dest, canonical_skops(dump_skops(model)), "skops", manifest, extra_files)


# What skops raises for objects it cannot store: its own TypeError for unsupported types, and
# whatever the object's own __reduce__/__getstate__ raises — a torch tensor's is RuntimeError
# ("Cannot directly construct TensorBase" from torch/_tensor.py), a lambda's PicklingError.
_CANNOT_STORE = (TypeError, ValueError, AttributeError, RuntimeError, NotImplementedError, RecursionError)


def dump_skops(model: Any) -> bytes:
    """Return `model` as skops bytes; ModelError (one line, pointing to `format: onnx`) if skops cannot store it."""
    import pickle

    import skops.io as sio

    def refuse(why: str) -> ModelError:
        return ModelError(
            f"model.format: skops cannot store this {type(model).__name__} ({why}); "
            "it holds objects only pickle could keep (PyTorch tensors, lambdas, open handles)",
            hint="train it with your own script and export it to ONNX: model.format: onnx with model.command "
            "(docs/frameworks.md)",
        )

    try:
        data = bytes(sio.dumps(model))
    except (*_CANNOT_STORE, pickle.PicklingError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "no message"
        raise refuse(f"{type(e).__name__}: {first}") from e
    # skops writes a lambda or a function defined inside another by a name no import can find
    # ('<lambda>', '<locals>'): such a file never loads again, whatever is trusted.
    unloadable = sorted(t for t in sio.get_untrusted_types(data=data) if "<" in t)
    if unloadable:
        raise refuse(f"{unloadable[0]} has no importable name")
    return data


def write_model(
    dest: Path, data: bytes, format_name: str, manifest: Manifest, extra_files: dict[str, bytes] | None = None
) -> Bundle:
    """Return the bundle written to `dest`: the model file of `format_name`, extra files, then the manifest."""
    dest.mkdir(parents=True, exist_ok=True)
    manifest = manifest.model_copy(deep=True)
    if format_name != "skops" or manifest.model_format is not None:
        manifest.model_format = format_name  # absent means skops: older readers keep reading skops bundles
    name = model_file(manifest)
    (dest / name).write_bytes(data)
    files = {name: hashlib.sha256(data).hexdigest()}
    for extra, content in (extra_files or {}).items():
        (dest / extra).write_bytes(content)
        files[extra] = hashlib.sha256(content).hexdigest()
    manifest.format, manifest.sha256, manifest.files = FORMAT, files[name], files
    manifest.version = version_id(files[name])
    bundle = Bundle(dest, manifest)
    bundle.write_manifest()
    return bundle


def open_bundle(path: Path, *, expect: str | None = None) -> Bundle:
    """Return the bundle at `path` after checking every file against the manifest's sha256.

    Content addressing: sha256(model.skops) == manifest sha256 == files[model.skops], its first
    16 hex digits == manifest version (== `expect`, the version id the caller asked for).
    """
    manifest_path = path / MANIFEST
    if not path.is_dir() or path.is_symlink():
        raise ModelError(f"{path}: not a bundle directory")
    try:
        raw = regular_file(manifest_path).read_bytes()
    except ModelError:
        raise ModelError(f"{path}: no {MANIFEST} (or not a regular file); not an mlci bundle") from None
    manifest = Manifest.parse(raw, str(manifest_path))
    sha = manifest.sha256
    model_name = model_file(manifest)
    files: dict[str, str | None] = {model_name: sha} if manifest.files is None else dict(manifest.files)
    for name, expected in files.items():
        target = path / str(name)
        if ".." in Path(str(name)).parts or Path(str(name)).is_absolute():
            raise ModelError(f"{manifest_path}: lists an invalid file entry {name!r}")
        actual = sha256_file(regular_file(target))
        if actual != expected:
            raise ModelError(
                f"{target}: sha256 {actual[:16]}… does not match the manifest's {str(expected)[:16]}…; "
                "the bundle was altered or corrupted, refusing to load it"
            )
    if sha is None or sha != files.get(model_name):
        raise ModelError(f"{manifest_path}: sha256 and files[{model_name}] disagree; refusing to load")
    if manifest.version != version_id(sha):
        raise ModelError(
            f"{manifest_path}: says version {manifest.version!r}, but its model's sha256 makes it "
            f"{version_id(sha)}; refusing to load it"
        )
    if expect is not None and expect != version_id(sha):
        raise ModelError(
            f"{path}: holds version {version_id(sha)}, not {expect}; the stored bundle was altered — do not use it"
        )
    return Bundle(path, manifest)


def check_members(data: bytes, where: Path, max_mb: int = DEFAULT_MAX_MODEL_MB) -> None:
    """Refuse a skops file whose members would expand past `max_mb` (a zip bomb), before reading any.

    zipfile stops each member at the size its header declares, so checking the declared sizes
    bounds what skops can inflate.
    """
    import zipfile

    limit = max_mb * 1024 * 1024
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise ModelError(f"{where}: not a readable skops file ({e})") from None
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > limit or total > limit:
            raise ModelError(
                f"{where}: member {info.filename!r} expands to {info.file_size / 2**20:.0f} MiB "
                f"({total / 2**20:.0f} MiB so far), past model.max_model_mb = {max_mb}; refusing to load it",
                hint="raise model.max_model_mb in mlci.yaml if this model really is that large",
            )


def untrusted_types(data: bytes, where: Path, trusted_types: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Return the types in a skops file that neither skops' defaults nor `trusted_types` (exact names) trust."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as e:
        raise ModelError(f"{where}: not a readable skops file ({type(e).__name__}: {e})") from None
    allowed = {*MLCI_TRUSTED_TYPES, *trusted_types}
    return sorted(t for t in untrusted if t not in allowed)


def load_model(
    bundle: Bundle, trusted_types: list[str] | tuple[str, ...] = (), *, max_mb: int = DEFAULT_MAX_MODEL_MB
) -> Any:
    """Return the estimator in a verified bundle, refusing any type that is not trusted.

    Trusted = skops' default set + MLCI_TRUSTED_TYPES + the exact names in `trusted_types`,
    which come from the configuration of the job that loads, never from the artifact. The
    node arrays of its tree models are checked (mlci.modeling.trees) before it is returned. A model mlci
    did not train in this process is loaded only in a contained process (mlci.sandbox.score).
    """
    import skops.io as sio

    data = regular_file(bundle.model_path).read_bytes()
    # Re-check here: the file could have changed since open_bundle looked at it.
    sha = hashlib.sha256(data).hexdigest()
    if sha != bundle.manifest.sha256 or version_id(sha) != bundle.manifest.version:
        raise ModelError(f"{bundle.model_path}: changed since it was verified; refusing to load it")
    check_members(data, bundle.model_path, max_mb)
    refused = untrusted_types(data, bundle.model_path, trusted_types)
    if refused:
        raise UntrustedTypes(bundle.model_path, refused)
    try:
        # Only exact names are passed: skops adds its own defaults itself.
        allowed = {*MLCI_TRUSTED_TYPES, *trusted_types}
        listed = [t for t in sio.get_untrusted_types(data=data) if t in allowed]
        model = sio.loads(data, trusted=listed)
    except Exception as e:
        raise ModelError(f"{bundle.model_path}: cannot load ({type(e).__name__}: {e})") from None
    # Built from trusted types is not yet safe to run: scikit-learn's tree loops trust their indices.
    check_trees(model, f"version {bundle.version} ({bundle.model_path})")
    return model
