"""What mlci.yaml asks of the statistics: interval settings, gates and drift thresholds.

Defined here, beside the code that interprets them, and composed into mlci.yaml's model by
mlci.config: the statistics never import the configuration.
"""

from __future__ import annotations

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

    psi_warn: float | None = Field(None, ge=0, description="Override of `drift.psi_warn`.", examples=[0.2])
    psi_fail: float | None = Field(None, ge=0, description="Override of `drift.psi_fail`.", examples=[0.5])


class DriftSection(Section):
    """When fresh data counts as drifted."""

    psi_warn: float = Field(0.1, ge=0, description="Population stability index that warns.", examples=[0.1])
    psi_fail: float = Field(0.25, ge=0, description="Population stability index that fails.", examples=[0.25])
    features: dict[str, DriftFeature] = Field(
        default_factory=dict, description="Per-feature overrides.", examples=[{"tenure": {"psi_fail": 0.5}}]
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
        examples=[{"roc_auc": 0.05}],
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
