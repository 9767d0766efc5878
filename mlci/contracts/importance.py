"""What a model relies on: permutation importance of candidate and baseline, and what changed (mlci.stats.importance).

Pydantic dataclasses like the comparison's, serialised by mlci._internal.serial.
"""

from __future__ import annotations

from pydantic.dataclasses import dataclass as result


@result
class FeatureImportance:
    """How much the metric worsens when one feature is permuted: the mean over repeats and its interval."""

    feature: str
    mean: float
    ci_low: float
    ci_high: float


@result
class ImportanceChange:
    """One feature's importance in the baseline and in the candidate (None: not a feature of that model)."""

    feature: str
    baseline: float | None
    candidate: float | None
    delta: float  # candidate - baseline, a missing feature counting as 0


@result
class Importance:
    """Permutation importance of the candidate (and baseline) on the same sampled test rows, largest first."""

    metric: str
    rows: int
    repeats: int
    confidence: float
    top: int
    candidate: list[FeatureImportance]
    baseline: list[FeatureImportance] | None
    changes: list[ImportanceChange]  # largest |delta| first; empty without a baseline
