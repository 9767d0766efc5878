"""compare(): candidate against baseline on the same rows, overall and per slice, gates applied.

It sits apart from evaluation.py because it drives groupwise.py's vectorised pass, and
groupwise.py is built on evaluation.py's per-row quantities: keeping `compare` in
evaluation.py made the two modules import each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlci.contracts.comparison import Comparison, SliceResult
from mlci.errors import ConfigError
from mlci.stats.evaluation import Predictions, _categories, _known, _prepare
from mlci.stats.gates import apply_gates
from mlci.stats.groupwise import group_results
from mlci.stats.metrics import METRICS

if TYPE_CHECKING:
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
    names = list(dict.fromkeys([_known(primary), *map(_known, metrics), *(_known(g.metric) for g in gates)]))
    for name in names:
        if METRICS[name].task != task:
            raise ConfigError(f"metric '{name}' is for {METRICS[name].task}, but the task is {task}")
    import numpy as np

    frame = _prepare(y_true, candidate, baseline, task, positive_class)
    # All rows are one group; each slice column splits them into its categories. Both go
    # through the same vectorised pass, so a slice costs no extra scikit-learn call.
    overall = group_results(names, frame, np.zeros(len(frame.y), dtype=np.intp), 1, statistics)[0]

    slice_results: list[SliceResult] = []
    for column, values in (slices or {}).items():
        categories, codes = _categories(column, values, len(frame.y))
        sizes = np.bincount(codes, minlength=len(categories))
        per_slice = group_results(names, frame, codes, len(categories), statistics)
        slice_results += [
            SliceResult(column, category, int(n), results)
            for category, n, results in zip(categories, sizes, per_slice, strict=True)
        ]

    verdict = apply_gates(
        overall,
        slice_results,
        gates,
        confidence=statistics.confidence,
        has_baseline=baseline is not None,
        primary=primary,
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
    )
