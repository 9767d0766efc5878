"""Paired significance: the interval and p-value of a metric's difference on the same rows.

Exact or closed-form where they exist (DeLong for ROC AUC, McNemar for accuracy, the t
interval for means of per-row losses, the delta method for RMSE), and the pieces of the
paired bootstrap for the rest. numpy and scipy are imported inside the functions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# Upper bound on the elements of one bootstrap chunk (resamples x rows), ~32 MB of float64.
CHUNK_ELEMENTS = 4_000_000


@dataclass
class Interval:
    """A confidence interval of a paired difference, with the two-sided p-value of no difference."""

    low: float
    high: float
    p: float


def _z(confidence: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(0.5 + confidence / 2))


def normal_interval(delta: float, se: float, confidence: float) -> Interval:
    from scipy import stats

    if not se > 0:  # identical predictions: no spread, nothing to test
        return Interval(delta, delta, 1.0 if delta == 0 else 0.0)
    z = _z(confidence)
    return Interval(delta - z * se, delta + z * se, float(2 * stats.norm.sf(abs(delta) / se)))


def paired_mean_interval(diff: np.ndarray, confidence: float) -> Interval | None:
    """Return the t-interval and two-sided p-value of the mean of paired per-row differences."""
    import numpy as np
    from scipy import stats

    n = len(diff)
    if n < 2:
        return None
    mean = float(np.mean(diff))
    se = float(np.std(diff, ddof=1)) / math.sqrt(n)
    if not se > 0:
        return Interval(mean, mean, 1.0 if mean == 0 else 0.0)
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
    return Interval(mean - t * se, mean + t * se, float(2 * stats.t.sf(abs(mean) / se, n - 1)))


def mcnemar(correct_c: np.ndarray, correct_b: np.ndarray, confidence: float) -> Interval:
    """Return the accuracy difference's interval with McNemar's exact p-value.

    The p-value is the exact binomial test of the discordant pairs (n10 vs n01, p=1/2). The
    interval is the Wald interval of the paired difference of proportions,
    (n10 - n01)/n ± z·sqrt(n10 + n01 - (n10 - n01)²/n)/n: simple and accurate at CI sizes
    (hundreds of rows and more); with a handful of discordant pairs it is a little narrow,
    which the exact p-value does not suffer from.
    """
    import numpy as np
    from scipy import stats

    n = len(correct_c)
    n10 = int(np.count_nonzero(correct_c & ~correct_b))
    n01 = int(np.count_nonzero(~correct_c & correct_b))
    discordant = n10 + n01
    delta = (n10 - n01) / n
    p = 1.0 if discordant == 0 else min(1.0, float(2 * stats.binom.cdf(min(n10, n01), discordant, 0.5)))
    var = (discordant - (n10 - n01) ** 2 / n) / n**2
    z = _z(confidence)
    half = z * math.sqrt(max(var, 0.0))
    return Interval(delta - half, delta + half, p)


def _delong_components(positive: np.ndarray, score: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Return (auc, v10, v01): DeLong's structural components from one sort (midranks).

    v10[i] for positive i is the share of negatives it outscores (ties count 1/2); v01[j] for
    negative j is the share of positives that outscore it. Sun & Xu (2014) get these from
    midranks; computing per tie group on one sorted order is the same thing in O(n log n).
    """
    import numpy as np

    order = np.argsort(score, kind="stable")
    s = score[order]
    pos_sorted = positive[order]
    new_group = np.empty(len(s), dtype=bool)
    new_group[0] = True
    np.not_equal(s[1:], s[:-1], out=new_group[1:])
    gid = np.cumsum(new_group) - 1
    n_groups = int(gid[-1]) + 1
    pos_in = np.bincount(gid, weights=pos_sorted, minlength=n_groups)
    neg_in = np.bincount(gid, minlength=n_groups) - pos_in
    m = float(pos_in.sum())
    k = float(len(s) - m)
    neg_below = np.cumsum(neg_in) - neg_in
    pos_above = m - np.cumsum(pos_in)
    v10_group = (neg_below + 0.5 * neg_in) / k
    v01_group = (pos_above + 0.5 * pos_in) / m
    row_value = np.empty(len(s))
    row_value[order] = np.where(pos_sorted, v10_group[gid], v01_group[gid])
    v10 = row_value[positive]
    v01 = row_value[~positive]
    return float(v10.mean()), v10, v01


