"""Compare a candidate with a baseline on the same test rows: metrics, paired significance, gates.

Every interval and p-value here is about the *paired* difference
`delta = metric(candidate) - metric(baseline)`: both models score the same rows, so row-level
noise cancels and the comparison is much sharper than two independent intervals would be.

Method per metric (`MetricResult.method`):

- `delong`        binary roc_auc: DeLong's paired test, fast midrank form (Sun & Xu 2014).
- `mcnemar`       accuracy: exact McNemar p-value, Wald interval with the paired variance.
- `paired-t`      log_loss, brier, mae, mape: each is a mean of per-row losses, so the
                  t-interval of the mean per-row difference is the textbook answer.
- `delta-method`  rmse: a smooth function of two means (see `groupwise._rmse_delta`).
- `bootstrap`     f1, precision, recall, balanced_accuracy, average_precision, r2 and multiclass
                  roc_auc: paired percentile bootstrap over rows (`statistics.resamples`).

numpy, scipy and scikit-learn are imported inside the functions that use them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlci.errors import ConfigError, DataError
from mlci.stats.metrics import METRICS, check_metric_name
from mlci.stats.significance import Interval, bootstrap_confusion, bootstrap_r2, bootstrap_ranking

if TYPE_CHECKING:
    import numpy as np

    from mlci.stats.specs import StatisticsSection

MISSING_CATEGORY = "(missing)"

# Metrics that are the mean of a per-row loss; their paired CI is the t-interval of the mean.
# mape belongs here too (sklearn defines it as mean(|y - ŷ| / max(|y|, eps))), so it gets the
# exact interval for a mean instead of a slower bootstrap of the same quantity.
_MEAN_LOSSES = {"log_loss", "brier", "mae", "mape"}
_CONFUSION = {"f1", "precision", "recall", "balanced_accuracy"}


# --- results -------------------------------------------------------------------------------
# Results are pydantic dataclasses: built positionally here, validated (numpy scalars become
# plain numbers), and serialised by mlci._internal.serial, the one serialiser of every typed result.


@dataclass
class Predictions:
    """What one model predicted for the test rows."""

    labels: Any  # np.ndarray: predicted class labels (classification) or values (regression)
    proba: Any = None  # np.ndarray (n, n_classes) in `classes` order; None for regression
    classes: list[Any] | None = None  # class labels in proba column order


# --- inputs on common class indices --------------------------------------------------------


@dataclass
class _Model:
    """One model's predictions with labels as class indices and proba columns in common order."""

    labels: np.ndarray
    proba: np.ndarray | None


@dataclass
class _Frame:
    """Truth and both models' predictions on the same rows, encoded once."""

    task: str
    y: np.ndarray  # class index (classification) or float value (regression)
    n_classes: int  # 0 for regression
    cand: _Model
    base: _Model | None
    positive: int = 1  # index of the positive class of a binary task (data.positive_class)
    labels: list[Any] | None = None  # the class labels, in index order

    @property
    def pos(self) -> int | None:
        """Return the positive class's index for binary tasks (default: the second sorted class)."""
        return self.positive if self.task == "classification" and self.n_classes == 2 else None

    def subset(self, mask: np.ndarray) -> _Frame:
        def sub(m: _Model) -> _Model:
            return _Model(m.labels[mask], None if m.proba is None else m.proba[mask])

        base = None if self.base is None else sub(self.base)
        return _Frame(self.task, self.y[mask], self.n_classes, sub(self.cand), base, self.positive, self.labels)


