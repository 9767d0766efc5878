"""The drift of fresh data against a version's reference profile: per feature, and overall."""

from __future__ import annotations

import math
from dataclasses import field
from typing import Any, Literal

from pydantic import computed_field, field_validator
from pydantic.dataclasses import dataclass

Kind = Literal["numeric", "categorical", "prediction"]
Status = Literal["ok", "warn", "fail"]


@dataclass
class FeatureDrift:
    """The drift of one feature (or of the predictions) and its verdict."""

    feature: str
    kind: Kind
    psi: float
    test: Literal["ks", "chi2"]
    # NaN when a side has no non-null values (the test is undefined then).
    statistic: float
    p_value: float
    null_rate_ref: float
    null_rate_cur: float
    unseen: list[str] = field(default_factory=list)
    status: Status = "ok"
    psi_warn: float = 0.1
    psi_fail: float = 0.25

    @field_validator(
        "psi", "statistic", "p_value", "null_rate_ref", "null_rate_cur", "psi_warn", "psi_fail", mode="before"
    )
    @classmethod
    def _undefined_is_nan(cls, value: Any) -> Any:
        # JSON has no NaN: an undefined statistic is written as null and read back as NaN.
        return math.nan if value is None else value


@dataclass
class DriftReport:
    """Drift of a fresh table against a profile; `features` is sorted worst first."""

    rows_ref: int
    rows_cur: int
    features: list[FeatureDrift]
    status: Status

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[str, int]:
        """Return how many features have each status."""
        out = {"ok": 0, "warn": 0, "fail": 0}
        for f in self.features:
            out[f.status] += 1
        return out
