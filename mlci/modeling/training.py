"""Build the estimator mlci.yaml names (dotted path + params, or module:function) and fit it."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci._internal.libraries import library_versions
from mlci._internal.serial import plain
from mlci.contracts.manifest import Manifest, ManifestData
from mlci.errors import TrainingError

if TYPE_CHECKING:
    import pandas as pd

    from mlci.config.schema import Config
    from mlci.data.features import FeatureKinds
    from mlci.data.tables import Datasets
    from mlci.modeling.bundle import Bundle
    from mlci.stats.evaluation import Predictions


@dataclass
class TrainResult:
    """A fitted candidate written as a bundle."""

    bundle: Bundle
    seconds: float
    cache_key: str
    # Its predictions on the test table, made while training: evaluation need not predict again.
    test_predictions: Predictions | None = None


def _import_attr(path: str, sep: str, field: str) -> Any:
    module_name, _, attr = path.rpartition(sep)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        missing = e.name or module_name
        parent, _, last = missing.rpartition(".")
        close = _did_you_mean(last, _submodules(parent))
        hint = (
            None
            if close
            else (
                f"install {missing.partition('.')[0]} (in Actions: list it in a file given to the action's `requirements` input)"
            )
        )
        raise TrainingError(
            f"{field}: cannot import module '{module_name}' (no module named '{missing}'{close})", hint=hint
        ) from None
    except Exception as e:
        raise TrainingError(f"{field}: cannot import module '{module_name}' ({type(e).__name__}: {e})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        names = [n for n in dir(module) if not n.startswith("_")]
        raise TrainingError(f"{field}: module '{module_name}' has no '{attr}'{_did_you_mean(attr, names)}") from None


def _did_you_mean(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return f"; did you mean '{close[0]}'?" if close else ""


def _submodules(package: str) -> list[str]:
    """Return the names of the modules in `package` (the top-level ones when it is empty)."""
    import pkgutil

    if not package:
        return [m.name for m in pkgutil.iter_modules()]
    try:
        found = importlib.import_module(package)
    except Exception:
        return []
    return [m.name for m in pkgutil.iter_modules(getattr(found, "__path__", []))]


def check_builder(config: Config) -> None:
    """Raise TrainingError (one line) unless what mlci.yaml names to build the model can be found.

    The estimator's class or the entrypoint's function is imported (not called); a command's
    program must be on PATH (or a path), a file must exist.
    """
    import shutil

    m = config.model
    if m.estimator is not None:
        _import_attr(m.estimator, ".", "model.estimator")
    elif m.entrypoint is not None:
        repo_on_path(config)
        _import_attr(m.entrypoint, ":", "model.entrypoint")
    elif m.command is not None:
        from mlci.modeling.command import command_environment

        program = m.argv[0]
        path = command_environment(config.environment, {}).get("PATH")
        if shutil.which(program, path=path) is None and shutil.which(str(config.base_dir / program)) is None:
            raise TrainingError(f"model.command: cannot find the program {program!r} on PATH or in the repository")
    elif m.file is not None and not Path(config.locate(m.file)).is_file():
        raise TrainingError(f"model.file: {m.file} does not exist (relative to {config.base_dir})")


def repo_on_path(config: Config) -> None:
    # An entrypoint is the repository's own code: import it from the repository root (the
    # directory of mlci.yaml) and from where the user runs mlci.
    for p in (str(config.base_dir), os.getcwd()):
        if p not in sys.path:
            sys.path.insert(0, p)


def load_trusted(config: Config, bundle: Bundle) -> Any:
    """Return the estimator in a verified bundle, loaded with the config's trusted types."""
    from mlci.modeling.bundle import load_model

    repo_on_path(config)  # a model built by the repository's own code needs that code to load
    return load_model(bundle, config.model.trusted_types, max_mb=config.model.max_model_mb)


def build_estimator(config: Config, kinds: FeatureKinds) -> Any:
    """Return the unfitted estimator: the user's, wrapped in default preprocessing when asked."""
    m = config.model
    params = dict(m.params)
    if m.entrypoint:
        repo_on_path(config)
        module_name, _, func_name = m.entrypoint.partition(":")
        func = _import_attr(f"{module_name}:{func_name}", ":", "model.entrypoint")
        try:
            estimator = func(**params)
        except Exception as e:
            raise TrainingError(f"model.entrypoint '{m.entrypoint}' raised {type(e).__name__}: {e}") from e
        if not hasattr(estimator, "fit"):
            raise TrainingError(
                f"model.entrypoint '{m.entrypoint}' returned {type(estimator).__name__}, not an estimator"
            )
        return estimator
    assert m.estimator is not None
    cls = _import_attr(m.estimator, ".", "model.estimator")
    try:
        accepted = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        accepted = {}  # type: ignore[assignment]
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = m.random_state
    try:
        estimator = cls(**params)
    except TypeError as e:
        raise TrainingError(f"model.params: {m.estimator} does not accept them ({e})") from None
    if m.preprocessing == "none":
        return estimator
    return _default_preprocessing(estimator, kinds)


