"""What an expectation suite found on one table."""

from __future__ import annotations

from dataclasses import field, replace
from pathlib import Path
from typing import Any

from pydantic import computed_field
from pydantic.dataclasses import dataclass


@dataclass
class ExpectationFailure:
    """One expectation that the table did not meet."""

    index: int
    type: str
    column: str | None
    kwargs: dict[str, Any]
    observed: Any
    unexpected_count: int | None
    unexpected_percent: float | None
    sample_values: list[Any]
    line: int | None = None
    error: str | None = None
    severity: str = "critical"  # GX's FailureSeverity: critical, warning or info

    def describe(self) -> str:
        """Return one line naming the expectation, its column and what was seen."""
        where = f" on column '{self.column}'" if self.column else ""
        if self.error:
            return f"expectations[{self.index}] {self.type}{where}: could not run: {self.error}"
        parts = []
        if self.unexpected_count is not None:
            pct = f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            parts.append(f"{self.unexpected_count} unexpected{pct}")
        if self.observed is not None:
            parts.append(f"observed {_short(self.observed)}")
        if self.sample_values:
            # GX samples the first unexpected rows, often one value many times: show each value once.
            distinct = list(dict.fromkeys(_short(v) for v in self.sample_values))
            parts.append("e.g. " + ", ".join(distinct))
        return f"expectations[{self.index}] {self.type}{where}: " + "; ".join(parts or ["failed"])


@dataclass
class ValidationResult:
    """The outcome of a suite on one table."""

    suite: str
    suite_name: str
    table: str
    rows: int
    evaluated: int
    failed: int
    failures: list[ExpectationFailure] = field(default_factory=list)
    seconds: float | None = 0.0  # None in a report that must not change between identical runs
    notes: list[str] = field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def success(self) -> bool:
        """Return whether every expectation held."""
        return self.failed == 0

    @property
    def critical_failures(self) -> list[ExpectationFailure]:
        """Return the failures of expectations of severity critical (GX's default): these fail a check."""
        return [f for f in self.failures if f.severity == "critical"]

    def relative_to(self, root: Path) -> ValidationResult:
        """Return this result with its suite and table paths relative to `root` where they lie under it."""

        def relative(value: str) -> str:
            if value.startswith("/"):
                try:
                    return str(Path(value).relative_to(root))
                except ValueError:
                    pass
            return value

        return replace(self, suite=relative(self.suite), table=relative(self.table))


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
