"""Every metric and its paired interval for many groups of rows at once: the slices of a column,
or all test rows as one group.

One pass per metric over all rows, whatever the number of groups: each metric's point value
comes from the same per-row quantities its paired statistics use (DeLong's structural
components for binary roc_auc, per-row losses, confusion counts), summed per group with
`np.bincount` over the group codes and, for ranking metrics, one sort by (group, score). So a
slice column with 5,000 categories costs a few vectorised passes over the rows, not 5,000
calls into scikit-learn. The values equal scikit-learn's (tests/test_groupwise.py checks every
metric and task against it); where scikit-learn calls a metric undefined on some rows (one
class present, probabilities outside [0, 1]), the group's value is NaN, as `compare` reports it,
and `_Why` keeps the reason in words, decided by the same per-group masks that make it NaN.

Intervals with a closed form (DeLong, McNemar, the paired t-interval, the delta method) are
vectorised over groups too. The bootstrap metrics (f1, precision, recall, balanced_accuracy,
average_precision, r2, multiclass roc_auc) resample each group on its own rows with
`evaluation._paired`, one call per group, on contiguous views of the rows sorted by group.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlci.contracts.comparison import MetricResult
from mlci.stats.evaluation import _CONFUSION, _MEAN_LOSSES, _Frame, _paired, _proba, _row_losses
from mlci.stats.metrics import METRICS
from mlci.stats.significance import from_confusion

if TYPE_CHECKING:
    import numpy as np

    from mlci.stats.specs import StatisticsSection

# How scikit-learn checks that rows of probabilities sum to one for multiclass roc_auc
# (`np.allclose(1, y_score.sum(axis=1))`, numpy's default tolerances).
_ALLCLOSE_RTOL, _ALLCLOSE_ATOL = 1e-5, 1e-8


@dataclass
class _Groups:
    """Which group each row belongs to, and per-group sums over rows."""

    codes: np.ndarray  # intp, group of each row, 0 <= code < count
    count: int
    size: np.ndarray  # float, rows per group
    memo: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # DeLong rows per model

    @classmethod
    def of(cls, codes: np.ndarray, count: int) -> _Groups:
        import numpy as np

        codes = np.asarray(codes, dtype=np.intp)
        return cls(codes, count, np.bincount(codes, minlength=count).astype(float))

    def sum(self, values: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.bincount(self.codes, weights=values, minlength=self.count)

    def mean(self, values: np.ndarray) -> np.ndarray:
        import numpy as np

        with np.errstate(divide="ignore", invalid="ignore"):
            return self.sum(values) / self.size

    def var(self, values: np.ndarray) -> np.ndarray:
        """Return the sample variance (ddof=1) per group, two-pass for accuracy; NaN below 2 rows."""
        import numpy as np

        dev = values - self.mean(values)[self.codes]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.size >= 2, self.sum(dev * dev) / (self.size - 1), np.nan)

    def within(self, rows: np.ndarray) -> _Groups:
        """Return the groups of the rows selected by the boolean mask `rows`."""
        return _Groups.of(self.codes[rows], self.count)


class _Why:
    """Why one model's metric has no value in each group, in words: recorded with the mask that
    makes the group's value NaN, so a dash in the report always comes with its reason."""

    def __init__(self, name: str, g: _Groups, frame: _Frame, which: str) -> None:
        import numpy as np

        self.name, self.g, self.frame = name, g, frame
        self.who = "candidate" if which == "cand" else "baseline"
        self.missing = np.zeros(g.count, dtype=bool)
        self.text: list[str | None] = [None] * g.count

    def record(self, missing: np.ndarray, reason: Callable[[int], str]) -> None:
        """Mark the groups in `missing` as undefined; the first reason recorded for a group stands."""
        import numpy as np

        for i in np.flatnonzero(missing & ~self.missing):
            self.text[i] = reason(int(i))
        self.missing |= missing

    def rows(self, i: int) -> str:
        n = int(self.g.size[i])
        return "this 1 row" if n == 1 else f"these {n:,} rows"

    def bad_rows(self, flags: np.ndarray, what: str) -> None:
        """Undefined where inputs are refused, `flags` per row (or per row and column); `what` says how,
        e.g. "probabilities lie outside [0, 1]"."""
        import numpy as np

        count = self.g.sum(np.asarray(flags.reshape(len(flags), -1).any(axis=1), dtype=float))
        self.record(count > 0, lambda i: f"the {self.who}'s {what} on {int(count[i]):,} of {self.rows(i)}")

    def classes(self, missing: np.ndarray, counts: np.ndarray) -> None:
        """Undefined for lack of a class: `counts[group, class]` are the rows of each class."""
        import numpy as np

        def reason(i: int) -> str:
            present, absent = np.flatnonzero(counts[i]).tolist(), np.flatnonzero(counts[i] == 0).tolist()
            if len(present) == 1:
                return f"only one class ({self.label(present[0])}) in {self.rows(i)}"
            names = ", ".join(self.label(c) for c in absent)
            return f"no rows of class{'es' if len(absent) > 1 else ''} {names} in {self.rows(i)}"

        self.record(missing, reason)

    def label(self, c: int) -> str:
        return str(self.frame.labels[c]) if self.frame.labels else str(c)

    def apply(self, value: np.ndarray) -> np.ndarray:
        """Return `value` with NaN where a reason was recorded; any other non-finite value gets one too."""
        import numpy as np

        value = np.where(self.missing, np.nan, value)
        self.record(
            ~np.isfinite(value), lambda i: f"the {self.who}'s {self.name} is not a finite number on {self.rows(i)}"
        )
        return value


