"""The metrics mlci computes, one object each, in one registry (as scikit-learn's scorers are).

A `Metric` holds what mlci knows of it before computing anything (name, task, which way is
better, whether it reads probabilities, a description, the name of its interval method) and
how it is computed:

- `values`: its slice kernel, the metric for every group of rows (every slice of a column, or
  all rows as one group) in one vectorised pass, NaN with the reason in words where it is
  undefined; the point value of a whole table is the one-group case. Built from the kernels of
  mlci.stats.groupwise and equal to scikit-learn's value (tests/test_metrics.py);
- `row_losses` where it is the mean of a per-row loss (log_loss, brier, mae, mape), and the
  per-row squared errors of rmse and r2;
- `intervals`: the interval and p-value of the paired difference candidate - baseline for every
  group, by the method `interval_method` names and the report shows (MetricResult.method):

  - `delong`        binary roc_auc: DeLong's paired test on the midrank components.
  - `mcnemar`       accuracy: exact McNemar p-value; Newcombe's paired score interval, widened
                    to the exact conditional one, so the two agree by construction.
  - `paired-t`      log_loss, brier, mae, mape: each is a mean of per-row losses, so the
                    t-interval of the mean per-row difference is the textbook answer.
  - `delta-method`  rmse: a smooth function of a mean of squared errors (Student's t quantiles).
  - `bootstrap`     f1, precision, recall, balanced_accuracy, average_precision, r2 and multiclass
                    roc_auc: paired bootstrap over rows (`statistics.resamples`), group by group.

`METRICS` maps each name to its metric; callers look a metric up (`get_metric`) and never
branch on its name. Adding a metric is one class here and one line in `METRICS`.

Config validation (and so `mlci --help`'s neighbours) imports this module: numpy and scipy are
imported inside the methods, and scikit-learn not at all.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from mlci.errors import ConfigError
from mlci.stats import groupwise as gw
from mlci.stats import significance as sig

if TYPE_CHECKING:
    import numpy as np

    from mlci.stats.evaluation import Frame
    from mlci.stats.groupwise import Groups, Why
    from mlci.stats.significance import GroupIntervals, Interval
    from mlci.stats.specs import StatisticsSection

Task = Literal["classification", "regression", "results"]  # results: per-example metrics (stats/examples.py)


@dataclass(frozen=True)
class Metric:
    """One metric: what it is, its value for every group of rows, and its paired interval.

    `which` names a model of the Frame: "cand" (the candidate) or "base" (the baseline).
    """

    name: str
    task: Task
    greater_is_better: bool
    description: str

    needs_proba: ClassVar[bool] = False  # reads predicted probabilities, not labels
    method: ClassVar[str] = "bootstrap"  # the interval method, as the report names it
    # How a multiclass value averages over the classes, where the report must say so: "defined"
    # (over the classes where the metric is defined), "present" (over the classes present in the
    # rows, so a slice's average may run over fewer classes than the whole test set's), or None.
    class_average: ClassVar[Literal["defined", "present"] | None] = None

    def interval_method(self, binary: bool) -> str:
        """Return the name of the method that gives this metric's interval (MetricResult.method)."""
        return self.method

    def value(self, frame: Frame, which: str = "cand") -> float:
        """Return one model's metric on all of `frame`'s rows (the point value), NaN where it is undefined."""
        values, _ = self.values(gw.Groups.whole(len(frame.y)), frame, which)
        return float(values[0])

    def values(self, g: Groups, frame: Frame, which: str) -> tuple[np.ndarray, list[str | None]]:
        """Return one model's metric per group, NaN where it is undefined, and why it is undefined there."""
        why = gw.Why(self.name, g, frame, which)
        why.record(g.size == 0, lambda i: "no rows")
        # Inputs scikit-learn refuses first: they make every later reason moot.
        self.check_inputs(frame, which, why)
        return why.apply(self.points(g, frame, which, why)), why.text

    def check_inputs(self, frame: Frame, which: str, why: Why) -> None:
        """Record the groups where scikit-learn refuses this model's inputs (NaN, infinities)."""
        import numpy as np

        if frame.task == "regression":
            why.bad_rows(~np.isfinite(frame.model(which).labels), "predictions are NaN or infinite")

    def points(self, g: Groups, frame: Frame, which: str, why: Why) -> np.ndarray:
        """Return one model's metric per group (the slice kernel), recording in `why` where it is undefined."""
        raise NotImplementedError

    def intervals(self, g: Groups, frame: Frame, stats: StatisticsSection, wanted: np.ndarray) -> GroupIntervals:
        """Return the paired difference's interval for every group (NaN bounds outside `wanted`)."""
        return sig.bootstrap_groups(g, frame, wanted, lambda group: self.bootstrap(group, stats))

    def bootstrap(self, frame: Frame, stats: StatisticsSection) -> Interval | None:
        """Return the paired bootstrap interval on all of `frame`'s rows (the metrics without a closed form)."""
        raise NotImplementedError(f"{self.name} has a closed-form interval")


