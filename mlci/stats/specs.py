"""What mlci.yaml asks of the statistics: interval settings, gates and drift thresholds.

Defined here, beside the code that interprets them, and composed into mlci.yaml's model by
mlci.config: the statistics never import the configuration.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from mlci._internal.models import Section
from mlci.stats.metrics import check_metric_name

#: The validation context key under which mlci.yaml's loader passes metrics.per_example's names:
#: with `model.format: results` they are the only metrics, and the primary metric and gates name them.
PER_EXAMPLE = "per_example"


def check_metric(name: str, info: ValidationInfo) -> str:
    """Return `name` if it is a per-example metric of this file (see PER_EXAMPLE), or a metric mlci knows."""
    own = (info.context or {}).get(PER_EXAMPLE) or []
    if own:
        if name not in own:
            raise ValueError(f"unknown metric '{name}': metrics.per_example names {', '.join(map(str, own))}")
        return name
    return check_metric_name(name)


class ExampleMetricSpec(Section):
    """A metric the results command writes for every example (`model.format: results`)."""

    name: str = Field(
        description="The results column that holds it.",
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$",
        examples=["correct"],
    )
    kind: Literal["binary", "continuous"] = Field(
        "continuous",
        description="`binary`: 0/1 per example (exact McNemar test, paired interval of the rate difference); "
        "`continuous`: any number.",
        examples=["binary"],
    )
    lower_is_better: bool = Field(False, description="Lower values are better (latency, cost).", examples=[True])
    summary: Literal["mean", "rate", "p50", "p95", "p99", "sum"] | None = Field(
        None,
        description="How the examples' values make one number: `mean` (continuous default, paired t-interval), "
        "`rate` (binary default: the share of ones), `p50`/`p95`/`p99` (seeded paired bootstrap of the quantile "
        "difference) or `sum` (paired interval of the total's difference).",
        examples=["p95"],
    )

    @property
    def summarised(self) -> str:
        """Return the summary in effect: the given one, else `rate` for binary and `mean` for continuous."""
        return self.summary or ("rate" if self.kind == "binary" else "mean")

    def to_data(self) -> dict[str, Any]:
        """Return the spec as the stats layer's plain fields."""
        return {
            "name": self.name,
            "kind": self.kind,
            "lower_is_better": self.lower_is_better,
            "summary": self.summarised,
        }


class StatisticsSection(Section):
    """How uncertainty is estimated."""

    confidence: float = Field(0.95, gt=0.5, lt=1, description="Confidence level of intervals.", examples=[0.95])
    resamples: int = Field(
        1000,
        ge=100,
        le=100000,
        description="Paired bootstrap resamples for metrics without an exact method.",
        examples=[1000],
    )
    seed: int = Field(0, description="Bootstrap seed, so the same data gives the same interval.", examples=[0])
    slice_correction: Literal["holm", "benjamini-hochberg", "none"] = Field(
        "holm",
        description="Error control across the slices of one gate: a slice fails only when its interval excludes "
        "the allowed change after this correction. `holm` (the default) bounds the chance of failing any slice "
        "that is truly within bounds (family-wise error); `benjamini-hochberg` bounds the share of false "
        "failures among the failing slices; `none` judges each slice's interval alone.",
        examples=["holm"],
    )


class Gate(Section):
    """A condition the candidate must meet to pass."""

    metric: str = Field(description="Metric the gate applies to.", examples=["roc_auc"])
    threshold: float | None = Field(
        None,
        description="Absolute bound on the candidate (a minimum, or a maximum for lower-is-better metrics).",
        examples=[0.8],
    )
    min_absolute_change: float | None = Field(
        None,
        description="Least improvement over the baseline, in metric units; negative allows a bounded regression.",
        examples=[-0.005],
    )
    min_relative_change: float | None = Field(
        None, description="Least improvement relative to the baseline (0.01 = 1%).", examples=[0.0]
    )
    significant: bool = Field(
        False, description="The improvement's confidence interval must exclude zero.", examples=[True]
    )
    non_inferiority_margin: float | None = Field(
        None,
        ge=0,
        description="The candidate may be worse than the baseline by at most this, with the configured confidence.",
        examples=[0.01],
    )
    relative_non_inferiority_margin: float | None = Field(
        None,
        ge=0,
        description="Like `non_inferiority_margin`, as a share of the baseline's value (0.02 = 2%): "
        "for metrics in the target's units (rmse, mae), whose scale differs from one dataset to the next.",
        examples=[0.02],
    )
    slices: bool = Field(
        False,
        description="Apply the gate to every slice category with at least `min_slice_size` rows.",
        examples=[True],
    )
    min_slice_size: int = Field(
        30, ge=1, description="Slices smaller than this are shown but not gated.", examples=[50]
    )

    @field_validator("metric")
    @classmethod
    def _check_metric(cls, v: str, info: ValidationInfo) -> str:
        return check_metric(v, info)