def _class_counts(g: _Groups, frame: _Frame) -> np.ndarray:
    """Return counts[group, class]: how many of each group's rows hold each class."""
    import numpy as np

    k = frame.n_classes
    return np.bincount(g.codes * k + frame.y, minlength=g.count * k).reshape(g.count, k)


# --- ranking metrics, one sort for all groups ---------------------------------------------------


def _tie_groups(g: _Groups, score: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (order, tie id of each sorted row, group of each tie) for rows sorted by (group, score)."""
    import numpy as np

    order = np.argsort(-score if descending else score)
    if g.count > 1:  # then a stable sort by group keeps the score order within each group
        codes = g.codes[order]
        order = order[np.argsort(codes.astype(np.uint16) if g.count <= 2**16 else codes, kind="stable")]
    s, c = score[order], g.codes[order]
    new = np.empty(len(s), dtype=bool)
    new[:1] = True
    new[1:] = (s[1:] != s[:-1]) | (c[1:] != c[:-1])
    tie = np.cumsum(new) - 1
    return order, tie, c[new]


def _auc_rows(g: _Groups, positive: np.ndarray, score: np.ndarray, which: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Return (roc_auc per group, each row's DeLong structural component within its group).

    The component of a positive row is the share of its group's negatives it outscores (ties
    count 1/2), of a negative row the share of its group's positives that outscore it; the
    group's AUC is the mean over its positives: DeLong's midrank form (Sun & Xu 2014) on one
    sorted order, with running counts restarted at each group. `which`
    ("cand"/"base", binary only) keeps the result for the interval, which needs the same rows.
    """
    import numpy as np

    if which in g.memo:
        return g.memo[which]

    order, tie, tie_group = _tie_groups(g, score, descending=False)
    p = positive[order].astype(float)
    n_ties = int(tie[-1]) + 1
    pos_in = np.bincount(tie, weights=p, minlength=n_ties)
    neg_in = np.bincount(tie, minlength=n_ties) - pos_in
    m = g.sum(positive.astype(float))
    k = g.size - m
    neg_before = (np.cumsum(k) - k)[tie_group]  # negatives of the groups sorted before this one
    pos_through = np.cumsum(m)[tie_group]  # positives up to the end of this group
    neg_below = np.cumsum(neg_in) - neg_in - neg_before
    pos_above = pos_through - np.cumsum(pos_in)
    with np.errstate(divide="ignore", invalid="ignore"):
        v10 = (neg_below + 0.5 * neg_in) / k[tie_group]
        v01 = (pos_above + 0.5 * pos_in) / m[tie_group]
        rows = np.empty(len(score))
        rows[order] = np.where(p > 0, v10[tie], v01[tie])
        auc = np.bincount(g.codes[positive], weights=rows[positive], minlength=g.count) / m
    result = np.where((m > 0) & (k > 0), auc, np.nan), rows
    if which:
        g.memo[which] = result
    return result


def _average_precision(g: _Groups, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Return scikit-learn's step-wise average precision per group (0 where a group has no positives).

    Sum over distinct score thresholds, highest first, of Δrecall · precision, as
    `sklearn.metrics.average_precision_score` computes it.
    """
    import numpy as np

    order, tie, tie_group = _tie_groups(g, score, descending=True)
    n_ties = int(tie[-1]) + 1
    tp_in = np.bincount(tie, weights=positive[order].astype(float), minlength=n_ties)
    all_in = np.bincount(tie, minlength=n_ties).astype(float)
    m = g.sum(positive.astype(float))
    tp_before = (np.cumsum(m) - m)[tie_group]
    rows_before = (np.cumsum(g.size) - g.size)[tie_group]
    precision = (np.cumsum(tp_in) - tp_before) / (np.cumsum(all_in) - rows_before)
    with np.errstate(divide="ignore", invalid="ignore"):
        ap = np.bincount(tie_group, weights=tp_in * precision, minlength=g.count) / m
    return np.where(m > 0, ap, 0.0)


def _ranking_points(name: str, g: _Groups, frame: _Frame, which: str, why: _Why) -> np.ndarray:
    """Return roc_auc or average_precision per group (binary, or multiclass one-vs-rest macro)."""
    import numpy as np

    proba = _proba(name, frame, which)
    counts = _class_counts(g, frame)
    if frame.pos is not None:
        positive = frame.y == frame.pos
        if name == "roc_auc":
            why.classes((counts == 0).any(axis=1), counts)
            return _auc_rows(g, positive, proba[:, frame.pos], which)[0]
        why.classes(counts[:, frame.pos] == 0, counts)  # as `evaluation._value`
        return _average_precision(g, positive, proba[:, frame.pos])
    per_class = np.vstack(
        [
            (
                _auc_rows(g, frame.y == c, proba[:, c])[0]
                if name == "roc_auc"
                else _average_precision(g, frame.y == c, proba[:, c])
            )
            for c in range(frame.n_classes)
        ]
    )
    if name == "roc_auc":
        sums = proba.sum(axis=1)
        not_proba = np.abs(1.0 - sums) > _ALLCLOSE_ATOL + _ALLCLOSE_RTOL * np.abs(sums)
        why.bad_rows(not_proba, "probabilities do not sum to 1")  # sklearn refuses such rows
        why.classes((counts == 0).any(axis=1), counts)  # a class absent from the group, like sklearn
    return per_class.mean(axis=0)


# --- the other metrics' point values -----------------------------------------------------------


def _confusion(g: _Groups, y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Return confusion matrices cm[group, true, predicted]."""
    import numpy as np

    flat = (g.codes * k + y) * k + pred
    return np.bincount(flat, minlength=g.count * k * k).reshape(g.count, k, k).astype(float)


def _from_confusion(name: str, cm: np.ndarray, pos: int | None) -> np.ndarray:
    """Return f1, precision, recall or balanced_accuracy per group from confusion matrices.

    scikit-learn's conventions (`significance.from_confusion`), with the macro averages over the
    classes present in each group's own truth or predictions.
    """
    rows, cols = cm.sum(axis=2), cm.sum(axis=1)
    return from_confusion(name, cm, pos, (rows > 0) | (cols > 0))


def _points(name: str, g: _Groups, frame: _Frame, which: str) -> tuple[np.ndarray, list[str | None]]:
    """Return metric `name` of one model per group, NaN where it is undefined, and why it is undefined there."""
    import numpy as np

    model = frame.cand if which == "cand" else frame.base
    assert model is not None
    y = frame.y
    why = _Why(name, g, frame, which)
    why.record(g.size == 0, lambda i: "no rows")
    # Inputs scikit-learn refuses first: they make every later reason moot.
    if METRICS[name].needs_proba:
        proba = _proba(name, frame, which)
        # A binary metric reads the positive class's column alone; log_loss reads them all.
        scored = proba[:, frame.pos] if frame.pos is not None and name != "log_loss" else proba
        why.bad_rows(~np.isfinite(scored), "probabilities are NaN or infinite")
        if name in ("log_loss", "brier"):
            why.bad_rows((scored > 1) | (scored < 0), "probabilities lie outside [0, 1]")
    elif frame.task == "regression":
        why.bad_rows(~np.isfinite(model.labels), "predictions are NaN or infinite")

    if name == "accuracy":
        value = g.mean((model.labels == y).astype(float))
    elif name in _CONFUSION:
        value = _from_confusion(name, _confusion(g, y, model.labels, frame.n_classes), frame.pos)
    elif name in ("roc_auc", "average_precision"):
        value = _ranking_points(name, g, frame, which, why)
    elif name in ("log_loss", "brier", "mae", "mape"):
        value = g.mean(_row_losses(name, frame, which))
    elif name == "rmse":
        value = np.sqrt(g.mean(_row_losses(name, frame, which)))
    elif name == "r2":
        why.record(g.size < 2, lambda i: f"only {int(g.size[i])} row, and r2 needs at least 2")
        value = _r2(g, y, _row_losses(name, frame, which))
    else:  # pragma: no cover - METRICS is closed
        raise ValueError(name)
    return why.apply(value), why.text


def _r2(g: _Groups, y: np.ndarray, squared_error: np.ndarray) -> np.ndarray:
    """Return r2 per group with scikit-learn's conventions: NaN below 2 rows; 1 or 0 when y is constant."""
    import numpy as np

    sse = g.sum(squared_error)
    dev = y - g.mean(y)[g.codes]
    sst = g.sum(dev * dev)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1 - sse / sst, np.where(sse == 0, 1.0, 0.0))
    return np.where(g.size >= 2, r2, np.nan)


# --- paired intervals, vectorised where a closed form exists ----------------------------------


@dataclass
class _Intervals:
    """Per-group interval of the paired difference: NaN bounds where there is none."""

    method: str
    low: np.ndarray
    high: np.ndarray
    p: np.ndarray


def _normal(delta: np.ndarray, se: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the normal interval's bounds and two-sided p-values; the point itself where se is 0."""
    import numpy as np
    from scipy import stats

    z = float(stats.norm.ppf(0.5 + confidence / 2))
    spread = se > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(spread, 2 * stats.norm.sf(np.abs(delta) / se), np.where(delta == 0, 1.0, 0.0))
    return np.where(spread, delta - z * se, delta), np.where(spread, delta + z * se, delta), p


def _t_interval(g: _Groups, diff: np.ndarray, confidence: float) -> _Intervals:
    """Return the t-interval and two-sided p-value of the mean of paired per-row differences, per group."""
    import numpy as np
    from scipy import stats

    mean = g.mean(diff)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(g.var(diff)) / np.sqrt(g.size)
        df = np.maximum(g.size - 1, 1)
        t = stats.t.ppf(0.5 + confidence / 2, df)
        spread = se > 0
        p = np.where(spread, 2 * stats.t.sf(np.abs(mean) / se, df), np.where(mean == 0, 1.0, 0.0))
    ok = g.size >= 2
    low = np.where(ok, np.where(spread, mean - t * se, mean), np.nan)
    high = np.where(ok, np.where(spread, mean + t * se, mean), np.nan)
    return _Intervals("paired-t", low, high, np.where(ok, p, np.nan))


def _mcnemar(g: _Groups, right_c: np.ndarray, right_b: np.ndarray, confidence: float) -> _Intervals:
    """Return the accuracy difference's Wald interval with McNemar's exact p-value, per group."""
    import numpy as np
    from scipy import stats

    n10 = g.sum((right_c & ~right_b).astype(float))
    n01 = g.sum((~right_c & right_b).astype(float))
    disc = n10 + n01
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (n10 - n01) / g.size
        p = np.where(disc == 0, 1.0, np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(n10, n01), disc, 0.5)))
        var = (disc - (n10 - n01) ** 2 / g.size) / g.size**2
    half = float(stats.norm.ppf(0.5 + confidence / 2)) * np.sqrt(np.maximum(var, 0.0))
    return _Intervals("mcnemar", delta - half, delta + half, p)


