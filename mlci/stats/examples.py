"""Per-example metrics (`model.format: results`): each example's value for candidate and baseline, compared paired.

A per-example metric is a `Metric` (mlci.stats.metrics) like any other, so `group_results`,
slices and every gate kind apply unchanged; what differs is where its values come from (the
columns the results command wrote, in `ExampleFrame`) and how one number summarises them:

- `rate` (binary, 0/1): the share of ones; the exact McNemar test on the discordant pairs and
  the paired Wald interval of the rate difference (`significance.mcnemar`), as for accuracy;
- `mean`: the paired t-interval of the mean per-example difference and its p-value;
- `sum`: the same interval scaled by the number of examples (the total's difference is n times
  the mean difference);
- `p50`, `p95`, `p99`: a seeded paired bootstrap of the quantile difference (rows resampled
  together for both, `statistics.resamples` times).

`changed_examples` lists the examples where the candidate lost or won on the primary metric.
numpy is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlci.contracts.comparison import ChangedExample, ChangedExamples, Comparison, SliceResult
from mlci.stats import significance as sig
from mlci.stats.evaluation import Encoded, Frame, categories
from mlci.stats.gates import apply_gates
from mlci.stats.groupwise import Groups
from mlci.stats.metrics import Metric

if TYPE_CHECKING:
    import numpy as np

    from mlci.stats.groupwise import Why
    from mlci.stats.significance import GroupIntervals, Interval
    from mlci.stats.specs import ExampleMetricSpec, Gate, StatisticsSection

QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


@dataclass
class ExampleFrame(Frame):
    """Both versions' per-example values on the same rows: metric name -> one float per row."""

    cand_values: dict[str, np.ndarray] = field(default_factory=dict)
    base_values: dict[str, np.ndarray] | None = None

    def column(self, which: str, name: str) -> np.ndarray:
        """Return one version's values of metric `name` ("cand": the candidate, "base": the baseline)."""
        values = self.cand_values if which == "cand" else self.base_values
        assert values is not None
        return values[name]

    def subset(self, mask: np.ndarray) -> ExampleFrame:
        base = None if self.base_values is None else {k: v[mask] for k, v in self.base_values.items()}
        return example_frame({k: v[mask] for k, v in self.cand_values.items()}, base)


def example_frame(cand: dict[str, np.ndarray], base: dict[str, np.ndarray] | None) -> ExampleFrame:
    """Return the frame of candidate (and baseline) per-example values."""
    import numpy as np

    n = len(next(iter(cand.values())))
    empty = Encoded(np.zeros(n), None)
    return ExampleFrame(
        "results", np.zeros(n), 0, empty, None if base is None else empty, cand_values=cand, base_values=base
    )


@dataclass(frozen=True)
class ExampleMetric(Metric):
    """A per-example metric summarised one way (`summary`: rate, mean, sum, p50, p95, p99)."""

    summary: str = "mean"
    binary: bool = False

    @property
    def method(self) -> str:  # type: ignore[override]
        """Return the interval method's name, as the report shows it."""
        if self.summary in QUANTILES:
            return f"bootstrap {self.summary}"
        if self.binary and self.summary in ("rate", "mean"):
            return "mcnemar"
        return "paired-t sum" if self.summary == "sum" else "paired-t"

    def interval_method(self, binary: bool) -> str:
        return self.method

    def values(self, g: Groups, frame: Frame, which: str) -> tuple[np.ndarray, list[str | None]]:
        import numpy as np

        assert isinstance(frame, ExampleFrame)
        col = frame.column(which, self.name)
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.summary == "sum":
                out = np.where(g.size > 0, g.sum(col), np.nan)
            elif self.summary in QUANTILES:
                out = _group_quantiles(g, col, QUANTILES[self.summary])
            else:
                out = g.mean(col)
        return out, ["no rows" if n == 0 else None for n in g.size]

    def points(self, g: Groups, frame: Frame, which: str, why: Why) -> np.ndarray:
        return self.values(g, frame, which)[0]

    def intervals(self, g: Groups, frame: Frame, stats: StatisticsSection, wanted: np.ndarray) -> GroupIntervals:
        import numpy as np

        from mlci.stats.significance import GroupIntervals

        assert isinstance(frame, ExampleFrame)
        cand, base = frame.column("cand", self.name), frame.column("base", self.name)
        if self.summary in QUANTILES:
            iv = sig.bootstrap_groups(g, frame, wanted, lambda group: self.bootstrap(group, stats))
        elif self.binary and self.summary in ("rate", "mean"):
            iv = sig.mcnemar(g, cand == 1, base == 1, stats.confidence)
        else:
            iv = sig.paired_t(g, cand - base, stats.confidence)
            if self.summary == "sum":  # the total's difference is n times the mean difference
                iv = GroupIntervals(iv.method, iv.low * g.size, iv.high * g.size, iv.p)
        return GroupIntervals(self.method, iv.low, iv.high, np.where(wanted, iv.p, np.nan))

    def bootstrap(self, frame: Frame, stats: StatisticsSection) -> Interval | None:
        assert isinstance(frame, ExampleFrame)
        q = QUANTILES[self.summary]
        return bootstrap_quantile(
            frame.column("cand", self.name), frame.column("base", self.name), q, stats.resamples, stats.seed,
            stats.confidence,
        )  # fmt: skip