def delong(positive: np.ndarray, score_c: np.ndarray, score_b: np.ndarray, confidence: float) -> Interval | None:
    """Return DeLong's paired interval and p-value for auc(score_c) - auc(score_b).

    None when either class has fewer than 2 rows (the variance is undefined).
    """
    import numpy as np

    m = int(np.count_nonzero(positive))
    if m < 2 or len(positive) - m < 2:
        return None
    auc_c, v10_c, v01_c = _delong_components(positive, score_c)
    auc_b, v10_b, v01_b = _delong_components(positive, score_b)
    # Var(auc_c - auc_b) = Var(v10_c - v10_b)/m + Var(v01_c - v01_b)/n, the covariance form of
    # DeLong et al. (1988) written on the per-row differences.
    var = float(np.var(v10_c - v10_b, ddof=1)) / m + float(np.var(v01_c - v01_b, ddof=1)) / (len(positive) - m)
    return normal_interval(auc_c - auc_b, math.sqrt(max(var, 0.0)), confidence)


def rmse_delta(sq_c: np.ndarray, sq_b: np.ndarray, confidence: float) -> Interval | None:
    """Return the delta-method interval of rmse_c - rmse_b.

    rmse = sqrt(mean(squared error)) is a smooth function of a mean, so its difference has the
    influence function e_c²/(2·rmse_c) - e_b²/(2·rmse_b) per row; the normal interval of that
    mean is first-order exact and costs one pass, where a bootstrap would cost `resamples`
    passes over up to millions of rows. Undefined when either rmse is 0.
    """
    import numpy as np

    n = len(sq_c)
    rmse_c, rmse_b = math.sqrt(float(np.mean(sq_c))), math.sqrt(float(np.mean(sq_b)))
    if n < 2 or rmse_c == 0 or rmse_b == 0:
        return None
    infl = sq_c / (2 * rmse_c) - sq_b / (2 * rmse_b)
    return normal_interval(rmse_c - rmse_b, float(np.std(infl, ddof=1)) / math.sqrt(n), confidence)


# --- paired bootstrap ----------------------------------------------------------------------


def bootstrap_summary(deltas: np.ndarray, confidence: float) -> Interval | None:
    """Return the percentile interval and bootstrap p-value of resampled deltas.

    p = min(1, 2·(1 + min(#{d <= 0}, #{d >= 0})) / (B + 1)): twice the smaller tail, with the
    usual +1 so that a finite number of resamples never claims p = 0 (the floor is 2/(B+1)).
    Resamples where the metric is undefined (e.g. one class drawn) are dropped; if more than
    half are, there is no interval.
    """
    import numpy as np

    d = deltas[np.isfinite(deltas)]
    if d.size == 0 or d.size < 0.5 * deltas.size:
        return None
    lo, hi = np.quantile(d, [(1 - confidence) / 2, (1 + confidence) / 2])
    tail = min(int(np.count_nonzero(d <= 0)), int(np.count_nonzero(d >= 0)))
    return Interval(float(lo), float(hi), min(1.0, 2 * (1 + tail) / (d.size + 1)))


def resample_weights(n: int, resamples: int, seed: int, dtype: Any = float) -> Iterator[np.ndarray]:
    """Yield (n, chunk) arrays of bootstrap row counts, `resamples` columns in all.

    Drawing index matrices chunk by chunk keeps memory bounded at any n; bincount turns a
    chunk's indices into per-row multiplicities so every statistic is a weighted sum. Rows
    run down axis 0 so that running sums over rows (cumsum) add contiguous vectors of
    resamples, ~2.5x faster than cumsum along a long last axis.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, CHUNK_ELEMENTS // n))
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(n, b))
        idx *= b
        idx += np.arange(b)
        yield np.bincount(idx.ravel(), minlength=n * b).reshape(n, b).astype(dtype)
        done += b