# --- classification from labels -----------------------------------------------------------------


class Accuracy(Metric):
    method = "mcnemar"

    def points(self, g: Groups, frame: Frame, which: str, why: Why) -> np.ndarray:
        return g.mean((frame.model(which).labels == frame.y).astype(float))

    def intervals(self, g: Groups, frame: Frame, stats: StatisticsSection, wanted: np.ndarray) -> GroupIntervals:
        right_c, right_b = frame.model("cand").labels == frame.y, frame.model("base").labels == frame.y
        return sig.mcnemar(g, right_c, right_b, stats.confidence)


class Confusion(Metric):
    """A metric of the confusion matrix: per class from its diagonal, row and column sums.

    A binary task reads the positive class; a multiclass one averages over the classes. Where a
    class's denominator is zero (precision of a class never predicted, recall of a class absent
    from the truth, F1 of a class in neither) scikit-learn's `zero_division` would invent a
    value (0 by default): mlci leaves it undefined, as `zero_division=np.nan` does. A binary
    value is then NaN, with the reason in words; a macro average runs over the classes where
    the metric is defined (scikit-learn's `zero_division=np.nan` average), NaN if there are none.
    """

    class_average: ClassVar[Literal["defined", "present"] | None] = "defined"
    # What the undefined denominator is, for the reason: "predicted" (the model's column sums),
    # "truth" (the truth's row sums) or "both".
    denominator: ClassVar[Literal["predicted", "truth", "both"]]

    def per_class(self, diag: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Return the metric of each class from the diagonal, the truth's and the predictions' counts."""
        raise NotImplementedError

    def undefined(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Return, per class, where the metric's denominator is zero (where zero_division would decide)."""
        if self.denominator == "predicted":
            return cols == 0
        if self.denominator == "truth":
            return rows == 0
        return (rows + cols) == 0

    def from_confusion(self, cm: np.ndarray, pos: int | None) -> np.ndarray:
        """Return the metric of confusion matrices cm[..., true, predicted], vectorised, NaN where undefined."""
        import numpy as np

        diag = np.diagonal(cm, axis1=-2, axis2=-1)
        rows, cols = cm.sum(axis=-1), cm.sum(axis=-2)
        per_class = np.where(self.undefined(rows, cols), np.nan, self.per_class(diag, rows, cols))
        if pos is not None:
            return per_class[..., pos]
        defined = np.isfinite(per_class)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(defined, per_class, 0.0).sum(axis=-1) / defined.sum(axis=-1)

    def points(self, g: Groups, frame: Frame, which: str, why: Why) -> np.ndarray:
        cm = gw.confusion(g, frame.y, frame.model(which).labels, frame.n_classes)
        if frame.pos is not None:
            rows, cols = cm.sum(axis=2)[:, frame.pos], cm.sum(axis=1)[:, frame.pos]
            why.record(self.undefined(rows, cols), lambda i: self.reason(why, frame, i))
        return self.from_confusion(cm, frame.pos)

    def reason(self, why: Why, frame: Frame, i: int) -> str:
        """Return why the positive class's metric is undefined in group `i`, in words."""
        assert frame.pos is not None
        label, rows = why.label(frame.pos), why.rows(i)
        if self.denominator == "predicted":
            return f"no predicted positives: the {why.who} predicts {label} on none of {rows}"
        if self.denominator == "truth":
            return f"no positives: no rows of class {label} in {rows}"
        return f"no positives: no rows of class {label} in {rows}, and the {why.who} predicts none"

    def bootstrap(self, frame: Frame, stats: StatisticsSection) -> Interval | None:
        def score(cm: np.ndarray) -> np.ndarray:
            return self.from_confusion(cm, frame.pos)

        cand, base = frame.model("cand").labels, frame.model("base").labels
        return sig.bootstrap_confusion(
            score, frame.y, cand, base, frame.n_classes, stats.resamples, stats.seed, stats.confidence
        )


class Precision(Confusion):
    denominator = "predicted"

    def per_class(self, diag: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return gw.ratio(diag, cols)


class Recall(Confusion):
    denominator = "truth"

    def per_class(self, diag: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return gw.ratio(diag, rows)


class F1(Confusion):
    denominator = "both"

    def per_class(self, diag: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return gw.ratio(2 * diag, rows + cols)


class BalancedAccuracy(Confusion):
    denominator = "truth"
    class_average = None  # scikit-learn's mean recall over the classes in the truth: no zero_division

    def from_confusion(self, cm: np.ndarray, pos: int | None) -> np.ndarray:
        """Return the mean recall over the classes present in the truth, binary or not (as scikit-learn)."""
        import numpy as np

        diag, rows = np.diagonal(cm, axis1=-2, axis2=-1), cm.sum(axis=-1)
        has = rows > 0
        return gw.ratio(np.where(has, gw.ratio(diag, rows), 0.0).sum(axis=-1), has.sum(axis=-1).astype(float))

    def points(self, g: Groups, frame: Frame, which: str, why: Why) -> np.ndarray:
        cm = gw.confusion(g, frame.y, frame.model(which).labels, frame.n_classes)
        return self.from_confusion(cm, frame.pos)


# --- classification from probabilities ----------------------------------------------------------


class Probabilistic(Metric):
    """A metric of predicted probabilities: a binary task's positive-class column, unless `every_column`."""

    needs_proba = True
    every_column: ClassVar[bool] = False  # reads every class's probability, binary or not
    unit_interval: ClassVar[bool] = False  # scikit-learn refuses probabilities outside [0, 1]

    def check_inputs(self, frame: Frame, which: str, why: Why) -> None:
        import numpy as np

        proba = frame.proba(which, self.name)
        scored = proba[:, frame.pos] if frame.pos is not None and not self.every_column else proba
        why.bad_rows(~np.isfinite(scored), "probabilities are NaN or infinite")
        if self.unit_interval:
            why.bad_rows((scored > 1) | (scored < 0), "probabilities lie outside [0, 1]")


class RocAuc(Probabilistic):
    """Binary: the positive class's AUC, with DeLong's interval. Multiclass: one-vs-rest macro over the
    classes present in the rows (all of them on a whole test set), bootstrapped."""

    class_average: ClassVar[Literal["defined", "present"] | None] = "present"

    def interval_method(self, binary: bool) -> str:
        return "delong" if binary else "bootstrap"

    def _binary(self, g: Groups, frame: Frame, which: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (AUC per group, DeLong components per row) of the positive class, once for value and interval."""
        key = (self.name, which)
        if key not in g.memo:
            assert frame.pos is not None
            positive = frame.y == frame.pos
            g.memo[key] = gw.auc_rows(g, positive, frame.proba(which, self.name)[:, frame.pos])
        return g.memo[key]

    def points(self, g: Groups, frame: Frame, which: str, why: Why) -> np.ndarray:
        import numpy as np

        proba = frame.proba(which, self.name)
        counts = gw.class_counts(g, frame)
        if frame.pos is not None:
            why.classes((counts == 0).any(axis=1), counts)
            return self._binary(g, frame, which)[0]
        per_class = np.vstack([gw.auc_rows(g, frame.y == c, proba[:, c])[0] for c in range(frame.n_classes)])
        sums = proba.sum(axis=1)
        not_proba = np.abs(1.0 - sums) > gw.ALLCLOSE_ATOL + gw.ALLCLOSE_RTOL * np.abs(sums)
        why.bad_rows(not_proba, "probabilities do not sum to 1")  # sklearn refuses such rows
        # A slice rarely holds every class (penguins: one island, two species): its one-vs-rest
        # AUC averages over the classes present in it, and is undefined with fewer than two.
        # With every class present this is scikit-learn's macro average exactly.
        why.classes((counts > 0).sum(axis=1) < 2, counts)
        present = np.isfinite(per_class)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(present, per_class, 0.0).sum(axis=0) / present.sum(axis=0)

    def intervals(self, g: Groups, frame: Frame, stats: StatisticsSection, wanted: np.ndarray) -> GroupIntervals:
        if frame.pos is None:
            return super().intervals(g, frame, stats, wanted)
        (auc_c, rows_c), (auc_b, rows_b) = self._binary(g, frame, "cand"), self._binary(g, frame, "base")
        return sig.delong(g, frame.y == frame.pos, (auc_c, auc_b), (rows_c, rows_b), stats.confidence)

    def bootstrap(self, frame: Frame, stats: StatisticsSection) -> Interval | None:
        proba_c, proba_b = frame.proba("cand", self.name), frame.proba("base", self.name)
        scored = list(range(frame.n_classes))
        resampling = (stats.resamples, stats.seed, stats.confidence)
        return sig.bootstrap_ranking(sig.weighted_auc, False, frame.y, proba_c, proba_b, scored, *resampling)


class AveragePrecision(Probabilistic):
    """Binary: the positive class's average precision. Multiclass: one-vs-rest macro."""

    def points(self, g: Groups, frame: Frame, which: str, why: Why) -> np.ndarray:
        import numpy as np

        proba = frame.proba(which, self.name)
        if frame.pos is not None:
            counts = gw.class_counts(g, frame)
            why.classes(counts[:, frame.pos] == 0, counts)  # no positives: sklearn's AP is undefined
            return gw.average_precision(g, frame.y == frame.pos, proba[:, frame.pos])
        classes = range(frame.n_classes)
        return np.vstack([gw.average_precision(g, frame.y == c, proba[:, c]) for c in classes]).mean(axis=0)

    def bootstrap(self, frame: Frame, stats: StatisticsSection) -> Interval | None:
        proba_c, proba_b = frame.proba("cand", self.name), frame.proba("base", self.name)
        scored = [frame.pos] if frame.pos is not None else list(range(frame.n_classes))
        resampling = (stats.resamples, stats.seed, stats.confidence)
        return sig.bootstrap_ranking(
            sig.weighted_average_precision, True, frame.y, proba_c, proba_b, scored, *resampling
        )


# --- means of per-row losses ------------------------------------------------------------------------


class MeanLoss(Metric):
    """The mean of a per-row loss; its paired interval is the t-interval of the mean per-row difference."""

    method = "paired-t"

    def row_losses(self, frame: Frame, which: str) -> np.ndarray:
        """Return each row's loss; the metric is their mean."""
        raise NotImplementedError

    def points(self, g: Groups, frame: Frame, which: str, why: Why) -> np.ndarray:
        return g.mean(self.row_losses(frame, which))

    def intervals(self, g: Groups, frame: Frame, stats: StatisticsSection, wanted: np.ndarray) -> GroupIntervals:
        diff = self.row_losses(frame, "cand") - self.row_losses(frame, "base")
        return sig.paired_t(g, diff, stats.confidence)


class LogLoss(MeanLoss, Probabilistic):
    every_column = True
    unit_interval = True

    def row_losses(self, frame: Frame, which: str) -> np.ndarray:
        import numpy as np

        proba = frame.proba(which, self.name)
        eps = np.finfo(proba.dtype).eps  # the clip sklearn's log_loss applies
        return -np.log(np.clip(proba[np.arange(len(frame.y)), frame.y], eps, 1 - eps))


class Brier(MeanLoss, Probabilistic):
    unit_interval = True

    def row_losses(self, frame: Frame, which: str) -> np.ndarray:
        import numpy as np

        proba, y = frame.proba(which, self.name), frame.y
        if frame.pos is not None:
            return ((y == frame.pos) - proba[:, frame.pos]) ** 2
        p_true = proba[np.arange(len(y)), y]
        return np.einsum("ij,ij->i", proba, proba) - 2 * p_true + 1  # sum_k (onehot_k - p_k)^2


def _abs_error(frame: Frame, which: str) -> np.ndarray:
    import numpy as np

    return np.abs(frame.y - frame.model(which).labels)


class MeanAbsoluteError(MeanLoss):
    def row_losses(self, frame: Frame, which: str) -> np.ndarray:
        return _abs_error(frame, which)


class MeanAbsolutePercentageError(MeanLoss):
    """sklearn's mape: mean(|y - ŷ| / max(|y|, eps)), a mean loss with the exact interval of a mean."""

    def row_losses(self, frame: Frame, which: str) -> np.ndarray:
        import numpy as np

        return _abs_error(frame, which) / np.maximum(np.abs(frame.y), np.finfo(np.float64).eps)


# --- regression from squared errors ---------------------------------------------------------------


class RootMeanSquaredError(Metric):
    method = "delta-method"

    def points(self, g: Groups, frame: Frame, which: str, why: Why) -> np.ndarray:
        import numpy as np

        return np.sqrt(g.mean(_abs_error(frame, which) ** 2))

    def intervals(self, g: Groups, frame: Frame, stats: StatisticsSection, wanted: np.ndarray) -> GroupIntervals:
        sq_c, sq_b = _abs_error(frame, "cand") ** 2, _abs_error(frame, "base") ** 2
        return sig.rmse_delta(g, sq_c, sq_b, stats.confidence)


class R2(Metric):
    def points(self, g: Groups, frame: Frame, which: str, why: Why) -> np.ndarray:
        """Return r2 per group with scikit-learn's conventions: NaN below 2 rows; 1 or 0 when y is constant."""
        import numpy as np

        why.record(g.size < 2, lambda i: f"only {int(g.size[i])} row, and r2 needs at least 2")
        y = frame.y
        sse = g.sum(_abs_error(frame, which) ** 2)
        dev = y - g.mean(y)[g.codes]
        sst = g.sum(dev * dev)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(sst > 0, 1 - sse / sst, np.where(sse == 0, 1.0, 0.0))
        return np.where(g.size >= 2, r2, np.nan)

    def bootstrap(self, frame: Frame, stats: StatisticsSection) -> Interval | None:
        cand, base = frame.model("cand").labels, frame.model("base").labels
        return sig.bootstrap_r2(frame.y, cand, base, stats.resamples, stats.seed, stats.confidence)


# --- the registry ---------------------------------------------------------------------------------

_ALL: list[Metric] = [
    Accuracy("accuracy", "classification", True, "share of rows predicted right"),
    BalancedAccuracy("balanced_accuracy", "classification", True, "mean recall over classes"),
    F1(
        "f1",
        "classification",
        True,
        "F1 of the positive class, undefined where neither the truth nor the predictions hold it "
        "(multiclass: the mean over the classes where it is defined)",
    ),
    Precision(
        "precision",
        "classification",
        True,
        "precision of the positive class, undefined where none is predicted "
        "(multiclass: the mean over the classes where it is defined)",
    ),
    Recall(
        "recall",
        "classification",
        True,
        "recall of the positive class, undefined where the rows hold none "
        "(multiclass: the mean over the classes where it is defined)",
    ),
    RocAuc(
        "roc_auc",
        "classification",
        True,
        "area under the ROC curve (multiclass: one-vs-rest, the mean over the classes present in the rows)",
    ),
    AveragePrecision("average_precision", "classification", True, "area under the precision-recall curve"),
    LogLoss("log_loss", "classification", False, "cross-entropy of the predicted probabilities"),
    Brier("brier", "classification", False, "mean squared error of the positive-class probability"),
    R2("r2", "regression", True, "coefficient of determination"),
    RootMeanSquaredError("rmse", "regression", False, "root mean squared error"),
    MeanAbsoluteError("mae", "regression", False, "mean absolute error"),
    MeanAbsolutePercentageError("mape", "regression", False, "mean absolute percentage error"),
]

METRICS: dict[str, Metric] = {m.name: m for m in _ALL}


def check_metric_name(name: str) -> str:
    """Return `name` if mlci knows it; raise ValueError with a suggestion otherwise."""
    if name in METRICS:
        return name
    close = difflib.get_close_matches(name, list(METRICS), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(METRICS)})"
    raise ValueError(f"unknown metric '{name}'{hint}")


def get_metric(name: str) -> Metric:
    """Return the metric called `name`; ConfigError with a suggestion when mlci knows none."""
    try:
        return METRICS[check_metric_name(name)]
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def format_value(x: float) -> str:
    """Return a metric value or difference in mlci's one number format: 4 decimals (0.9120, +0.0031), whole
    numbers from 1000 on, and scientific notation below 0.0001 — the same in the terminal, report and reasons."""
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{x:.0f}"
    if a >= 0.0001:
        return f"{x:.4f}"
    return f"{x:.1e}"


def format_p(p: float) -> str:
    """Return a p-value in mlci's one format: <0.001, else three decimals (0.042)."""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_signed(x: float) -> str:
    """Return a difference with its sign: +0.015, -0.002."""
    s = format_value(x)
    return s if s.startswith("-") else "+" + s
