"""Every metric and its paired interval for many groups of rows at once: the slices of a column,
or all test rows as one group.

One pass per metric over all rows, whatever the number of groups: each metric's point value
comes from the same per-row quantities its paired statistics use (DeLong's structural
components for binary roc_auc, per-row losses, confusion counts), summed per group with
`np.bincount` over the group codes and, for ranking metrics, one sort by (group, score). So a
slice column with 5,000 categories costs a few vectorised passes over the rows, not 5,000
calls into scikit-learn. The values equal scikit-learn's (tests/test_groupwise.py checks every
metric and task against it); where scikit-learn calls a metric undefined on some rows (one
class present, probabilities outside [0, 1]), the group's value is NaN, as `compare` reports it.

Intervals with a closed form (DeLong, McNemar, the paired t-interval, the delta method) are
vectorised over groups too. The bootstrap metrics (f1, precision, recall, balanced_accuracy,
average_precision, r2, multiclass roc_auc) resample each group on its own rows with
`evaluation._paired`, one call per group, on contiguous views of the rows sorted by group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlci.evaluation import _CONFUSION, _MEAN_LOSSES, MetricResult, _Frame, _paired, _proba, _row_losses
from mlci.metrics import METRICS

if TYPE_CHECKING:
    import numpy as np

    from mlci.config import StatisticsSection

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

    def any(self, flags: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.bincount(self.codes[flags], minlength=self.count) > 0

    def within(self, rows: np.ndarray) -> _Groups:
        """Return the groups of the rows selected by the boolean mask `rows`."""
        return _Groups.of(self.codes[rows], self.count)


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
    group's AUC is the mean over its positives. The same midrank computation as
    `significance._delong_components`, with running counts restarted at each group. `which`
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


def _ranking_points(name: str, g: _Groups, frame: _Frame, which: str) -> np.ndarray:
    """Return roc_auc or average_precision per group (binary, or multiclass one-vs-rest macro)."""
    import numpy as np

    proba = _proba(name, frame, which)
    if frame.pos is not None:
        positive = frame.y == frame.pos
        if name == "roc_auc":
            return _auc_rows(g, positive, proba[:, frame.pos], which)[0]
        ap = _average_precision(g, positive, proba[:, frame.pos])
        return np.where(g.sum(positive.astype(float)) > 0, ap, np.nan)  # as `evaluation._value`
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
    value = per_class.mean(axis=0)  # NaN for roc_auc when a class is absent from the group, like sklearn
    if name == "roc_auc":
        sums = proba.sum(axis=1)
        not_proba = np.abs(1.0 - sums) > _ALLCLOSE_ATOL + _ALLCLOSE_RTOL * np.abs(sums)
        value = np.where(g.any(not_proba), np.nan, value)  # sklearn refuses rows not summing to 1
    return value


# --- the other metrics' point values -----------------------------------------------------------


def _confusion(g: _Groups, y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Return confusion matrices cm[group, true, predicted]."""
    import numpy as np

    flat = (g.codes * k + y) * k + pred
    return np.bincount(flat, minlength=g.count * k * k).reshape(g.count, k, k).astype(float)


def _from_confusion(name: str, cm: np.ndarray, pos: int | None) -> np.ndarray:
    """Return f1, precision, recall or balanced_accuracy per group from confusion matrices.

    scikit-learn's conventions: zero denominators give 0 (zero_division=0); macro averages run
    over the classes present in the group's truth or predictions; balanced accuracy is the
    mean recall over the classes present in the truth.
    """
    import numpy as np

    diag = np.diagonal(cm, axis1=1, axis2=2)
    rows, cols = cm.sum(axis=2), cm.sum(axis=1)

    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)

    if name == "balanced_accuracy":
        has = rows > 0
        return ratio(np.where(has, ratio(diag, rows), 0.0).sum(axis=1), has.sum(axis=1).astype(float))
    per_class = {
        "precision": lambda: ratio(diag, cols),
        "recall": lambda: ratio(diag, rows),
        "f1": lambda: ratio(2 * diag, rows + cols),
    }[name]()
    if pos is not None:
        return per_class[:, pos]
    present = (rows > 0) | (cols > 0)
    return ratio((per_class * present).sum(axis=1), present.sum(axis=1).astype(float))


def _outside_unit(g: _Groups, p: np.ndarray) -> np.ndarray:
    """Return per group whether any probability lies outside [0, 1] (scikit-learn refuses them)."""
    import numpy as np

    bad: np.ndarray = np.asarray((p > 1) | (p < 0))
    if bad.ndim > 1:
        bad = np.asarray(bad.any(axis=1))
    return g.any(bad)


def _points(name: str, g: _Groups, frame: _Frame, which: str) -> np.ndarray:
    """Return metric `name` of one model per group, NaN where it is undefined."""
    import numpy as np

    model = frame.cand if which == "cand" else frame.base
    assert model is not None
    y = frame.y
    if name == "accuracy":
        return g.mean((model.labels == y).astype(float))
    if name in _CONFUSION:
        return _from_confusion(name, _confusion(g, y, model.labels, frame.n_classes), frame.pos)
    if name in ("roc_auc", "average_precision"):
        return _ranking_points(name, g, frame, which)
    if name == "log_loss":
        return np.where(_outside_unit(g, _proba(name, frame, which)), np.nan, g.mean(_row_losses(name, frame, which)))
    if name == "brier":
        proba = _proba(name, frame, which)
        checked = proba[:, frame.pos] if frame.pos is not None else proba
        return np.where(_outside_unit(g, checked), np.nan, g.mean(_row_losses(name, frame, which)))
    if name in ("mae", "mape"):
        return g.mean(_row_losses(name, frame, which))
    if name == "rmse":
        return np.sqrt(g.mean(_row_losses(name, frame, which)))
    if name == "r2":
        return _r2(g, y, _row_losses(name, frame, which))
    raise ValueError(name)  # pragma: no cover - METRICS is closed


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
    """Vectorised `significance.normal_interval`."""
    import numpy as np
    from scipy import stats

    z = float(stats.norm.ppf(0.5 + confidence / 2))
    spread = se > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(spread, 2 * stats.norm.sf(np.abs(delta) / se), np.where(delta == 0, 1.0, 0.0))
    return np.where(spread, delta - z * se, delta), np.where(spread, delta + z * se, delta), p


def _t_interval(g: _Groups, diff: np.ndarray, confidence: float) -> _Intervals:
    """Vectorised `significance.paired_mean_interval`."""
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
    """Vectorised `significance.mcnemar`."""
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
    """Vectorised `significance.delong`: no interval where either class has fewer than 2 rows."""
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
    """Vectorised `significance.rmse_delta`: no interval where either rmse is 0."""
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
    either value is undefined or the group has fewer than 2 rows).
    """
    import numpy as np

    g = _Groups.of(codes, count)
    out: list[list[MetricResult]] = [[] for _ in range(count)]
    for name in names:
        gib = METRICS[name].greater_is_better
        cand_arr = _points(name, g, frame, "cand")
        cand = cand_arr.tolist()
        if frame.base is None:
            for i in range(count):
                out[i].append(MetricResult(name, gib, None, _value(cand[i]), None, None, None, None, None, "none"))
            continue
        base_arr = _points(name, g, frame, "base")
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
                out[i].append(MetricResult(name, gib, b, c, None, None, None, None, None, "none"))
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
