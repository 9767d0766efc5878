"""Per-group sums and the kernels metrics are built from, for many groups of rows at once: the
slices of a column, or all test rows as one group.

One pass over all rows, whatever the number of groups: per-row quantities (DeLong's structural
components for roc_auc, per-row losses, confusion counts) are summed per group with
`np.bincount` over the group codes and, for ranking metrics, one sort by (group, score). So a
slice column with 5,000 categories costs a few vectorised passes over the rows, not 5,000
calls into scikit-learn. Each metric (mlci.stats.metrics) puts its value together from these
kernels; the values equal scikit-learn's (tests/test_groupwise.py and tests/test_metrics.py check
every metric and task against it). Where scikit-learn calls a metric undefined on some rows (one
class present, probabilities outside [0, 1]), the group's value is NaN, and `Why` keeps the
reason in words, decided by the same per-group masks that make it NaN.

numpy is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from mlci.stats.evaluation import Frame

# How scikit-learn checks that rows of probabilities sum to one for multiclass roc_auc
# (`np.allclose(1, y_score.sum(axis=1))`, numpy's default tolerances).
ALLCLOSE_RTOL, ALLCLOSE_ATOL = 1e-5, 1e-8


@dataclass
class Groups:
    """Which group each row belongs to, and per-group sums over rows."""

    codes: np.ndarray  # intp, group of each row, 0 <= code < count
    count: int
    size: np.ndarray  # float, rows per group
    # What one metric computed for its value and its interval needs again (roc_auc's DeLong rows).
    memo: dict[Any, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, codes: np.ndarray, count: int) -> Groups:
        import numpy as np

        codes = np.asarray(codes, dtype=np.intp)
        return cls(codes, count, np.bincount(codes, minlength=count).astype(float))

    @classmethod
    def whole(cls, n: int) -> Groups:
        """Return all `n` rows as one group."""
        import numpy as np

        return cls.of(np.zeros(n, dtype=np.intp), 1)

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

    def within(self, rows: np.ndarray) -> Groups:
        """Return the groups of the rows selected by the boolean mask `rows`."""
        return Groups.of(self.codes[rows], self.count)


class Why:
    """Why one model's metric has no value in each group, in words: recorded with the mask that
    makes the group's value NaN, so a dash in the report always comes with its reason."""

    def __init__(self, name: str, g: Groups, frame: Frame, which: str) -> None:
        import numpy as np

        self.name, self.g, self.frame = name, g, frame
        self.who = frame.who(which)
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


def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return a / b elementwise, 0 where b is 0 (scikit-learn's zero_division=0)."""
    import numpy as np

    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


# --- counts -------------------------------------------------------------------------------------


def class_counts(g: Groups, frame: Frame) -> np.ndarray:
    """Return counts[group, class]: how many of each group's rows hold each class."""
    import numpy as np

    k = frame.n_classes
    return np.bincount(g.codes * k + frame.y, minlength=g.count * k).reshape(g.count, k)


def confusion(g: Groups, y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Return confusion matrices cm[group, true, predicted]."""
    import numpy as np

    flat = (g.codes * k + y) * k + pred
    return np.bincount(flat, minlength=g.count * k * k).reshape(g.count, k, k).astype(float)


# --- ranking, one sort for all groups -------------------------------------------------------------


def tie_groups(g: Groups, score: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def auc_rows(g: Groups, positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (roc_auc per group, each row's DeLong structural component within its group).

    The component of a positive row is the share of its group's negatives it outscores (ties
    count 1/2), of a negative row the share of its group's positives that outscore it; the
    group's AUC is the mean over its positives: DeLong's midrank form (Sun & Xu 2014) on one
    sorted order, with running counts restarted at each group. NaN where a group lacks a class.
    """
    import numpy as np

    order, tie, tie_group = tie_groups(g, score, descending=False)
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
    return np.where((m > 0) & (k > 0), auc, np.nan), rows


def average_precision(g: Groups, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Return scikit-learn's step-wise average precision per group (0 where a group has no positives).

    Sum over distinct score thresholds, highest first, of Δrecall · precision, as
    `sklearn.metrics.average_precision_score` computes it.
    """
    import numpy as np

    order, tie, tie_group = tie_groups(g, score, descending=True)
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
