"""The inputs every metric reads: both models' predictions on the same test rows, encoded once.

`prepare` turns the truth and the candidate's (and baseline's) predictions into one `Frame`:
class labels become shared class indices, probability columns one common order, regression
values floats. The metrics (mlci.stats.metrics) read a Frame; `compute_metric` is one metric
on one model's predictions.

numpy and pandas are imported inside the functions that use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlci.errors import DataError
from mlci.stats.metrics import get_metric

if TYPE_CHECKING:
    import numpy as np

MISSING_CATEGORY = "(missing)"


@dataclass
class Predictions:
    """What one model predicted for the test rows."""

    labels: Any  # np.ndarray: predicted class labels (classification) or values (regression)
    proba: Any = None  # np.ndarray (n, n_classes) in `classes` order; None for regression
    classes: list[Any] | None = None  # class labels in proba column order
    runtime: str | None = None  # what computed them, e.g. "onnxruntime 1.20.1 (CPUExecutionProvider)"


# --- inputs on common class indices --------------------------------------------------------


@dataclass
class Encoded:
    """One model's predictions with labels as class indices and proba columns in common order."""

    labels: np.ndarray
    proba: np.ndarray | None


@dataclass
class Frame:
    """Truth and both models' predictions on the same rows, encoded once.

    `which` names a model: "cand" (the candidate) or "base" (the baseline).
    """

    task: str
    y: np.ndarray  # class index (classification) or float value (regression)
    n_classes: int  # 0 for regression
    cand: Encoded
    base: Encoded | None
    positive: int = 1  # index of the positive class of a binary task (data.positive_class)
    labels: list[Any] | None = None  # the class labels, in index order

    @property
    def pos(self) -> int | None:
        """Return the positive class's index for binary tasks (default: the second sorted class)."""
        return self.positive if self.task == "classification" and self.n_classes == 2 else None

    def model(self, which: str) -> Encoded:
        """Return the candidate's ("cand") or the baseline's ("base") predictions."""
        model = self.cand if which == "cand" else self.base
        assert model is not None
        return model

    def proba(self, which: str, metric: str) -> np.ndarray:
        """Return one model's probabilities; DataError when it gave none and `metric` needs them."""
        proba = self.model(which).proba
        if proba is None:
            raise DataError(f"metric '{metric}' needs predicted probabilities, but the {self.who(which)} gave none")
        return proba

    @staticmethod
    def who(which: str) -> str:
        """Return the model `which` names, in words: "candidate" or "baseline"."""
        return "candidate" if which == "cand" else "baseline"

    def subset(self, mask: np.ndarray) -> Frame:
        def sub(m: Encoded) -> Encoded:
            return Encoded(m.labels[mask], None if m.proba is None else m.proba[mask])

        base = None if self.base is None else sub(self.base)
        return Frame(self.task, self.y[mask], self.n_classes, sub(self.cand), base, self.positive, self.labels)


def prepare(
    y_true: Any, candidate: Predictions, baseline: Predictions | None, task: str, positive_class: Any = None
) -> Frame:
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
            models = [Encoded(np.asarray(p.labels).astype(float), None) for _, p in preds]
        except (TypeError, ValueError) as exc:
            raise DataError(f"regression needs numeric targets and predictions ({exc})") from exc
        return Frame(task, yf, 0, models[0], models[1] if len(models) > 1 else None)

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
    return Frame(task, yi, len(classes), models[0], models[1] if len(models) > 1 else None, positive, labels)


def _encode(values: np.ndarray, classes: np.ndarray) -> np.ndarray:
    import numpy as np

    idx = np.searchsorted(classes, values)
    idx = np.clip(idx, 0, len(classes) - 1)
    if not np.all(classes[idx] == values):
        raise DataError("a label is missing from the list of classes")
    return idx.astype(np.intp)


def _encode_model(who: str, p: Predictions, classes: np.ndarray) -> Encoded:
    import numpy as np

    labels = _encode(np.asarray(p.labels), classes)
    if p.proba is None:
        return Encoded(labels, None)
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
        return Encoded(labels, proba)
    aligned = np.zeros((len(proba), len(classes)))
    aligned[:, cols] = proba  # classes the model never saw get probability 0
    return Encoded(labels, aligned)


def compute_metric(name: str, y_true: Any, pred: Predictions) -> float:
    """Return metric `name` of `pred` against `y_true` (NaN when undefined on these rows)."""
    metric = get_metric(name)
    return metric.value(prepare(y_true, pred, None, metric.task))


# --- slices ---------------------------------------------------------------------------------


def categories(column: str, values: Any, n: int) -> tuple[list[str], np.ndarray]:
    """Return the sorted category names of a slice column and each row's category index."""
    import numpy as np
    import pandas as pd

    s = pd.Series(np.asarray(values, dtype=object))
    if len(s) != n:
        raise DataError(f"slice column '{column}' has {len(s)} values but the test table has {n} rows")
    names = s.map(str).where(~s.isna(), MISSING_CATEGORY)
    codes, uniques = pd.factorize(names, sort=True)
    return [str(u) for u in uniques], np.asarray(codes)