#: Categories one-hot encoding keeps per column (the rarer ones share one "infrequent" column), and
#: the ordinal codes a HistGradientBoosting model gets (as many as its 255 bins hold, one for missing).
MAX_ONEHOT = 32
MAX_NATIVE = 254


def native_categorical(estimator: Any) -> bool:
    """Return whether `estimator` splits ordinal codes like categories (HistGradientBoosting*)."""
    return "categorical_features" in estimator.get_params() and type(estimator).__name__.startswith(
        "HistGradientBoosting"
    )


def categorical_encoding_note(estimator: str | None, kinds: FeatureKinds) -> str | None:
    """Return how the default preprocessing encodes categorical columns for `estimator`, in words."""
    columns = kinds.of("categorical", "identifier")
    if not columns or estimator is None:
        return None
    if estimator.rsplit(".", 1)[-1].startswith("HistGradientBoosting"):
        return (
            f"categorical column(s) {', '.join(columns)} go to the model as one column of codes each "
            f"(the {MAX_NATIVE} most frequent values, the rest as one code), not one-hot"
        )
    return (
        f"categorical column(s) {', '.join(columns)} are one-hot encoded "
        f"(the {MAX_ONEHOT} most frequent values each, the rest as one column)"
    )


def _default_preprocessing(estimator: Any, kinds: FeatureKinds) -> Any:
    """Return `estimator` behind one column transformer: each kind of feature turned into numbers its own way.

    Categorical columns: HistGradientBoosting gets one column of ordinal codes each (the 254
    most frequent values, rarer ones grouped in one code, unknown ones missing), which its
    histogram trees split as finely as one-hot columns would — a 400-value column stays one
    column, where one-hot encoding made ~400 dense ones and a fit ~20x slower. Other estimators
    get one-hot columns for the 32 most frequent values and one for the rest.

    Not HistGradientBoosting's `categorical_features`: with it, scikit-learn 1.9 stores an inner
    `FunctionTransformer(functools.partial(check_array))` in the model, two types skops does
    not trust, which every user would have to add to model.trusted_types.
    """
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    from mlci.transformers import BooleanToFloat, DatetimeParts, TextHasher

    def numbers(*first: tuple[str, Any]) -> Any:
        # keep_empty_features: a part that is all NaN in training still gives its column, so
        # the model's inputs do not change shape with the data.
        impute = SimpleImputer(strategy="median", keep_empty_features=True)
        return Pipeline([*first, ("impute", impute), ("scale", StandardScaler())])

    categorical_columns = kinds.of("categorical", "identifier")  # identifier-like: only when data.features names it
    native = bool(categorical_columns) and native_categorical(estimator)
    if native:
        encode: Any = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            max_categories=MAX_NATIVE,
            dtype=np.float64,
        )
        categorical: Any = encode
    else:
        onehot = OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_ONEHOT, sparse_output=False)
        impute = SimpleImputer(strategy="most_frequent", keep_empty_features=True)
        categorical = Pipeline([("impute", impute), ("onehot", onehot)])
    steps: list[tuple[str, Any, list[str]]] = [
        ("categorical", categorical, categorical_columns),
        ("numeric", numbers(), kinds.of("numeric")),
        ("boolean", numbers(("bool", BooleanToFloat())), kinds.of("boolean")),
        ("datetime", numbers(("parts", DatetimeParts())), kinds.of("datetime")),
        ("text", TextHasher(), [c for c in kinds.of("text") if c not in kinds.excluded]),
    ]
    parts = [(name, step, columns) for name, step, columns in steps if columns]
    # Dense output: several estimators (HistGradientBoosting*) refuse sparse input.
    return Pipeline([("preprocess", ColumnTransformer(parts, sparse_threshold=0.0)), ("model", estimator)])