def _prepare(
    y_true: Any, candidate: Predictions, baseline: Predictions | None, task: str, positive_class: Any = None
) -> _Frame:
    import numpy as np

    y = np.asarray(y_true)
    n = len(y)
    if n == 0:
        raise DataError("no test rows to evaluate")
    preds = [("candidate", candidate)] + ([("baseline", baseline)] if baseline is not None else [])
    for who, p in preds:
        if len(np.asarray(p.labels)) != n:
            raise DataError(f"the {who} predicted {len(np.asarray(p.labels))} rows but the test table has {n}")
        if p.proba is not None and len(np.asarray(p.proba)) != n:
            raise DataError(f"the {who}'s probabilities have {len(np.asarray(p.proba))} rows, expected {n}")

    if task == "regression":
        try:
            yf = y.astype(float)
            models = [_Model(np.asarray(p.labels).astype(float), None) for _, p in preds]
        except (TypeError, ValueError) as exc:
            raise DataError(f"regression needs numeric targets and predictions ({exc})") from exc
        return _Frame(task, yf, 0, models[0], models[1] if len(models) > 1 else None)

    # Classification: one sorted list of every label seen, so both models and the truth share
    # class indices and `classes[1]` is the positive class of a binary task.
    parts = [np.unique(y)]
    for _, p in preds:
        parts.append(np.unique(np.asarray(p.labels)))
        if p.classes is not None:
            parts.append(np.asarray(p.classes))
    try:
        classes = np.unique(np.concatenate(parts))
        models = [_encode_model(who, p, classes) for who, p in preds]
        yi = _encode(y, classes)
    except TypeError as exc:
        raise DataError(f"class labels of mixed types cannot be compared ({exc})") from exc
    labels = [c.item() if hasattr(c, "item") else c for c in classes]
    positive = 1
    if positive_class is not None and len(classes) == 2:
        # YAML may give 1 for a label read as "1" (or the reverse): match by text as well.
        found = [i for i, c in enumerate(labels) if c == positive_class or str(c) == str(positive_class)]
        if not found:
            raise DataError(
                f"data.positive_class {positive_class!r} is not one of the labels: {', '.join(map(repr, labels))}"
            )
        positive = found[0]
    return _Frame(task, yi, len(classes), models[0], models[1] if len(models) > 1 else None, positive, labels)


def _encode(values: np.ndarray, classes: np.ndarray) -> np.ndarray:
    import numpy as np

    idx = np.searchsorted(classes, values)
    idx = np.clip(idx, 0, len(classes) - 1)
    if not np.all(classes[idx] == values):
        raise DataError("a label is missing from the list of classes")
    return idx.astype(np.intp)


def _encode_model(who: str, p: Predictions, classes: np.ndarray) -> _Model:
    import numpy as np

    labels = _encode(np.asarray(p.labels), classes)
    if p.proba is None:
        return _Model(labels, None)
    proba = np.asarray(p.proba, dtype=float)
    if proba.ndim == 1:  # a binary model's positive-class column alone
        proba = np.column_stack([1.0 - proba, proba])
    model_classes = np.asarray(p.classes) if p.classes is not None else classes
    if proba.shape[1] != len(model_classes):
        raise DataError(
            f"the {who}'s probabilities have {proba.shape[1]} columns but it names {len(model_classes)} classes"
        )
    cols = _encode(model_classes, classes)
    if len(cols) == len(classes) and np.array_equal(cols, np.arange(len(classes))):
        return _Model(labels, proba)
    aligned = np.zeros((len(proba), len(classes)))
    aligned[:, cols] = proba  # classes the model never saw get probability 0
    return _Model(labels, aligned)


# --- point values --------------------------------------------------------------------------


def compute_metric(name: str, y_true: Any, pred: Predictions) -> float:
    """Return metric `name` of `pred` against `y_true` (NaN when undefined on these rows)."""
    info = METRICS[_known(name)]
    return _value(name, _prepare(y_true, pred, None, info.task), "cand")