def _delong(g: _Groups, frame: _Frame, confidence: float) -> _Intervals:
    """Return DeLong's paired interval per group: none where either class has fewer than 2 rows."""
    import numpy as np

    assert frame.pos is not None
    positive = frame.y == frame.pos
    auc_c, rows_c = _auc_rows(g, positive, _proba("roc_auc", frame, "cand")[:, frame.pos], "cand")
    auc_b, rows_b = _auc_rows(g, positive, _proba("roc_auc", frame, "base")[:, frame.pos], "base")
    d = rows_c - rows_b
    pos_g, neg_g = g.within(positive), g.within(~positive)
    m, k = pos_g.size, neg_g.size
    with np.errstate(divide="ignore", invalid="ignore"):
        var = pos_g.var(d[positive]) / m + neg_g.var(d[~positive]) / k
    low, high, p = _normal(auc_c - auc_b, np.sqrt(np.maximum(var, 0.0)), confidence)
    ok = (m >= 2) & (k >= 2)
    return _Intervals("delong", np.where(ok, low, np.nan), np.where(ok, high, np.nan), np.where(ok, p, np.nan))


def _rmse_delta(g: _Groups, sq_c: np.ndarray, sq_b: np.ndarray, confidence: float) -> _Intervals:
    """Return the delta-method interval of rmse_c - rmse_b per group: none where either rmse is 0."""
    import numpy as np

    rmse_c, rmse_b = np.sqrt(g.mean(sq_c)), np.sqrt(g.mean(sq_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        infl = sq_c / (2 * rmse_c[g.codes]) - sq_b / (2 * rmse_b[g.codes])
        se = np.sqrt(g.var(infl)) / np.sqrt(g.size)
    low, high, p = _normal(rmse_c - rmse_b, se, confidence)
    ok = (g.size >= 2) & (rmse_c > 0) & (rmse_b > 0)
    return _Intervals("delta-method", np.where(ok, low, np.nan), np.where(ok, high, np.nan), np.where(ok, p, np.nan))


def _closed_form(name: str, g: _Groups, frame: _Frame, confidence: float) -> _Intervals | None:
    """Return the vectorised paired interval of `name`, None for the bootstrap metrics."""
    assert frame.base is not None
    if name == "roc_auc" and frame.pos is not None:
        return _delong(g, frame, confidence)
    if name == "accuracy":
        return _mcnemar(g, frame.cand.labels == frame.y, frame.base.labels == frame.y, confidence)
    if name in _MEAN_LOSSES:
        return _t_interval(g, _row_losses(name, frame, "cand") - _row_losses(name, frame, "base"), confidence)
    if name == "rmse":
        return _rmse_delta(g, _row_losses(name, frame, "cand"), _row_losses(name, frame, "base"), confidence)
    return None


def _bootstrap(name: str, g: _Groups, frame: _Frame, stats: StatisticsSection, wanted: np.ndarray) -> _Intervals:
    """Return the paired bootstrap interval of `name` for each wanted group, one group at a time."""
    import numpy as np

    low, high, p = (np.full(g.count, np.nan) for _ in range(3))
    order = np.argsort(g.codes, kind="stable")  # each group's rows are then one contiguous run
    ends = np.cumsum(g.size).astype(np.intp)
    for i in np.flatnonzero(wanted):
        rows = order[ends[i] - int(g.size[i]) : ends[i]]
        _, iv = _paired(name, frame if g.count == 1 else frame.subset(rows), stats)
        if iv is not None:
            low[i], high[i], p[i] = iv.low, iv.high, iv.p
    return _Intervals("bootstrap", low, high, p)


# --- assembly ------------------------------------------------------------------------------------


def _value(x: float) -> float | None:
    return x if math.isfinite(x) else None


def group_results(
    names: list[str], frame: _Frame, codes: np.ndarray, count: int, stats: StatisticsSection
) -> list[list[MetricResult]]:
    """Return, for each group 0..count-1, the results of `names` (in that order) on the group's rows.

    `codes` gives each row's group. A group's result is what `compare` reports for those rows
    alone: candidate and baseline values, their difference and its paired interval (none when
    either value is undefined or the group has fewer than 2 rows), and in `undefined` why a
    value is missing.
    """
    import numpy as np

    g = _Groups.of(codes, count)
    out: list[list[MetricResult]] = [[] for _ in range(count)]
    for name in names:
        gib = METRICS[name].greater_is_better
        cand_arr, cand_why = _points(name, g, frame, "cand")
        cand = cand_arr.tolist()
        if frame.base is None:
            for i in range(count):
                c = _value(cand[i])
                out[i].append(MetricResult(name, gib, None, c, None, None, None, None, None, "none", cand_why[i]))
            continue
        base_arr, base_why = _points(name, g, frame, "base")
        base = base_arr.tolist()
        wanted = np.isfinite(cand_arr) & np.isfinite(base_arr) & (g.size >= 2)
        iv: _Intervals | None = None
        if wanted.any():
            iv = _closed_form(name, g, frame, stats.confidence) or _bootstrap(name, g, frame, stats, wanted)
        method = "none" if iv is None else iv.method
        nan = [math.nan] * count
        low, high, p = (nan, nan, nan) if iv is None else (iv.low.tolist(), iv.high.tolist(), iv.p.tolist())
        for i in range(count):
            c, b = _value(cand[i]), _value(base[i])
            if c is None or b is None:
                # Said once when both models lack a value for the same reason (one class in the rows).
                why = "; ".join(dict.fromkeys(r for r in (cand_why[i], base_why[i]) if r)) or None
                out[i].append(MetricResult(name, gib, b, c, None, None, None, None, None, "none", why))
                continue
            delta = c - b
            has = bool(wanted[i])
            out[i].append(
                MetricResult(
                    name=name,
                    greater_is_better=gib,
                    baseline=b,
                    candidate=c,
                    delta=delta,
                    relative_delta=delta / abs(b) if b != 0 else None,
                    ci_low=_value(low[i]) if has else None,
                    ci_high=_value(high[i]) if has else None,
                    p_value=_value(p[i]) if has else None,
                    method=method if has else "none",
                )
            )
    return out
