"""Production performance once labels arrive: a version's metrics on labelled production rows against its test rows.

The two sets of rows are different rows, drawn independently, so the change has a two-sample
interval: each set is resampled on its own (a percentile bootstrap of current - shipped). Pairing
needs the same rows scored twice, which is the check's comparison of two models, not this one of
one model on two samples. Each metric's resamples go through its slice kernel in one vectorised
pass (every resample is one group of mlci.stats.groupwise), so no metric is reimplemented here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlci.contracts.monitoring import PerformanceChange
from mlci.errors import DataError
from mlci.stats.evaluation import Frame, Predictions, categories, prepare
from mlci.stats.groupwise import Groups
from mlci.stats.metrics import Metric, get_metric
from mlci.stats.significance import bootstrap_summary

if TYPE_CHECKING:
    import numpy as np

    from mlci.stats.specs import MonitorSection, StatisticsSection

METHOD = "two-sample bootstrap"
_CHUNK_ROWS = 2_000_000  # rows of resampled predictions held at once


def _resampled(metric: Metric, frame: Frame, resamples: int, seed: int) -> np.ndarray:
    """Return the metric on `resamples` bootstrap resamples of the frame's rows (NaN where undefined)."""
    import numpy as np

    n = len(frame.y)
    rng = np.random.default_rng(seed)
    per = max(1, _CHUNK_ROWS // max(n, 1))
    out = []
    for start in range(0, resamples, per):
        b = min(per, resamples - start)
        rows = rng.integers(0, n, size=(b, n)).ravel()
        values, _ = metric.values(Groups.of(np.repeat(np.arange(b), n), b), frame.subset(rows), "cand")
        out.append(values)
    return np.concatenate(out)


def change(
    metric: Metric,
    scope: str,
    shipped: Frame,
    current: Frame,
    statistics: StatisticsSection,
    limit: float | None,
    held: bool = True,
) -> PerformanceChange:
    """Return one metric's change from the `shipped` rows to the `current` rows, with its two-sample interval.

    `held`: whether `limit` applies here (a slice with too few labelled rows is shown, not held).
    """
    import math

    n_ship, n_cur = len(shipped.y), len(current.y)
    try:
        before, now = metric.value(shipped), metric.value(current)
    except DataError as e:  # e.g. a probability metric on logged labels alone
        return PerformanceChange(
            metric.name, scope, metric.greater_is_better, None, None, None, None, None, None,
            n_ship, n_cur, limit, "skipped", e.message,
        )  # fmt: skip
    if math.isfinite(before) and not math.isfinite(now) and limit is not None and held:
        # Defined when shipped, undefined now (a NaN or infinite prediction or label): a watched
        # metric that cannot be computed is no evidence that it held.
        return PerformanceChange(
            metric.name, scope, metric.greater_is_better, before, None, None, None, None, None,
            n_ship, n_cur, limit, "fail",
            f"{metric.name} {scope}: undefined on the current rows (a prediction or label is NaN or infinite); "
            f"it was {before:.4f} when shipped",
        )  # fmt: skip
    if not (math.isfinite(before) and math.isfinite(now)):
        return PerformanceChange(
            metric.name, scope, metric.greater_is_better, _finite(before), _finite(now), None, None, None, None,
            n_ship, n_cur, limit, "skipped", "undefined on these rows",
        )  # fmt: skip
    delta = now - before
    interval = bootstrap_summary(
        _resampled(metric, current, statistics.resamples, statistics.seed + 1)
        - _resampled(metric, shipped, statistics.resamples, statistics.seed),
        statistics.confidence,
    )
    drop = -delta if metric.greater_is_better else delta
    status, reason = "ok", ""
    if limit is not None and drop > limit:
        if held:
            status = "fail"
            reason = (
                f"{metric.name} {scope}: dropped by {drop:.4f} (from {before:.4f} to {now:.4f}), past max_drop {limit}"
            )
        else:
            reason = f"dropped by {drop:.4f}, past max_drop {limit}, on too few rows to count"
    return PerformanceChange(
        metric.name, scope, metric.greater_is_better, before, now, delta,
        interval.low if interval else None, interval.high if interval else None, drop,
        n_ship, n_cur, limit, status, reason,  # type: ignore[arg-type]
    )  # fmt: skip


def _finite(x: float) -> float | None:
    import math

    return x if math.isfinite(x) else None


def performance(
    shipped: tuple[Any, Predictions],
    current: tuple[Any, Predictions],
    *,
    task: str,
    metrics: list[str],
    primary: str,
    statistics: StatisticsSection,
    settings: MonitorSection,
    slices: dict[str, tuple[Any, Any]] | None = None,
    positive_class: Any = None,
) -> tuple[list[PerformanceChange], list[PerformanceChange]]:
    """Return every metric's change overall, and per slice category the primary's and the bounded metrics' changes.

    `shipped` and `current` are (truth, predictions) of the test rows and of the labelled
    production rows; `slices` maps a column to its values on each (test, current).
    """
    import numpy as np

    ship = prepare(shipped[0], shipped[1], None, task, positive_class)
    cur = prepare(current[0], current[1], None, task, positive_class)
    named = list(dict.fromkeys([*metrics, *settings.max_drop]))
    overall = [change(get_metric(m), "overall", ship, cur, statistics, settings.max_drop.get(m)) for m in named]
    per_slice: list[PerformanceChange] = []
    sliced = list(dict.fromkeys([primary, *settings.max_drop]))
    for column, (ship_values, cur_values) in (slices or {}).items():
        ship_names, ship_codes = categories(column, ship_values, len(ship.y))
        cur_names, cur_codes = categories(column, cur_values, len(cur.y))
        for code, category in enumerate(cur_names):
            if category not in ship_names:
                continue  # a category the version never saw in its test rows: nothing it shipped with
            here = cur.subset(cur_codes == code)
            there = ship.subset(ship_codes == ship_names.index(category))
            held = len(here.y) >= settings.min_slice_size
            scope = f"{column}={category}"
            per_slice += [
                change(get_metric(m), scope, there, here, statistics, settings.max_drop.get(m), held)
                for m in sliced
                if int(np.count_nonzero(cur_codes == code))
            ]
    return overall, per_slice
