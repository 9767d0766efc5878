"""Paired significance: the pieces of the paired bootstrap, for the metrics without a closed form.

The closed forms (DeLong for ROC AUC, McNemar for accuracy, the t interval for means of
per-row losses, the delta method for RMSE) are vectorised over groups in mlci.stats.groupwise.
numpy and scipy are imported inside the functions.
"""

from __future__ import annotations

import warnings
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


# --- bootstrap kernels: the paired bootstrap of metrics with no closed form ------------------


def from_confusion(name: str, cm: np.ndarray, pos: int | None, present: np.ndarray) -> np.ndarray:
    """Return metric `name` from confusion matrices cm[..., true, predicted], vectorised.

    Zero denominators give 0 (sklearn's zero_division=0); macro averages run over `present`,
    the classes seen in the truth or the predictions (sklearn's default label set): a boolean
    mask over the classes, one for all matrices or one per matrix.
    """
    import numpy as np

    diag = np.diagonal(cm, axis1=-2, axis2=-1)
    rows = cm.sum(axis=-1)
    cols = cm.sum(axis=-2)

    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)

    if name == "balanced_accuracy":  # mean recall over the classes present in the truth
        has = rows > 0
        return ratio(np.where(has, ratio(diag, rows), 0.0).sum(axis=-1), has.sum(axis=-1).astype(float))
    per_class = {
        "precision": lambda: ratio(diag, cols),
        "recall": lambda: ratio(diag, rows),
        "f1": lambda: ratio(2 * diag, rows + cols),
    }[name]()
    if pos is not None:
        return per_class[..., pos]
    # `present` is one mask for all (the bootstrap) or one per matrix (groupwise's slices).
    return ratio((per_class * present).sum(axis=-1), np.broadcast_to(present, per_class.shape).sum(axis=-1))


def bootstrap_confusion(
    name: str,
    y: np.ndarray,
    labels_c: np.ndarray,
    labels_b: np.ndarray,
    n_classes: int,
    pos: int | None,
    resamples: int,
    seed: int,
    confidence: float,
) -> Interval | None:
    """Return the paired bootstrap of a confusion-matrix metric, exactly and without row loops.

    Such a metric depends only on how many rows fall in each (truth, candidate, baseline) cell,
    and resampling n rows with replacement draws those cell counts from a multinomial with the
    observed cell shares. So we draw the multinomial directly: O(resamples x cells), whatever n.
    """
    import numpy as np

    k, n = n_classes, len(y)
    codes = (y * k + labels_c) * k + labels_b
    counts = np.bincount(codes, minlength=k**3)
    cells = np.flatnonzero(counts)
    rng = np.random.default_rng(seed)
    present_c = np.bincount(np.r_[y, labels_c], minlength=k) > 0
    present_b = np.bincount(np.r_[y, labels_b], minlength=k) > 0
    deltas = []
    chunk = max(1, CHUNK_ELEMENTS // max(k**3, 1))
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        draw = np.zeros((b, k**3))
        draw[:, cells] = rng.multinomial(n, counts[cells] / n, size=b)
        joint = draw.reshape(b, k, k, k)  # [resample, truth, candidate, baseline]
        cm_c = joint.sum(axis=3)
        cm_b = joint.sum(axis=2)
        deltas.append(from_confusion(name, cm_c, pos, present_c) - from_confusion(name, cm_b, pos, present_b))
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


def weighted_rank_metric(name: str, r: Ranked, w: np.ndarray) -> np.ndarray:
    """Return roc_auc or average_precision for each column of weights `w` (n, chunk)."""
    import numpy as np

    ws = np.take(w, r.order, axis=0)
    gp = ws * r.positive.astype(w.dtype)[:, None]  # positive weight per tie group (a row each without ties)
    gn = ws - gp
    if r.ties:
        gp = np.add.reduceat(gp, r.starts, axis=0)
        gn = np.add.reduceat(gn, r.starts, axis=0)
    p_tot, n_tot = gp.sum(axis=0, dtype=np.float64), gn.sum(axis=0, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "roc_auc":  # ascending order: negatives below, half of the tied ones
            below = np.cumsum(gn, axis=0) - gn
            return (gp * (below + 0.5 * gn)).sum(axis=0, dtype=np.float64) / (p_tot * n_tot)
        # descending order: sklearn's step-wise AP, sum over thresholds of Δrecall · precision
        tps = np.cumsum(gp, axis=0)
        seen = np.cumsum(ws, axis=0) if not r.ties else tps + np.cumsum(gn, axis=0)
        precision = np.divide(tps, seen, out=np.zeros_like(tps), where=seen > 0)
        return (gp * precision).sum(axis=0, dtype=np.float64) / p_tot


def bootstrap_ranking(
    name: str,
    y: np.ndarray,
    proba_c: np.ndarray,
    proba_b: np.ndarray,
    scored: list[int],
    resamples: int,
    seed: int,
    confidence: float,
) -> Interval | None:
    """Return the paired bootstrap of average_precision (any) or roc_auc (multiclass, ovr macro).

    `scored` are the class columns of the probabilities that count: the positive class of a
    binary task, every class of a multiclass one (macro average).
    """
    import numpy as np

    descending = name == "average_precision"
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
                which: np.nanmean(np.vstack([weighted_rank_metric(name, r, w) for r in rs]), axis=0)
                if len(rs) > 1
                else weighted_rank_metric(name, rs[0], w)
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