def training_code_hash(config: Config) -> str:
    """Return a hash of the code that builds the model.

    The entrypoint's module file, or the estimator path; for a command, every file of the
    repository it can read (git's tracked and untracked-but-not-ignored files); for a file, its bytes.
    """
    h = hashlib.sha256()
    if config.model.command is not None:
        from mlci.modeling.command import repository_hash

        outputs = ("comparison.json", Path(config.report.output).name)
        h.update(repository_hash(config.base_dir, outputs).encode())
    if config.model.file is not None:
        from mlci._internal.files import sha256_file

        path = Path(config.locate(config.model.file))
        h.update(sha256_file(path).encode() if path.is_file() else b"missing")
    if config.model.entrypoint:
        module_name = config.model.entrypoint.partition(":")[0]
        repo_on_path(config)
        try:
            import importlib.util

            spec = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            spec = None
        if spec and spec.origin and os.path.exists(spec.origin):
            h.update(Path(spec.origin).read_bytes())
        else:
            h.update(module_name.encode())
    h.update((config.model.estimator or "").encode())
    return h.hexdigest()


def cache_key(config: Config, fingerprints: dict[str, str]) -> str:
    """Return the key under which an unchanged training run can reuse its earlier candidate."""
    from mlci._internal.redaction import redact_url

    def without_credentials(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: without_credentials(v) for k, v in value.items()}
        if isinstance(value, list):
            return [without_credentials(v) for v in value]
        return redact_url(value) if isinstance(value, str) and "://" in value else value

    payload = {
        "data": fingerprints,
        # The sandbox limits change where a model is scored, the command's timeout how long it may
        # run: neither what is trained.
        "model": config.model.model_dump(mode="json", exclude={"sandbox", "timeout_minutes"}),
        # Without a database password: the key is stored in manifests anyone can read.
        "data_config": without_credentials(config.data.model_dump(mode="json")),
        "code": training_code_hash(config),
        "libraries": library_versions(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def git_sha(cwd: Path) -> str | None:
    """Return the commit checked out in `cwd` (`git rev-parse HEAD`), else None."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def train(
    config: Config,
    datasets: Datasets,
    output: Path,
    *,
    pr: int | None = None,
    key: str | None = None,
    sha: str | None = None,
    merge_sha: str | None = None,
) -> TrainResult:
    """Fit the candidate on the train table and write its bundle to `output`.

    `key` is its cache key, if known; `sha` the commit being built (a PR's head commit, else
    GITHUB_SHA in Actions), else the checkout's HEAD is recorded; `merge_sha` the temporary merge
    commit a pull_request job checked out, recorded as `git_merge_sha`.
    """
    from mlci.data.features import feature_kinds
    from mlci.modeling.bundle import write_bundle

    kinds = feature_kinds(datasets.train, datasets.features, explicit=True)
    estimator = build_estimator(config, kinds)
    X = datasets.train[datasets.features]
    y = datasets.train[datasets.target]
    if _needs_label_indices(estimator, y, config.task):
        from mlci.transformers import EncodedLabels

        estimator = EncodedLabels(estimator)
    started = time.perf_counter()
    try:
        estimator.fit(X, y)
    except Exception as e:
        field = "model.entrypoint" if config.model.entrypoint else "model.estimator/model.params"
        raise TrainingError(f"training failed ({field}): {type(e).__name__}: {e}") from e
    seconds = time.perf_counter() - started

    X_test = datasets.test[datasets.features]
    try:
        test_predictions = predictions(estimator, X_test, config.task)
    except Exception as e:
        raise TrainingError(f"the fitted model cannot predict the test table: {type(e).__name__}: {e}") from e
    key = key or cache_key(config, datasets.fingerprints)
    manifest, extra = describe(
        config, datasets, kinds, test_predictions, seconds, pr=pr, key=key, sha=sha, merge_sha=merge_sha
    )
    # The estimator's own classes_ (a classifier without predict_proba returns none in its predictions).
    manifest.classes = [plain(c) for c in getattr(estimator, "classes_", [])]
    bundle = write_bundle(output, estimator, manifest, extra)
    # Fail fast: the model must load back through the loader every later job uses, with this
    # config's trusted types, or the PR that introduced an untrusted type would only learn at
    # deploy. UntrustedTypes (exit 2) names every type to list.
    load_trusted(config, bundle)
    return TrainResult(bundle=bundle, seconds=seconds, cache_key=key, test_predictions=test_predictions)


# Classifiers that take only the label indices 0..n-1: mlci encodes other labels (strings) for them.
_INDEX_LABEL_FAMILIES = ("xgboost.",)


def _needs_label_indices(estimator: Any, y: pd.Series, task: str) -> bool:
    """Return whether `estimator` must be fitted on label indices: an XGBoost classifier and labels that are not 0..n-1."""
    import numpy as np

    if task != "classification":
        return False
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    if not type(final).__module__.startswith(_INDEX_LABEL_FAMILIES):
        return False
    values = np.unique(y.dropna().to_numpy())
    return not (values.dtype.kind in "iu" and values.tolist() == list(range(len(values))))


def describe(
    config: Config,
    datasets: Datasets,
    kinds: FeatureKinds,
    test_predictions: Predictions,
    seconds: float,
    *,
    pr: int | None,
    key: str,
    sha: str | None,
    merge_sha: str | None,
) -> tuple[Manifest, dict[str, bytes]]:
    """Return the manifest of a candidate and its extra files (reference profile, smoke rows), whatever trained it."""
    import numpy as np

    from mlci.modeling.bundle import PROFILE, SMOKE

    X_test = datasets.test[datasets.features]
    test_scores = score_of(test_predictions)
    # Every feature is profiled for drift: dates by their range and distribution, text by its
    # length and vocabulary; what is not is listed with why (never silently left out).
    profiled = kinds.of("numeric", "categorical", "boolean", "identifier", "datetime", "text")
    categorical = kinds.of("categorical", "boolean", "identifier")
    skipped = {c: "always empty in the training table" for c in kinds.of("empty")}
    profile = datasets.reference_profile(
        categorical, test_scores, profiled, text=kinds.of("text"), dates=kinds.of("datetime"), skipped=skipped
    )
    # Rows kept with the version so a deploy can check the published copy predicts exactly
    # what it predicted here (the smoke test).
    n = min(config.deploy.smoke_rows, len(X_test))
    smoke = X_test.iloc[:n].copy()
    smoke["__mlci_prediction__"] = np.asarray(test_scores[:n], dtype="float64")
    smoke_bytes = _parquet_bytes(smoke)

    manifest = Manifest(
        model=config.model.name,
        task=config.model.task,
        estimator=config.model.estimator,
        entrypoint=config.model.entrypoint,
        params=config.model.params,
        features=datasets.features,
        categorical=categorical,
        feature_kinds=dict(kinds.kinds),
        target=datasets.target,
        classes=[plain(c) for c in test_predictions.classes or []],
        data=ManifestData(
            fingerprints=datasets.fingerprints,
            sources=datasets.sources,
            rows={"train": len(datasets.train), "test": len(datasets.test)},
        ),
        git_sha=sha or git_sha(config.base_dir),
        git_merge_sha=merge_sha,
        pr=pr,
        training_seconds=round(seconds, 3),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        libraries=library_versions(),
        cache_key=key,
        metrics={},
    )
    for name in ("command", "file"):  # only when set: a skops manifest keeps the keys it always had
        if getattr(config.model, name) is not None:
            setattr(manifest, name, getattr(config.model, name))
    if test_predictions.runtime is not None:
        manifest.runtime = test_predictions.runtime
    return manifest, {PROFILE: profile.dump(), SMOKE: smoke_bytes}


# Final estimators whose predict() is the argmax of predict_proba() by construction, so one
# pass over the rows gives both. Others (SVC with probability=True, threshold tuners, user
# code) keep their own predict().
_ARGMAX_FAMILIES = (
    "sklearn.ensemble.",
    "sklearn.tree.",
    "sklearn.linear_model.",
    "sklearn.neighbors.",
    "sklearn.naive_bayes.",
    "sklearn.discriminant_analysis.",
)


def predictions(estimator: Any, X: pd.DataFrame, task: str) -> Predictions:
    """Return an estimator's labels, and its class probabilities when it is a classifier that has them."""
    import numpy as np

    from mlci.stats.evaluation import Predictions

    if task == "classification" and hasattr(estimator, "predict_proba"):
        proba = np.asarray(estimator.predict_proba(X))
        classes = list(getattr(estimator, "classes_", range(proba.shape[1])))
        final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
        if type(final).__module__.startswith(_ARGMAX_FAMILIES):
            labels = np.asarray(classes)[np.argmax(proba, axis=1)]
        else:
            labels = np.asarray(estimator.predict(X))
        return Predictions(labels=labels, proba=proba, classes=classes)
    return Predictions(labels=np.asarray(estimator.predict(X)), proba=None, classes=None)


def score_of(pred: Predictions) -> Any:
    """Return one number per row: the positive-class probability (binary), else the prediction."""
    import numpy as np

    if pred.proba is not None and pred.proba.ndim == 2 and pred.proba.shape[1] == 2:
        return pred.proba[:, 1]
    labels = np.asarray(pred.labels)
    if labels.dtype.kind not in "fiub":
        # class labels that are strings: record their index in classes_ so the smoke test compares numbers
        classes = list(pred.classes or sorted(set(labels.tolist())))
        return np.array([classes.index(p) for p in labels], dtype="float64")
    return labels.astype("float64")


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    import io

    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()
