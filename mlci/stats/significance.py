"""Paired significance: the interval and p-value of a metric's difference on the same rows.

Every interval here is about the *paired* difference `metric(candidate) - metric(baseline)`:
both models score the same rows, so row-level noise cancels and the comparison is much sharper
than two independent intervals would be. Each metric (mlci.stats.metrics) picks its method:

- closed forms, vectorised over groups of rows (all slices of a column at once): DeLong for
  binary roc_auc, McNemar for accuracy, the paired t-interval for means of per-row losses, the
  delta method for rmse;
- the paired bootstrap for the rest, one group at a time (`bootstrap_groups`), each with a
  kernel that resamples without a loop over rows: confusion-cell multinomials, re-weighted
  presorted scores, weighted sums for r2.

numpy and scipy are imported inside the functions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from mlci.stats.evaluation import Frame
    from mlci.stats.groupwise import Groups

# Upper bound on the elements of one bootstrap chunk (resamples x rows), ~32 MB of float64.
CHUNK_ELEMENTS = 4_000_000

#: DeLong's interval on a slice needs at least this many rows of each class: with fewer
#: positives its normal approximation does not hold (8% type-I error at ~8 positives).
MIN_CLASS_ROWS = 10


@dataclass
class Interval:
    """A confidence interval of a paired difference, with the two-sided p-value of no difference."""

    low: float
    high: float
    p: float


#: What a bootstrap returns where every resample gives the same difference.
NO_INFORMATION = Interval(math.nan, math.nan, math.nan)


@dataclass
class GroupIntervals:
    """Per-group interval of the paired difference: NaN bounds where there is none.

    `method` is the name the report shows for it (MetricResult.method); `why[i]` says in words
    why group i has no interval when the data hold no information about a difference (the
    models agree on every row) or the method's assumptions do not hold there (too few
    positives for DeLong): never a zero-width interval that would claim certainty.
    """

    method: str
    low: np.ndarray
    high: np.ndarray
    p: np.ndarray
    why: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.why:
            self.why = [None] * len(self.low)

    def without(self, mask: np.ndarray, reason: Callable[[int], str]) -> GroupIntervals:
        """Return these intervals with none in the groups of `mask`, each with its reason."""
        import numpy as np

        why = list(self.why)
        for i in np.flatnonzero(mask):
            if why[i] is None and np.isfinite(self.low[i]):
                why[i] = reason(int(i))
        nan = np.where(mask, np.nan, 0.0)
        return GroupIntervals(self.method, self.low + nan, self.high + nan, self.p + nan, why)

    def agreeing(self, confidence: float) -> GroupIntervals:
        """Return these intervals made to agree with their p-values by construction.

        An interval that excludes 0 while p >= 1 - confidence is stretched to 0 on its near
        side, so no report ever shows a "significant" interval beside a p-value that is not.
        Only the bootstrap's discrete tails can differ at all (its percentile interval and its
        tail-count p-value are two readings of one set of resamples); for the closed forms
        this is a no-op.
        """
        import numpy as np

        weak = self.p >= 1 - confidence
        with np.errstate(invalid="ignore"):
            low = np.where(weak & (self.low > 0), 0.0, self.low)
            high = np.where(weak & (self.high < 0), 0.0, self.high)
        return GroupIntervals(self.method, low, high, self.p, list(self.why))


# --- closed forms, vectorised over groups ---------------------------------------------------------


def _normal(
    delta: np.ndarray, se: np.ndarray, confidence: float, df: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the normal (or, with `df`, Student t) interval's bounds and two-sided p-values.

    Where se is 0 the bounds are the point itself; callers drop those groups (no information).
    """
    import numpy as np
    from scipy import stats

    dist = stats.norm if df is None else stats.t(np.maximum(df, 1))
    q = dist.ppf(0.5 + confidence / 2)
    spread = se > 0  # identical predictions: no spread, nothing to test
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(spread, 2 * dist.sf(np.abs(delta) / se), np.where(delta == 0, 1.0, 0.0))
    return np.where(spread, delta - q * se, delta), np.where(spread, delta + q * se, delta), p


def paired_t(g: Groups, diff: np.ndarray, confidence: float) -> GroupIntervals:
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
    iv = GroupIntervals("paired-t", low, high, np.where(ok, p, np.nan))
    return iv.without(~spread, lambda i: "both models give every row the same loss: no information on a difference")