def _known(name: str) -> str:
    try:
        return check_metric_name(name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _proba(name: str, frame: _Frame, which: str) -> np.ndarray:
    model = frame.cand if which == "cand" else frame.base
    assert model is not None
    if model.proba is None:
        who = "candidate" if which == "cand" else "baseline"
        raise DataError(f"metric '{name}' needs predicted probabilities, but the {who} gave none")
    return model.proba


def _value(name: str, frame: _Frame, which: str) -> float:
    """Return the metric for one model with scikit-learn, NaN when it is undefined."""

    import numpy as np
    from sklearn import metrics as skm

    model = frame.cand if which == "cand" else frame.base
    assert model is not None
    y, pred, pos, k = frame.y, model.labels, frame.pos, frame.n_classes
    with warnings.catch_warnings():
        # Undefined cases (one class in a slice, no predicted positives) are reported as
        # None/0 in the result; sklearn's warnings about them would only be noise.
        warnings.simplefilter("ignore")
        try:
            if name == "accuracy":
                return float(np.mean(y == pred))
            if name == "balanced_accuracy":
                return float(skm.balanced_accuracy_score(y, pred))
            if name in ("f1", "precision", "recall"):
                fn = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}[name]
                if pos is not None:
                    return float(fn(y, pred, labels=[0, 1], pos_label=pos, average="binary", zero_division=0))
                return float(fn(y, pred, average="macro", zero_division=0))
            if name == "roc_auc":
                proba = _proba(name, frame, which)
                if pos is not None:
                    if len(np.unique(y)) < 2:
                        return math.nan
                    return float(skm.roc_auc_score(y == pos, proba[:, pos]))
                return float(skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=np.arange(k)))
            if name == "average_precision":
                proba = _proba(name, frame, which)
                if pos is not None:
                    if not np.any(y == pos):
                        return math.nan
                    return float(skm.average_precision_score(y == pos, proba[:, pos]))
                return float(skm.average_precision_score(np.eye(k)[y], proba, average="macro"))
            if name == "log_loss":
                return float(skm.log_loss(y, _proba(name, frame, which), labels=np.arange(k)))
            if name == "brier":
                proba = _proba(name, frame, which)
                if pos is not None:
                    return float(skm.brier_score_loss(y == pos, proba[:, pos]))
                return float(skm.brier_score_loss(y, proba, labels=np.arange(k)))
            if name == "r2":
                return float(skm.r2_score(y, pred)) if len(y) >= 2 else math.nan
            if name == "rmse":
                return float(skm.root_mean_squared_error(y, pred))
            if name == "mae":
                return float(skm.mean_absolute_error(y, pred))
            if name == "mape":
                return float(skm.mean_absolute_percentage_error(y, pred))
        except ValueError:
            return math.nan
    raise ConfigError(f"metric '{name}' has no implementation")  # pragma: no cover - METRICS is closed


def _row_losses(name: str, frame: _Frame, which: str) -> np.ndarray:
    """Return the per-row loss whose mean is the metric (the mean-loss metrics only)."""
    import numpy as np

    model = frame.cand if which == "cand" else frame.base
    assert model is not None
    y = frame.y
    if name == "log_loss":
        proba = _proba(name, frame, which)
        eps = np.finfo(proba.dtype).eps  # the clip sklearn's log_loss applies
        return -np.log(np.clip(proba[np.arange(len(y)), y], eps, 1 - eps))
    if name == "brier":
        proba = _proba(name, frame, which)
        if frame.pos is not None:
            return ((y == frame.pos) - proba[:, frame.pos]) ** 2
        p_true = proba[np.arange(len(y)), y]
        return np.einsum("ij,ij->i", proba, proba) - 2 * p_true + 1  # sum_k (onehot_k - p_k)^2
    err = np.abs(y - model.labels)
    if name == "mae":
        return err
    if name == "mape":
        return err / np.maximum(np.abs(y), np.finfo(np.float64).eps)
    if name in ("rmse", "r2"):
        return err**2
    raise ValueError(name)  # pragma: no cover


def _paired(name: str, frame: _Frame, stats: StatisticsSection) -> tuple[str, Interval | None]:
    """Return (method, interval) for the paired bootstrap of metric `name` (those without a closed form,
    which groupwise computes)."""
    assert frame.base is not None
    resampling = (stats.resamples, stats.seed, stats.confidence)
    if name in _CONFUSION:
        return "bootstrap", bootstrap_confusion(
            name, frame.y, frame.cand.labels, frame.base.labels, frame.n_classes, frame.pos, *resampling
        )
    if name == "r2":
        return "bootstrap", bootstrap_r2(frame.y, frame.cand.labels, frame.base.labels, *resampling)
    scored = [frame.pos] if frame.pos is not None else list(range(frame.n_classes))
    return "bootstrap", bootstrap_ranking(
        name, frame.y, _proba(name, frame, "cand"), _proba(name, frame, "base"), scored, *resampling
    )


# --- compare -------------------------------------------------------------------------------


def _categories(column: str, values: Any, n: int) -> tuple[list[str], np.ndarray]:
    """Return the sorted category names of a slice column and each row's category index."""
    import numpy as np
    import pandas as pd

    s = pd.Series(np.asarray(values, dtype=object))
    if len(s) != n:
        raise DataError(f"slice column '{column}' has {len(s)} values but the test table has {n} rows")
    names = s.map(str).where(~s.isna(), MISSING_CATEGORY)
    codes, uniques = pd.factorize(names, sort=True)
    return [str(u) for u in uniques], np.asarray(codes)
