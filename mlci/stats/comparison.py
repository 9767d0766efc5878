"""compare(): candidate against baseline on the same rows, overall and per slice, gates applied.

All rows are one group; each slice column splits them into its categories. Both go through
`group_results`, one vectorised pass per metric (mlci.stats.metrics) whatever the number of
groups, so a slice costs no extra call into scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlci.contracts.comparison import Comparison, MetricResult, SliceResult
from mlci.errors import ConfigError
from mlci.stats.evaluation import Frame, Predictions, categories, prepare
from mlci.stats.gates import apply_gates
from mlci.stats.groupwise import Groups
from mlci.stats.metrics import Metric, get_metric

if TYPE_CHECKING:
    from mlci.stats.significance import GroupIntervals
    from mlci.stats.specs import Gate, StatisticsSection


def compare(
    y_true: Any,
    candidate: Predictions,
    baseline: Predictions | None,
    *,
    task: str,
    metrics: list[str],
    primary: str,
    gates: Sequence[Gate],
    statistics: StatisticsSection,
    slices: dict[str, Any] | None = None,
    positive_class: Any = None,
) -> Comparison:
    """Return the comparison of candidate and baseline on the same rows, with its verdict.

    Metrics named only by a gate are computed too. `slices` maps a column name to its value
    on every test row; each category gets its own metrics (NaN becomes "(missing)").
    """
    named = [get_metric(name) for name in [primary, *metrics, *(g.metric for g in gates)]]
    for metric in named:
        if metric.task != task:
            raise ConfigError(f"metric '{metric.name}' is for {metric.task}, but the task is {task}")
    chosen = list({m.name: m for m in named}.values())
    frame = prepare(y_true, candidate, baseline, task, positive_class)
    overall = group_results(chosen, frame, Groups.whole(len(frame.y)), statistics)[0]

    slice_results: list[SliceResult] = []
    for column, values in (slices or {}).items():
        names_of, codes = categories(column, values, len(frame.y))
        groups = Groups.of(codes, len(names_of))
        per_slice = group_results(chosen, frame, groups, statistics)
        slice_results += [
            SliceResult(column, category, int(n), results)
            for category, n, results in zip(names_of, groups.size, per_slice, strict=True)
        ]

    verdict = apply_gates(
        overall,
        slice_results,
        gates,
        confidence=statistics.confidence,
        has_baseline=baseline is not None,
        primary=primary,
        n_rows=len(frame.y),
        correction=statistics.slice_correction,
    )
    positive = frame.labels[frame.pos] if frame.pos is not None and frame.labels else None
    return Comparison(
        task,
        primary,
        len(frame.y),
        statistics.confidence,
        overall,
        slice_results,
        verdict,
        positive_class=positive,
        positive_class_configured=positive is not None and positive_class is not None,
        n_classes=frame.n_classes if task == "classification" else None,
    )


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def group_results(metrics: list[Metric], frame: Frame, g: Groups, stats: StatisticsSection) -> list[list[MetricResult]]:
    """Return, for each group of `g`, the results of `metrics` (in that order) on the group's rows.

    A group's result is what `compare` reports for those rows
    alone: candidate and baseline values, their difference and its paired interval (none when
    either value is undefined or the group has fewer than 2 rows), and in `undefined` why a
    value is missing.
    """
    import numpy as np

    count = g.count
    out: list[list[MetricResult]] = [[] for _ in range(count)]
    for metric in metrics:
        name, gib = metric.name, metric.greater_is_better
        cand_arr, cand_why = metric.values(g, frame, "cand")
        cand = cand_arr.tolist()
        if frame.base is None:
            for i in range(count):
                c = _finite(cand[i])
                out[i].append(MetricResult(name, gib, None, c, None, None, None, None, None, "none", cand_why[i]))
            continue
        base_arr, base_why = metric.values(g, frame, "base")
        base = base_arr.tolist()
        wanted = np.isfinite(cand_arr) & np.isfinite(base_arr) & (g.size >= 2)
        iv: GroupIntervals | None = None
        if wanted.any():
            iv = metric.intervals(g, frame, stats, wanted).agreeing(stats.confidence)
        method = "none" if iv is None else iv.method
        nan = [math.nan] * count
        low, high, p = (nan, nan, nan) if iv is None else (iv.low.tolist(), iv.high.tolist(), iv.p.tolist())
        for i in range(count):
            c, b = _finite(cand[i]), _finite(base[i])
            if c is None or b is None:
                # Said once when both models lack a value for the same reason (one class in the rows).
                why = "; ".join(dict.fromkeys(r for r in (cand_why[i], base_why[i]) if r)) or None
                out[i].append(MetricResult(name, gib, b, c, None, None, None, None, None, "none", why))
                continue
            delta = c - b
            has = bool(wanted[i])
            no_interval = iv.why[i] if iv is not None and has else None
            out[i].append(
                MetricResult(
                    name=name,
                    greater_is_better=gib,
                    baseline=b,
                    candidate=c,
                    delta=delta,
                    relative_delta=delta / abs(b) if b != 0 else None,
                    ci_low=_finite(low[i]) if has else None,
                    ci_high=_finite(high[i]) if has else None,
                    p_value=_finite(p[i]) if has else None,
                    method=method if has else "none",
                    no_interval=no_interval,
                )
            )
    return out
