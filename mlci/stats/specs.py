"""What mlci.yaml asks of the statistics: interval settings, gates and drift thresholds.

Defined here, beside the code that interprets them, and composed into mlci.yaml's model by
mlci.config: the statistics never import the configuration.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from mlci._internal.models import Section
from mlci.stats.metrics import check_metric_name


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
    def _check_metric(cls, v: str) -> str:
        return check_metric_name(v)


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