def _group_quantiles(g: Groups, values: np.ndarray, q: float) -> np.ndarray:
    """Return the q-quantile (numpy's linear rule) of `values` in each group; NaN for an empty one."""
    import numpy as np

    order = np.argsort(g.codes, kind="stable")
    ends = np.cumsum(g.size).astype(np.intp)
    out = np.full(g.count, np.nan)
    for i in range(g.count):
        rows = order[ends[i] - int(g.size[i]) : ends[i]]
        if len(rows):
            out[i] = np.quantile(values[rows], q)
    return out


def bootstrap_quantile(
    cand: np.ndarray, base: np.ndarray, q: float, resamples: int, seed: int, confidence: float
) -> Interval | None:
    """Return the seeded paired bootstrap of quantile(cand) - quantile(base): the same rows drawn for both."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(cand)
    chunk = max(1, min(resamples, sig.CHUNK_ELEMENTS // max(n, 1)))
    deltas = []
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(b, n))
        deltas.append(np.quantile(cand[idx], q, axis=1) - np.quantile(base[idx], q, axis=1))
        done += b
    return sig.bootstrap_summary(np.concatenate(deltas), confidence)


def example_metric(spec: ExampleMetricSpec) -> ExampleMetric:
    """Return the metric object of one entry of metrics.per_example."""
    summary = spec.summarised
    what = {"rate": "share of ones", "mean": "mean", "sum": "total"}.get(summary, summary)
    return ExampleMetric(
        spec.name,
        "results",
        not spec.lower_is_better,
        f"{what} of the per-example '{spec.name}'",
        summary=summary,
        binary=spec.kind == "binary",
    )


def compare_examples(
    cand: dict[str, np.ndarray],
    base: dict[str, np.ndarray] | None,
    *,
    specs: Sequence[ExampleMetricSpec],
    primary: str,
    gates: Sequence[Gate],
    statistics: StatisticsSection,
    slices: dict[str, Any] | None = None,
) -> Comparison:
    """Return the comparison of two versions' per-example results on the same rows, overall and per slice, gated."""
    from mlci.stats.comparison import group_results

    metrics = [example_metric(s) for s in sorted(specs, key=lambda s: s.name != primary)]
    frame = example_frame(cand, base)
    n = len(frame.y)
    overall = group_results(list(metrics), frame, Groups.whole(n), statistics)[0]
    slice_results: list[SliceResult] = []
    for column, values in (slices or {}).items():
        names_of, codes = categories(column, values, n)
        groups = Groups.of(codes, len(names_of))
        per_slice = group_results(list(metrics), frame, groups, statistics)
        slice_results += [
            SliceResult(column, category, int(size), results)
            for category, size, results in zip(names_of, groups.size, per_slice, strict=True)
        ]
    verdict = apply_gates(
        overall, slice_results, gates, confidence=statistics.confidence, has_baseline=base is not None, primary=primary
    )
    return Comparison("results", primary, n, statistics.confidence, overall, slice_results, verdict)


def changed_examples(
    ids: list[str],
    cand: np.ndarray,
    base: np.ndarray,
    *,
    metric: str,
    lower_is_better: bool,
    slices: dict[str, Any],
    texts: dict[str, Any] | None = None,
    limit: int = 10,
) -> ChangedExamples:
    """Return up to `limit` examples where the candidate lost and `limit` where it won on `metric`, largest first.

    Each names its id and slice values; `texts` (other columns of the row) only when the
    configuration asks for them (report.show_examples), since evaluation data may be private.
    """
    import numpy as np

    better = (base - cand) if lower_is_better else (cand - base)

    def pick(rows: np.ndarray) -> list[ChangedExample]:
        out = []
        for i in rows[:limit]:
            shown = {c: str(v[i]) for c, v in slices.items()}
            extra = {c: str(v[i])[:200] for c, v in (texts or {}).items()}
            out.append(ChangedExample(str(ids[i]), float(base[i]), float(cand[i]), shown, extra or None))
        return out

    lost = np.flatnonzero(better < 0)
    won = np.flatnonzero(better > 0)
    lost = lost[np.argsort(better[lost], kind="stable")]
    won = won[np.argsort(-better[won], kind="stable")]
    return ChangedExamples(metric, len(lost), len(won), pick(lost), pick(won))