def _wilson(x: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Return Wilson's score interval of the proportions x/n."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def mcnemar(g: Groups, right_c: np.ndarray, right_b: np.ndarray, confidence: float) -> GroupIntervals:
    """Return the accuracy difference's interval with McNemar's exact p-value, per group.

    The p-value is the exact binomial test of the discordant pairs (n10 vs n01, p=1/2). The
    interval is Newcombe's score interval for a paired difference of proportions (method 10 of
    Newcombe 1998: Wilson intervals of both accuracies joined with the paired correlation),
    which holds its coverage with a handful of discordant pairs where the Wald interval does
    not. It is widened to the exact conditional interval (Clopper-Pearson for n10 of n10+n01,
    scaled by (n10+n01)/n) where that is wider, and the conditional interval excludes 0 exactly
    when the exact p-value is below 1 - confidence: so an interval that excludes 0 always
    comes with p < 1 - confidence, by construction. No discordant pair at all: no interval —
    the models agree on every row, which says nothing about how they differ elsewhere.
    """
    import numpy as np
    from scipy import stats

    n = g.size
    n10 = g.sum((right_c & ~right_b).astype(float))
    n01 = g.sum((~right_c & right_b).astype(float))
    both = g.sum((right_c & right_b).astype(float))
    neither = n - n10 - n01 - both
    disc = n10 + n01
    alpha = 1 - confidence
    z = float(stats.norm.ppf(1 - alpha / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (n10 - n01) / n
        p = np.where(disc == 0, 1.0, np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(n10, n01), disc, 0.5)))
        # Newcombe's method 10
        acc_c, acc_b = (both + n10) / n, (both + n01) / n
        l1, u1 = _wilson(both + n10, n, z)
        l2, u2 = _wilson(both + n01, n, z)
        margins = (both + n10) * (n01 + neither) * (both + n01) * (n10 + neither)
        phi = np.where(margins > 0, (both * neither - n10 * n01) / np.sqrt(margins), 0.0)
        low = delta - np.sqrt(
            np.maximum((acc_c - l1) ** 2 - 2 * phi * (acc_c - l1) * (u2 - acc_b) + (u2 - acc_b) ** 2, 0)
        )
        high = delta + np.sqrt(
            np.maximum((u1 - acc_c) ** 2 - 2 * phi * (u1 - acc_c) * (acc_b - l2) + (acc_b - l2) ** 2, 0)
        )
        # the exact conditional interval
        cp_low = np.where(n10 > 0, stats.beta.ppf(alpha / 2, n10, n01 + 1), 0.0)
        cp_high = np.where(n01 > 0, stats.beta.ppf(1 - alpha / 2, n10 + 1, n01), 1.0)
        scale = disc / n
    low = np.minimum(low, scale * (2 * cp_low - 1))
    high = np.maximum(high, scale * (2 * cp_high - 1))
    iv = GroupIntervals("mcnemar", low, high, p)
    return iv.without(
        disc == 0, lambda i: "the models are right and wrong on the same rows: no information on a difference"
    )


def delong(
    g: Groups,
    positive: np.ndarray,
    auc: tuple[np.ndarray, np.ndarray],
    rows: tuple[np.ndarray, np.ndarray],
    confidence: float,
) -> GroupIntervals:
    """Return DeLong's paired interval and p-value for auc_c - auc_b, per group.

    `auc` are both models' AUCs per group and `rows` their DeLong structural components
    (`groupwise.auc_rows`). Var(auc_c - auc_b) = Var(v10_c - v10_b)/m + Var(v01_c - v01_b)/n,
    the covariance form of DeLong et al. (1988) written on the per-row differences. No interval
    where either class has fewer than 2 rows (the variance is undefined).
    """
    import numpy as np

    d = rows[0] - rows[1]
    pos_g, neg_g = g.within(positive), g.within(~positive)
    m, k = pos_g.size, neg_g.size
    with np.errstate(divide="ignore", invalid="ignore"):
        var = pos_g.var(d[positive]) / m + neg_g.var(d[~positive]) / k
    se = np.sqrt(np.maximum(var, 0.0))
    low, high, p = _normal(auc[0] - auc[1], se, confidence)
    ok = (m >= 2) & (k >= 2)
    iv = GroupIntervals("delong", np.where(ok, low, np.nan), np.where(ok, high, np.nan), np.where(ok, p, np.nan))
    iv = iv.without(
        (m < MIN_CLASS_ROWS) | (k < MIN_CLASS_ROWS),
        lambda i: (
            f"{int(min(m[i], k[i]))} rows of the rarer class; DeLong's interval needs at least {MIN_CLASS_ROWS} of each"
        ),
    )
    return iv.without(~(se > 0), lambda i: "both models rank these rows alike: no information on a difference")


def rmse_delta(g: Groups, sq_c: np.ndarray, sq_b: np.ndarray, confidence: float) -> GroupIntervals:
    """Return the delta-method interval of rmse_c - rmse_b per group, from each row's squared errors.

    rmse = sqrt(mean(squared error)) is a smooth function of a mean, so its difference has the
    influence function e_c²/(2·rmse_c) - e_b²/(2·rmse_b) per row; the normal interval of that
    mean is first-order exact and costs one pass, where a bootstrap would cost `resamples`
    passes over up to millions of rows. The quantile is Student's t with n - 1 degrees of
    freedom, as for any mean of n rows: z undercovers in small slices (89-91% at 20 rows).
    Undefined when either rmse is 0.
    """
    import numpy as np

    rmse_c, rmse_b = np.sqrt(g.mean(sq_c)), np.sqrt(g.mean(sq_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        infl = sq_c / (2 * rmse_c[g.codes]) - sq_b / (2 * rmse_b[g.codes])
        se = np.sqrt(g.var(infl)) / np.sqrt(g.size)
    low, high, p = _normal(rmse_c - rmse_b, se, confidence, df=g.size - 1)
    ok = (g.size >= 2) & (rmse_c > 0) & (rmse_b > 0)
    iv = GroupIntervals("delta-method", np.where(ok, low, np.nan), np.where(ok, high, np.nan), np.where(ok, p, np.nan))
    return iv.without(~(se > 0), lambda i: "both models make the same errors: no information on a difference")


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
    if np.ptp(d) == 0 and d[0] == 0:
        # Every resample gives no difference (the models agree on every row): that is no
        # information, not a zero-width certainty. The same nonzero difference in every resample
        # (a slice where one model finds every positive and the other none) is the strongest
        # evidence a bootstrap can give, and is read as such below.
        return NO_INFORMATION
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


# --- bootstrap kernels: the paired bootstrap of metrics with no closed form ------------------


def bootstrap_confusion(
    score: Callable[[np.ndarray], np.ndarray],
    y: np.ndarray,
    labels_c: np.ndarray,
    labels_b: np.ndarray,
    n_classes: int,
    resamples: int,
    seed: int,
    confidence: float,
) -> Interval | None:
    """Return the paired bootstrap of a confusion-matrix metric, exactly and without row loops.

    Such a metric depends only on how many rows fall in each (truth, candidate, baseline) cell,
    and resampling n rows with replacement draws those cell counts from a multinomial with the
    observed cell shares. So we draw the multinomial directly: O(resamples x cells), whatever n.
    `score(cm)` is the metric of confusion matrices cm[..., true, predicted], NaN where it is
    undefined (such resamples are dropped, see `bootstrap_summary`).
    """
    import numpy as np

    k, n = n_classes, len(y)
    codes = (y * k + labels_c) * k + labels_b
    counts = np.bincount(codes, minlength=k**3)
    cells = np.flatnonzero(counts)
    rng = np.random.default_rng(seed)
    deltas = []
    chunk = max(1, CHUNK_ELEMENTS // max(k**3, 1))
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        draw = np.zeros((b, k**3))
        draw[:, cells] = rng.multinomial(n, counts[cells] / n, size=b)
        joint = draw.reshape(b, k, k, k)  # [resample, truth, candidate, baseline]
        cm_c = joint.sum(axis=3)
        cm_b = joint.sum(axis=2)
        deltas.append(score(cm_c) - score(cm_b))
    return bootstrap_summary(np.concatenate(deltas), confidence)


@dataclass
class Ranked:
    """One score column presorted once, so each resample only re-weights rows."""

    order: np.ndarray
    starts: np.ndarray  # first sorted position of each tie group
    positive: np.ndarray  # is the row (in sorted order) of the scored class
    ties: bool


def ranked(score: np.ndarray, positive: np.ndarray, descending: bool) -> Ranked:
    import numpy as np

    order = np.argsort(-score if descending else score, kind="stable")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    return Ranked(order, starts, positive[order], len(starts) < len(s))


def _tie_weights(r: Ranked, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (row weights in sorted order, positive and negative weight per tie group)."""
    import numpy as np

    ws = np.take(w, r.order, axis=0)
    gp = ws * r.positive.astype(w.dtype)[:, None]  # positive weight per tie group (a row each without ties)
    gn = ws - gp
    if r.ties:
        gp = np.add.reduceat(gp, r.starts, axis=0)
        gn = np.add.reduceat(gn, r.starts, axis=0)
    return ws, gp, gn


def weighted_auc(r: Ranked, w: np.ndarray) -> np.ndarray:
    """Return roc_auc for each column of weights `w` (n, chunk), `r` sorted by ascending score."""
    import numpy as np

    _, gp, gn = _tie_weights(r, w)
    p_tot, n_tot = gp.sum(axis=0, dtype=np.float64), gn.sum(axis=0, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        below = np.cumsum(gn, axis=0) - gn  # negatives below, half of the tied ones
        return (gp * (below + 0.5 * gn)).sum(axis=0, dtype=np.float64) / (p_tot * n_tot)


def weighted_average_precision(r: Ranked, w: np.ndarray) -> np.ndarray:
    """Return average_precision for each column of weights `w` (n, chunk), `r` sorted by descending score.

    scikit-learn's step-wise AP: the sum over thresholds of Δrecall · precision.
    """
    import numpy as np

    ws, gp, gn = _tie_weights(r, w)
    p_tot = gp.sum(axis=0, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        tps = np.cumsum(gp, axis=0)
        seen = np.cumsum(ws, axis=0) if not r.ties else tps + np.cumsum(gn, axis=0)
        precision = np.divide(tps, seen, out=np.zeros_like(tps), where=seen > 0)
        return (gp * precision).sum(axis=0, dtype=np.float64) / p_tot


def bootstrap_ranking(
    kernel: Callable[[Ranked, np.ndarray], np.ndarray],
    descending: bool,
    y: np.ndarray,
    proba_c: np.ndarray,
    proba_b: np.ndarray,
    scored: list[int],
    resamples: int,
    seed: int,
    confidence: float,
) -> Interval | None:
    """Return the paired bootstrap of a ranking metric, macro-averaged over the `scored` classes.

    `kernel` is the metric for each column of bootstrap weights (`weighted_auc`, which ranks by
    ascending score, or `weighted_average_precision`, by descending score). `scored` are the
    class columns of the probabilities that count: the positive class of a binary task, every
    class of a multiclass one (macro average).
    """
    import numpy as np

    by_model = {
        which: [ranked(proba[:, c], y == c, descending) for c in scored]
        for which, proba in (("cand", proba_c), ("base", proba_b))
    }
    # float32 halves the memory traffic of these O(resamples x rows) passes (~2.5x faster); it
    # holds integer counts and their running sums exactly below 2**24 rows, and the remaining
    # rounding (~1e-6 relative) is far below the spread of any bootstrap distribution.
    dtype = np.float32 if len(y) < 2**24 else np.float64
    deltas = []
    for w in resample_weights(len(y), resamples, seed, dtype):
        with warnings.catch_warnings():
            # A resample without some class has no AUC for it: NaN, which the mean skips and
            # the summary counts; numpy's "Mean of empty slice" would only repeat that.
            warnings.simplefilter("ignore", RuntimeWarning)
            value = {
                which: np.nanmean(np.vstack([kernel(r, w) for r in rs]), axis=0) if len(rs) > 1 else kernel(rs[0], w)
                for which, rs in by_model.items()
            }
        deltas.append(value["cand"] - value["base"])
    return bootstrap_summary(np.concatenate(deltas), confidence)


def bootstrap_r2(
    y: np.ndarray, pred_c: np.ndarray, pred_b: np.ndarray, resamples: int, seed: int, confidence: float
) -> Interval | None:
    """Return the paired bootstrap of r2 from four weighted sums per resample."""
    import numpy as np

    centred = y - y.mean()  # centring keeps the total sum of squares numerically stable
    cols = np.column_stack([centred, centred**2, (y - pred_c) ** 2, (y - pred_b) ** 2])
    n = len(y)
    deltas = []
    for w in resample_weights(n, resamples, seed):
        s = cols.T @ w  # (4, chunk) weighted sums
        sst = s[1] - s[0] ** 2 / n
        with np.errstate(divide="ignore", invalid="ignore"):
            deltas.append(np.where(sst > 0, (s[3] - s[2]) / sst, np.nan))  # r2_c - r2_b
    return bootstrap_summary(np.concatenate(deltas), confidence)


def bootstrap_groups(
    g: Groups, frame: Frame, wanted: np.ndarray, interval: Callable[[Frame], Interval | None]
) -> GroupIntervals:
    """Return the paired bootstrap interval of each wanted group, `interval` run on the group's rows alone."""
    import numpy as np

    low, high, p = (np.full(g.count, np.nan) for _ in range(3))
    why: list[str | None] = [None] * g.count
    order = np.argsort(g.codes, kind="stable")  # each group's rows are then one contiguous run
    ends = np.cumsum(g.size).astype(np.intp)
    for i in np.flatnonzero(wanted):
        rows = order[ends[i] - int(g.size[i]) : ends[i]]
        iv = interval(frame if g.count == 1 else frame.subset(rows))
        if iv is NO_INFORMATION:
            why[i] = "every resample gives the same difference (the models agree on these rows): no information"
        elif iv is not None:
            low[i], high[i], p[i] = iv.low, iv.high, iv.p
    return GroupIntervals("bootstrap", low, high, p, why)
