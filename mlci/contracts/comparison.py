"""The comparison of a candidate with its baseline: metrics with paired intervals, slices, gates, the verdict.

Results are pydantic dataclasses: built positionally by mlci.stats, validated (numpy scalars
become plain numbers), and serialised by mlci._internal.serial, the one serialiser of every
typed result.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, Literal

from pydantic.dataclasses import dataclass as result


@result
class GateResult:
    """One gate applied to one scope ("overall" or "<column>=<category>")."""

    metric: str
    scope: str
    passed: bool
    reason: str
    skipped: bool = False
    # What these rows can resolve: the half-width of the difference's interval (None: no interval).
    resolvable: float | None = None
    # The gate failed because the interval is wider than what it must show, not because the
    # candidate was shown worse: these rows cannot decide, and `rows_needed` would.
    inconclusive: bool = False
    rows_needed: int | None = None
    # A slice gate: the one-sided p-value of "no worse than allowed" after the family's correction.
    adjusted_p: float | None = None
    # The least change (candidate - baseline, in the metric's units and sign) the gate allows.
    allowed_change: float | None = None


@result
class SliceTests:
    """How one gate judged the slices: how many were tested, under which error control, and what failed."""

    metric: str
    correction: str  # "holm", "benjamini-hochberg" or "none"
    tested: int
    failed: int
    too_small: int  # below min_slice_size: shown, not gated
    without_interval: int  # the method's assumptions do not hold there, or no information


@result
class Verdict:
    """Whether the candidate may replace the baseline, and why."""

    status: Literal["pass", "fail", "bootstrap"]
    gates: list[GateResult]
    reasons: list[str]  # one per failed gate
    summary: str
    slice_tests: list[SliceTests] = field(default_factory=list)  # one per gate with `slices: true`


@result
class MetricResult:
    """One metric for candidate and baseline, with the paired difference's uncertainty."""

    name: str
    greater_is_better: bool
    baseline: float | None
    candidate: float | None  # None when undefined on these rows (e.g. roc_auc of a one-class slice)
    delta: float | None  # candidate - baseline
    relative_delta: float | None  # delta / |baseline|
    ci_low: float | None  # CI of delta at statistics.confidence
    ci_high: float | None
    p_value: float | None  # two-sided, H0: delta == 0
    method: str  # "delong", "mcnemar", "paired-t", "delta-method", "bootstrap", "none"
    undefined: str | None = None  # why a value (or the delta) is missing, in words
    # Why there is no interval although both values exist: the rows hold no information on a
    # difference (the models agree on all of them), or the method's assumptions fail there.
    no_interval: str | None = None


@result
class SliceResult:
    """The metrics of the rows whose `column` equals `category`."""

    column: str
    category: str
    n: int
    metrics: list[MetricResult]


@result
class Comparison:
    """Everything `mlci evaluate` found: overall metrics, slices and the verdict."""

    task: str
    primary: str
    n_rows: int
    confidence: float
    metrics: list[MetricResult]
    slices: list[SliceResult]
    verdict: Verdict
    # The label a binary task's roc_auc, precision, recall and brier are about (None otherwise),
    # and whether data.positive_class named it (else it is the last label in sort order).
    positive_class: Any = None
    positive_class_configured: bool = False
    # How many classes a classification task has (None for regression and results): the report
    # says how multiclass precision, recall, F1 and slice roc_auc average over them.
    n_classes: int | None = None

    def metric(self, name: str) -> MetricResult | None:
        """Return the overall result of metric `name`, if it was computed."""
        return next((m for m in self.metrics if m.name == name), None)


@result
class ChangedExample:
    """One example whose primary per-example metric changed (`model.format: results`)."""

    id: str
    baseline: float
    candidate: float
    slices: dict[str, str]  # its value of every data.slices column
    texts: dict[str, str] | None = None  # its other columns, only with report.show_examples


@result
class ChangedExamples:
    """The examples where the candidate lost and where it won on the primary metric, largest change first."""

    metric: str
    lost_count: int
    won_count: int
    lost: list[ChangedExample]
    won: list[ChangedExample]