class DriftFeature(Section):
    """Thresholds for one feature."""

    min_effect: float | None = Field(None, ge=0, le=1, description="Override of `drift.min_effect`.", examples=[0.1])
    psi_warn: float | None = Field(None, ge=0, description="Override of `drift.psi_warn`.", examples=[0.2])
    psi_fail: float | None = Field(None, ge=0, description="Override of `drift.psi_fail`.", examples=[0.5])


class DriftSection(Section):
    """When fresh data counts as drifted.

    A feature drifts when its two-sample test (Kolmogorov-Smirnov on numbers, dates and text
    lengths; chi-square and the unseen-category share on categories; the out-of-vocabulary rate
    on text) is significant after Holm's correction across all checked features, so that with
    no drift at all the chance of any alarm is at most `alpha` at every sample size; and its
    effect (the largest gap between the two distributions, or the share of rows that moved
    between categories) is at least `min_effect`, so that a huge table does not fail on a
    negligible shift. Significant but below the effect floor: warn. PSI is reported beside.
    """

    alpha: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="False-alarm rate of the drift verdict: the chance, with no drift, that any feature is "
        "flagged (Holm's correction across features).",
        examples=[0.05],
    )
    min_effect: float = Field(
        0.03,
        ge=0,
        le=1,
        description="Least effect that fails: the largest gap between the reference's and the fresh data's "
        "cumulative shares (numbers, dates, text lengths), or the share of rows that moved between categories.",
        examples=[0.05],
    )
    psi_warn: float | None = Field(
        None,
        ge=0,
        description="Optional: a significant feature with at least this population stability index warns even "
        "below `min_effect`. PSI alone never decides: its null value grows as samples shrink.",
        examples=[0.1],
    )
    psi_fail: float | None = Field(
        None,
        ge=0,
        description="Optional: a significant feature with at least this PSI fails even below `min_effect`.",
        examples=[0.25],
    )
    features: dict[str, DriftFeature] = Field(
        default_factory=dict, description="Per-feature overrides.", examples=[{"tenure": {"min_effect": 0.1}}]
    )
    ignore: list[str] = Field(default_factory=list, description="Features not checked.", examples=[["signup_day"]])


class ImportanceSection(Section):
    """What the model relies on: permutation importance of candidate and baseline on the same test rows."""

    enabled: bool = Field(True, description="Measure permutation importance in every check.", examples=[True])
    rows: int = Field(
        1000,
        ge=10,
        le=1_000_000,
        description="Test rows sampled (the same rows for both models); the cost grows with rows x features x repeats.",
        examples=[1000],
    )
    repeats: int = Field(
        5, ge=2, le=100, description="Permutations of each feature; the interval is over the repeats.", examples=[5]
    )
    top: int = Field(5, ge=1, le=50, description="Features the report lists for each model and changes.", examples=[5])


class MonitorSection(Section):
    """Production performance once labels arrive (`mlci monitor`)."""

    max_drop: dict[str, float] = Field(
        default_factory=dict,
        description="Largest drop allowed per metric, in metric units, from what the version shipped with to what "
        "it scores on labelled production rows (overall and per slice); past it `mlci monitor` exits 1.",
        examples=[dict(roc_auc=0.05)],  # a call, not a literal table: nothing dispatches on the name
    )
    min_slice_size: int = Field(
        30, ge=1, description="Slices with fewer labelled rows are shown but not held to `max_drop`.", examples=[50]
    )

    @field_validator("max_drop")
    @classmethod
    def _check_metrics(cls, v: dict[str, float]) -> dict[str, float]:
        for name in v:
            check_metric_name(name)
        return v
