"""Model formats: how a version's model file is checked, loaded and scored (skops or ONNX).

A version's manifest names its format (`model_format`; absent: skops, as every version before
formats had). Everything else — statistics, gates, report, registry, signing, deploy — is the
same for all: callers ask `format_of(manifest)` and never branch on the format themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from mlci.errors import ModelError, UntrustedTypes
from mlci.modeling.bundle import MODEL_FILES

if TYPE_CHECKING:
    import pandas as pd

    from mlci.contracts.manifest import Manifest
    from mlci.modeling.bundle import Bundle
    from mlci.modeling.sandbox import Sandbox
    from mlci.stats.evaluation import Predictions


class Predictor(Protocol):
    """A loaded model: it predicts rows, and says what ran it."""

    runtime: str  # e.g. "scikit-learn 1.5.2", "onnxruntime 1.20.1 (CPUExecutionProvider)"

    def predict(self, rows: pd.DataFrame, task: str) -> Predictions: ...


class ModelFormat(Protocol):
    """How one kind of model file is checked without running it, and loaded to predict (in a contained process)."""

    name: str
    filename: str
    # The modules its contained process imports once (mlci.modeling.forkserver).
    preload: tuple[str, ...]

    def check(self, bundle: Bundle, where: object, trusted_types: tuple[str, ...], max_mb: int) -> None:
        """Raise ModelError (UntrustedTypes, ...) for a model file this job must not load; nothing in it runs."""
        ...

    def load(self, bundle: Bundle, sandbox: Sandbox) -> Predictor:
        """Return the bundle's model, checked and loaded; run only in a contained process for a model from outside."""
        ...


class _Skops:
    name: str = "skops"
    filename: str = MODEL_FILES["skops"]
    preload: tuple[str, ...] = ("sklearn.pipeline", "skops.io", "mlci.modeling.trees", "mlci.transformers")

    def check(self, bundle: Bundle, where: object, trusted_types: tuple[str, ...], max_mb: int) -> None:
        from mlci._internal.files import regular_file
        from mlci.modeling.bundle import check_members, untrusted_types

        data = regular_file(bundle.model_path).read_bytes()
        check_members(data, bundle.model_path, max_mb)
        refused = untrusted_types(data, bundle.model_path, trusted_types)
        if refused:
            raise UntrustedTypes(where, refused)

    def load(self, bundle: Bundle, sandbox: Sandbox) -> Predictor:
        from mlci.modeling.bundle import load_model

        return SkopsPredictor(load_model(bundle, sandbox.trusted_types, max_mb=sandbox.max_model_mb), bundle)


class SkopsPredictor:
    """A scikit-learn compatible estimator loaded from skops, checked against the version's task and features."""

    def __init__(self, model: Any, bundle: Bundle) -> None:
        import sklearn

        self.model = model
        self.runtime = f"scikit-learn {sklearn.__version__}"
        manifest, where = bundle.manifest, bundle.model_path
        task, kind = manifest.task, _kind(model)
        if (task, kind) in (("classification", "regressor"), ("regression", "classifier")):
            raise ModelError(f"{where}: holds a {kind}, but model.task is {task}")
        named = getattr(model, "feature_names_in_", None)
        features = list(manifest.features or [])
        if named is not None and features and sorted(map(str, named)) != sorted(features):
            missing = sorted(set(map(str, named)) - set(features))
            raise ModelError(
                f"{where}: was fitted on other columns than data.features"
                + (f" (it needs {', '.join(missing[:5])})" if missing else "")
            )

    def predict(self, rows: pd.DataFrame, task: str) -> Predictions:
        from mlci.modeling.training import predictions

        return predictions(self.model, rows, task)


def _kind(model: Any) -> str | None:
    """Return 'classifier' or 'regressor' as scikit-learn tags the model; None when it cannot tell."""
    from sklearn.base import is_classifier, is_regressor

    try:  # scikit-learn asks the model for its tags: a model that is no BaseEstimator may raise
        return "classifier" if is_classifier(model) else "regressor" if is_regressor(model) else None
    except Exception:
        return None


class _Onnx:
    name: str = "onnx"
    filename: str = MODEL_FILES["onnx"]
    preload: tuple[str, ...] = ("onnx", "onnxruntime", "mlci.modeling.onnxmodel")

    def check(self, bundle: Bundle, where: object, trusted_types: tuple[str, ...], max_mb: int) -> None:
        # Parsing and the checker run in the contained process only (load): here just the size.
        size = bundle.model_path.stat().st_size
        if size > max_mb * 1024 * 1024:
            raise ModelError(
                f"{where}: {size / 2**20:.0f} MiB, past model.max_model_mb = {max_mb}; refusing to load it"
            )

    def load(self, bundle: Bundle, sandbox: Sandbox) -> Predictor:
        import hashlib

        from mlci._internal.files import regular_file
        from mlci.modeling.bundle import version_id
        from mlci.modeling.onnxmodel import load_onnx

        data = regular_file(bundle.model_path).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if sha != bundle.manifest.sha256 or version_id(sha) != bundle.manifest.version:
            raise ModelError(f"{bundle.model_path}: changed since it was verified; refusing to load it")
        manifest = bundle.manifest
        return load_onnx(
            data,
            bundle.model_path,
            bundle_dir=bundle.path,
            features=list(manifest.features or []),
            classes=list(manifest.classes) if manifest.classes else None,
            fallback=list(sandbox.fallback_classes) or None,
            max_mb=sandbox.max_model_mb,
        )


FORMATS: dict[str, ModelFormat] = {"skops": _Skops(), "onnx": _Onnx()}


def format_named(name: str) -> ModelFormat:
    """Return the format called `name` (model.format)."""
    return FORMATS[name]


def format_of(manifest: Manifest) -> ModelFormat:
    """Return the format a version's manifest names (none: skops, as every version before formats had)."""
    name = manifest.model_format or "skops"
    if name not in FORMATS:
        raise ModelError(f"manifest.json: model_format {name!r} is not one this mlci knows ({', '.join(FORMATS)})")
    return FORMATS[name]
