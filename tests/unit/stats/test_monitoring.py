"""Production performance on labelled rows: a watched metric that cannot be computed now is not a metric that held."""

from __future__ import annotations

import numpy as np

from mlci.stats.evaluation import Predictions, prepare
from mlci.stats.metrics import get_metric
from mlci.stats.monitoring import change
from mlci.stats.specs import StatisticsSection


def _frame(y: list[float], predicted: list[float]):
    return prepare(np.array(y), Predictions(labels=np.array(predicted)), None, "regression")


def test_a_watched_metric_undefined_now_fails_where_it_was_defined_when_shipped():
    shipped = _frame([1.0, 2.0, 3.0], [1.1, 2.0, 2.9])
    current = _frame([1.0, 2.0, 3.0], [100.0, 100.0, float("nan")])  # one NaN prediction
    stats = StatisticsSection(resamples=100)
    watched = change(get_metric("mae"), "overall", shipped, current, stats, limit=0.5)
    assert watched.status == "fail" and "undefined on the current rows" in watched.reason
    # Without a limit (or on too few rows to hold) it is shown, not judged.
    assert change(get_metric("mae"), "overall", shipped, current, stats, limit=None).status == "skipped"
    assert change(get_metric("mae"), "overall", shipped, current, stats, limit=0.5, held=False).status == "skipped"
