"""Production performance once labels arrive (`mlci monitor`): each metric as shipped and as it is now, per slice."""

from __future__ import annotations

from typing import Literal

from pydantic.dataclasses import dataclass as result


@result
class PerformanceChange:
    """One metric in one scope: its value on the test rows it shipped with, on labelled production rows, and the change.

    `change` = current - shipped with a two-sample interval (the rows are different rows, drawn
    independently); `drop` is the change in the worse direction (positive: worse), what
    `monitor.max_drop` bounds.
    """

    metric: str
    scope: str  # "overall" or "<column>=<category>"
    greater_is_better: bool
    shipped: float | None
    current: float | None
    change: float | None
    ci_low: float | None
    ci_high: float | None
    drop: float | None
    n_shipped: int
    n_current: int
    limit: float | None = None  # monitor.max_drop of this metric; None: not bounded
    status: Literal["ok", "fail", "skipped"] = "ok"
    reason: str = ""


@result
class MonitorReport:
    """The production version's metrics on labelled production rows against the metrics it shipped with."""

    model: str
    version: str
    environment: str
    rows: int  # labelled production rows scored
    confidence: float
    method: str
    status: Literal["ok", "fail"]
    metrics: list[PerformanceChange]
    slices: list[PerformanceChange]
    reasons: list[str]  # one per change past its limit
    notes: list[str]

    @property
    def failed(self) -> list[PerformanceChange]:
        """Return the changes past their limit, overall first."""
        return [c for c in [*self.metrics, *self.slices] if c.status == "fail"]
