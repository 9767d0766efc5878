"""The metric names mlci knows, which task each belongs to and which way is better.

Kept free of numpy and scikit-learn so that config validation (and `mlci --help`) stays
fast; the computations live in `mlci.stats.evaluation`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class MetricInfo:
    """What mlci knows of a metric before computing it."""

    name: str
    task: Task
    greater_is_better: bool
    needs_proba: bool
    description: str


_ALL = [
    MetricInfo("accuracy", "classification", True, False, "share of rows predicted right"),
    MetricInfo("balanced_accuracy", "classification", True, False, "mean recall over classes"),
    MetricInfo("f1", "classification", True, False, "F1 of the positive class (macro for multiclass)"),
    MetricInfo("precision", "classification", True, False, "precision of the positive class"),
    MetricInfo("recall", "classification", True, False, "recall of the positive class"),
    MetricInfo("roc_auc", "classification", True, True, "area under the ROC curve"),
    MetricInfo("average_precision", "classification", True, True, "area under the precision-recall curve"),
    MetricInfo("log_loss", "classification", False, True, "cross-entropy of the predicted probabilities"),
    MetricInfo("brier", "classification", False, True, "mean squared error of the positive-class probability"),
    MetricInfo("r2", "regression", True, False, "coefficient of determination"),
    MetricInfo("rmse", "regression", False, False, "root mean squared error"),
    MetricInfo("mae", "regression", False, False, "mean absolute error"),
    MetricInfo("mape", "regression", False, False, "mean absolute percentage error"),
]

METRICS: dict[str, MetricInfo] = {m.name: m for m in _ALL}


def check_metric_name(name: str) -> str:
    """Return `name` if mlci knows it; raise ValueError with a suggestion otherwise."""
    if name in METRICS:
        return name
    close = difflib.get_close_matches(name, list(METRICS), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(METRICS)})"
    raise ValueError(f"unknown metric '{name}'{hint}")


def format_value(x: float) -> str:
    """Return a metric value or difference in mlci's one number format: 4 decimals (0.9120, +0.0031), whole
    numbers from 1000 on, and scientific notation below 0.0001 — the same in the terminal, report and reasons."""
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{x:.0f}"
    if a >= 0.0001:
        return f"{x:.4f}"
    return f"{x:.1e}"


def format_signed(x: float) -> str:
    """Return a difference with its sign: +0.015, -0.002."""
    s = format_value(x)
    return s if s.startswith("-") else "+" + s
