"""Per-slice metrics come from one vectorised pass; they must equal scikit-learn's on every slice."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from mlci.stats.comparison import compare
from mlci.stats.evaluation import Predictions, compute_metric
from mlci.stats.metrics import METRICS
from mlci.stats.specs import StatisticsSection

STATS = StatisticsSection(confidence=0.95, resamples=200, seed=0)
TOLERANCE = 1e-12  # relative and absolute: only floating-point summation order may differ


def sklearn_value(name: str, y: np.ndarray, p: Predictions, classes: list) -> float:
    """Return metric `name` straight from scikit-learn, NaN where it refuses (the reference)."""
    k = len(classes)
    binary = k == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if name == "accuracy":
                return skm.accuracy_score(y, p.labels)
            if name == "balanced_accuracy":
                return skm.balanced_accuracy_score(y, p.labels)
            if name in ("f1", "precision", "recall"):
                fn = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}[name]
                if binary:
                    return fn(y, p.labels, labels=classes, pos_label=classes[1], zero_division=np.nan)
                return fn(y, p.labels, average="macro", zero_division=np.nan)
            if name == "roc_auc":
                if binary:
                    return skm.roc_auc_score(y == classes[1], p.proba[:, 1]) if len(np.unique(y)) == 2 else math.nan
                present = [i for i, c in enumerate(classes) if (y == c).any()]
                if len(present) < len(classes):  # a slice without some class: the classes present
                    if len(present) < 2 or not np.allclose(1, p.proba.sum(axis=1)):
                        return math.nan
                    return float(np.mean([skm.roc_auc_score(y == classes[i], p.proba[:, i]) for i in present]))
                return skm.roc_auc_score(y, p.proba, multi_class="ovr", average="macro", labels=classes)
            if name == "average_precision":
                if binary:
                    positive = y == classes[1]
                    return skm.average_precision_score(positive, p.proba[:, 1]) if positive.any() else math.nan
                return skm.average_precision_score(y[:, None] == np.asarray(classes)[None, :], p.proba)
            if name == "log_loss":
                return skm.log_loss(y, p.proba, labels=classes)
            if name == "brier":
                if binary:
                    return skm.brier_score_loss(y == classes[1], p.proba[:, 1])
                return skm.brier_score_loss(y, p.proba, labels=classes)
            if name == "r2":
                return skm.r2_score(y, p.labels) if len(y) >= 2 else math.nan
            if name == "rmse":
                return skm.root_mean_squared_error(y, p.labels)
            if name == "mae":
                return skm.mean_absolute_error(y, p.labels)
            if name == "mape":
                return skm.mean_absolute_percentage_error(y, p.labels)
        except ValueError:
            return math.nan
    raise AssertionError(name)


def classifier(y: np.ndarray, classes: list, noise: float, rng: np.random.Generator, decimals: int) -> Predictions:
    """Return a probabilistic classifier with ties (rounded scores) and some confident mistakes."""
    k = len(classes)
    index = np.searchsorted(classes, y)
    logits = np.eye(k)[index] * 1.5 + rng.normal(0, noise, (len(y), k))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if k == 2:  # rounding keeps rows summing to one in the binary case only
        proba[:, 1] = np.round(proba[:, 1], decimals)
        proba[:, 0] = 1 - proba[:, 1]
    return Predictions(np.asarray(classes)[proba.argmax(axis=1)], proba, list(classes))


def slice_column(n: int, rng: np.random.Generator) -> np.ndarray:
    """Return a slice column with big, small, one-row and missing categories."""
    column = rng.choice(np.array(["a", "b", "c", "d"], dtype=object), n, p=[0.5, 0.3, 0.15, 0.05])
    column[rng.choice(n, 25, replace=False)] = None
    column[:3] = ["one-row", "two-rows", "two-rows"]
    column[3:30] = rng.choice(np.array([f"tiny-{i}" for i in range(12)], dtype=object), 27)
    return column


def assert_slices_match_sklearn(y, cand, base, names, task, classes, column) -> int:
    """Assert every defined value equals sklearn's and every undefined one is None with a reason; return how many
    were defined."""
    result = compare(
        y,
        cand,
        base,
        task=task,
        metrics=names,
        primary=names[0],
        gates=[],
        statistics=STATS,
        slices={"segment": column},
    )
    labels = np.where(np.array([v is None for v in column]), "(missing)", column.astype(str))
    checked = 0
    for s in [None, *result.slices]:
        rows = np.ones(len(y), bool) if s is None else labels == s.category
        for m in result.metrics if s is None else s.metrics:
            for got, model in ((m.candidate, cand), (m.baseline, base)):
                sub = Predictions(model.labels[rows], None if model.proba is None else model.proba[rows], model.classes)
                want = sklearn_value(m.name, y[rows], sub, classes)
                where = f"{m.name} on {'overall' if s is None else s.category} (n={rows.sum()})"
                if math.isnan(want):
                    assert got is None and m.undefined, where  # a dash always comes with its reason
                else:
                    assert got == pytest.approx(want, rel=TOLERANCE, abs=TOLERANCE), where
                    checked += 1
    return checked


def test_binary_slice_metrics_equal_sklearn_on_every_metric() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    y = rng.choice(np.array(["no", "yes"]), n, p=[0.7, 0.3])
    y[3:12] = "yes"  # some tiny slices hold one class only (roc_auc undefined, recall 0/0)
    classes = ["no", "yes"]
    cand, base = classifier(y, classes, 1.0, rng, 2), classifier(y, classes, 1.4, rng, 1)
    names = [m for m, info in METRICS.items() if info.task == "classification"]
    defined = assert_slices_match_sklearn(y, cand, base, names, "classification", classes, slice_column(n, rng))
    assert defined > 2 * 15 * len(names)  # both models on most of the 19 scopes


def test_multiclass_slice_metrics_equal_sklearn_on_every_metric() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    classes = [0, 1, 2, 3]
    y = rng.choice(classes, n, p=[0.4, 0.3, 0.2, 0.1])
    cand, base = classifier(y, classes, 0.9, rng, 0), classifier(y, classes, 1.3, rng, 0)
    names = [m for m, info in METRICS.items() if info.task == "classification"]
    defined = assert_slices_match_sklearn(y, cand, base, names, "classification", classes, slice_column(n, rng))
    assert defined > 2 * 15 * len(names)  # both models on most of the 19 scopes


def test_regression_slice_metrics_equal_sklearn_on_every_metric() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    y = rng.normal(50, 20, n)
    y[rng.choice(n, 10, replace=False)] = 0.0  # mape's eps floor
    y[30:40] = 7.0  # a constant-target stretch: r2 of such a slice is sklearn's 0 or 1
    cand = Predictions(y + rng.normal(0, 5, n))
    base = Predictions(np.round(y + rng.normal(0, 7, n)))
    column = slice_column(n, rng)
    column[30:40] = "constant"
    names = [m for m, info in METRICS.items() if info.task == "regression"]
    defined = assert_slices_match_sklearn(y, cand, base, names, "regression", [], column)
    assert defined > 2 * 15 * len(names)  # both models on most of the 19 scopes


def test_probabilities_sklearn_refuses_make_only_their_slices_undefined() -> None:
    rng = np.random.default_rng(3)
    n = 600
    classes = [0, 1, 2]
    y = rng.choice(classes, n)
    cand, base = classifier(y, classes, 1.0, rng, 0), classifier(y, classes, 1.2, rng, 0)
    column = np.where(np.arange(n) < 300, "left", "right").astype(object)
    cand.proba[5] = [0.7, 0.7, -0.4]  # out of [0, 1] and the row sums to one: log_loss and brier refuse
    base.proba[400] *= 0.9  # does not sum to one: multiclass roc_auc refuses
    names = ["log_loss", "brier", "roc_auc", "average_precision"]
    assert (
        assert_slices_match_sklearn(y, cand, base, names, "classification", classes, column) == 24 - 6
    )  # 3 scopes x 4 metrics x 2 models, 6 refused
    result = compare(
        y,
        cand,
        base,
        task="classification",
        metrics=names,
        primary=names[0],
        gates=[],
        statistics=STATS,
        slices={"half": column},
    )
    left, right = result.slices
    assert left.metrics[0].candidate is None and right.metrics[0].candidate is not None
    assert right.metrics[2].baseline is None and left.metrics[2].baseline is not None


def sliced(y, cand, base, names, column, task="classification"):
    """Return `compare` of `names` (the first is primary) with `column` as the one slice column "s"."""
    return compare(
        y, cand, base, task=task, metrics=names, primary=names[0], gates=[], statistics=STATS, slices={"s": column}
    )


def assert_each_slice_equals_the_slice_alone(y, cand, base, names, column, task, fields) -> None:
    """Assert each slice's results equal `compare` handed only that slice's rows, on `fields`."""

    def rows_of(p: Predictions, rows: np.ndarray) -> Predictions:
        return Predictions(p.labels[rows], None if p.proba is None else p.proba[rows], p.classes)

    for s in sliced(y, cand, base, names, column, task).slices:
        rows = column == s.category
        alone = compare(
            y[rows],
            rows_of(cand, rows),
            rows_of(base, rows),
            task=task,
            metrics=names,
            primary=names[0],
            gates=[],
            statistics=STATS,
        )
        for got, want in zip(s.metrics, alone.metrics, strict=True):
            assert got.method == want.method
            for field in fields:
                assert getattr(got, field) == pytest.approx(getattr(want, field), rel=1e-9, abs=1e-12), (got, field)


def reasons(result, metric: str) -> dict[str, str | None]:
    """Return each slice's reason for having no value of `metric` (None where it has one)."""
    return {s.category: next(m.undefined for m in s.metrics if m.name == metric) for s in result.slices}


def test_each_undefined_binary_slice_metric_says_why() -> None:
    rng = np.random.default_rng(7)
    classes = ["no", "yes"]
    y = np.array(["no"] * 3 + ["yes"] * 4 + list(rng.choice(classes, 200)))
    cand, base = classifier(y, classes, 1.0, rng, 2), classifier(y, classes, 1.3, rng, 2)
    column = np.array(["noes"] * 3 + ["yeses"] * 4 + ["mixed"] * 100 + ["bad"] * 100, dtype=object)
    # Labels where zero_division would decide: on "noes" the candidate predicts yes once and the
    # baseline never; on "yeses" the candidate never predicts yes and the baseline does.
    cand.labels[:7] = ["yes", "no", "no", "no", "no", "no", "no"]
    base.labels[:7] = ["no", "no", "no", "yes", "no", "yes", "yes"]
    cand.proba[150] = [-0.25, 1.25]  # the candidate's log_loss and brier refuse the "bad" rows
    base.proba[151:153] = [1.5, -0.5]  # the baseline's too, for its own reason
    names = ["roc_auc", "average_precision", "log_loss", "brier", "accuracy", "f1", "precision", "recall"]
    result = sliced(y, cand, base, names, column)
    assert reasons(result, "roc_auc") == {
        "bad": None,
        "mixed": None,
        "noes": "only one class (no) in these 3 rows",
        "yeses": "only one class (yes) in these 4 rows",
    }
    # average precision is about the positive class: defined when only positives are there.
    assert reasons(result, "average_precision") == {
        "bad": None,
        "mixed": None,
        "noes": "only one class (no) in these 3 rows",
        "yeses": None,
    }
    both = (
        "the candidate's probabilities lie outside [0, 1] on 1 of these 100 rows; "
        "the baseline's probabilities lie outside [0, 1] on 2 of these 100 rows"
    )
    for name in ("log_loss", "brier"):
        assert reasons(result, name) == {"bad": both, "mixed": None, "noes": None, "yeses": None}, name
    assert set(reasons(result, "accuracy").values()) == {None}
    # Where scikit-learn's zero_division would invent precision, recall or F1 (0 by default),
    # they are undefined, with the reason, and no number stands in the slice.
    assert reasons(result, "recall") == {
        "bad": None,
        "mixed": None,
        "noes": "no positives: no rows of class yes in these 3 rows",
        "yeses": None,
    }
    assert reasons(result, "precision") == {
        "bad": None,
        "mixed": None,
        "noes": "no predicted positives: the baseline predicts yes on none of these 3 rows",
        "yeses": "no predicted positives: the candidate predicts yes on none of these 4 rows",
    }
    assert reasons(result, "f1") == {
        "bad": None,
        "mixed": None,
        "noes": "no positives: no rows of class yes in these 3 rows, and the baseline predicts none",
        "yeses": None,  # F1 = 0 where positives exist and none is predicted: that is no invention
    }
    for name in ("precision", "recall", "f1"):
        for s in result.slices:
            m = next(m for m in s.metrics if m.name == name)
            if m.undefined is not None:  # no number, no difference, no interval
                assert None in (m.candidate, m.baseline) and m.delta is None and m.ci_low is None, (name, s)
    # Without a baseline the candidate's reason stands alone; overall, every metric has a value.
    alone = sliced(y, cand, None, names, column)
    assert reasons(alone, "brier")["bad"] == "the candidate's probabilities lie outside [0, 1] on 1 of these 100 rows"
    assert reasons(alone, "roc_auc")["noes"] == "only one class (no) in these 3 rows"
    first = Predictions(cand.labels[:107], cand.proba[:107], classes)
    assert all(m.undefined is None for m in sliced(y[:107], first, None, names, column[:107]).metrics)


def test_each_undefined_multiclass_slice_metric_says_why() -> None:
    rng = np.random.default_rng(8)
    classes = [0, 1, 2]
    y = np.array([0] * 5 + [0, 1] * 3 + list(rng.choice(classes, 300)))
    cand, base = classifier(y, classes, 1.0, rng, 0), classifier(y, classes, 1.3, rng, 0)
    column = np.array(["zeros"] * 5 + ["no-two"] * 6 + ["all"] * 150 + ["unsummed"] * 150, dtype=object)
    base.proba[200] *= 0.9  # the baseline's multiclass roc_auc refuses the "unsummed" rows
    names = ["roc_auc", "average_precision", "log_loss", "brier", "balanced_accuracy"]
    result = sliced(y, cand, base, names, column)
    assert reasons(result, "roc_auc") == {
        "all": None,
        "no-two": None,  # classes 0 and 1 present: the average over them
        "unsummed": "the baseline's probabilities do not sum to 1 on 1 of these 150 rows",
        "zeros": "only one class (0) in these 5 rows",
    }
    for name in names[1:]:
        assert set(reasons(result, name).values()) == {None}, name
    column[5:8] = "one-of-each-but-two"  # rows 5, 6, 7: classes 0, 1, 0
    result = sliced(y, cand, base, ["roc_auc"], column)
    assert reasons(result, "roc_auc")["one-of-each-but-two"] is None
    y4 = np.append(y, 3)  # a fourth class seen once, in its own slice
    cand4 = classifier(y4, [0, 1, 2, 3], 1.0, rng, 0)
    result = sliced(y4, cand4, None, ["roc_auc"], np.append(column, "three"))
    assert reasons(result, "roc_auc")["no-two"] is None
    assert reasons(result, "roc_auc")["three"] == "only one class (3) in this 1 row"
    column[5:11] = "one"  # rows 5-10 but 6, 8, 10 are class 0... keep one class only below
    y1 = y.copy()
    y1[5:11] = 1
    result = sliced(y1, cand, None, ["roc_auc"], column)
    assert reasons(result, "roc_auc")["one"] == "only one class (1) in these 6 rows"


def test_each_undefined_regression_slice_metric_says_why() -> None:
    rng = np.random.default_rng(9)
    y = rng.normal(10, 3, 100)
    cand, base = Predictions(y + rng.normal(0, 1, 100)), Predictions(y + rng.normal(0, 1.3, 100))
    column = np.array(["one"] + ["rest"] * 99, dtype=object)
    names = ["r2", "rmse", "mae", "mape"]
    result = sliced(y, cand, base, names, column, task="regression")
    assert reasons(result, "r2") == {"one": "only 1 row, and r2 needs at least 2", "rest": None}
    for name in names[1:]:
        assert set(reasons(result, name).values()) == {None}, name


def test_nan_or_infinite_inputs_leave_only_their_slices_undefined_and_say_so() -> None:
    # scikit-learn refuses NaN and infinities: the slice holding one has no value, like sklearn's.
    rng = np.random.default_rng(10)
    for classes in ([0, 1], [0, 1, 2]):
        y = rng.choice(classes, 400)
        cand, base = classifier(y, classes, 1.0, rng, 2), classifier(y, classes, 1.3, rng, 2)
        cand.proba[7] = np.nan
        base.proba[300, -1] = np.inf
        column = np.where(np.arange(400) < 200, "left", "right").astype(object)
        names = ["roc_auc", "average_precision", "log_loss", "brier", "accuracy"]
        assert_slices_match_sklearn(y, cand, base, names, "classification", classes, column)
        result = sliced(y, cand, base, names, column)
        for name in names[:-1]:
            assert reasons(result, name) == {
                "left": "the candidate's probabilities are NaN or infinite on 1 of these 200 rows",
                "right": "the baseline's probabilities are NaN or infinite on 1 of these 200 rows",
            }, (classes, name)
        assert set(reasons(result, "accuracy").values()) == {None}
    y = rng.normal(10, 3, 100)
    cand, base = Predictions(y + rng.normal(0, 1, 100)), Predictions(y + rng.normal(0, 1.3, 100))
    cand.labels[[3, 4]] = [np.nan, np.inf]
    column = np.where(np.arange(100) < 50, "left", "right").astype(object)
    names = ["r2", "rmse", "mae", "mape"]
    assert_slices_match_sklearn(y, cand, base, names, "regression", [], column)
    result = sliced(y, cand, base, names, column, task="regression")
    for name in names:
        assert reasons(result, name) == {
            "left": "the candidate's predictions are NaN or infinite on 2 of these 50 rows",
            "right": None,
        }, name


def test_slice_intervals_equal_the_same_metric_computed_on_the_slice_alone() -> None:
    # The vectorised intervals (DeLong, McNemar, t, delta method) and the per-slice bootstrap
    # must give what `compare` gives when it is handed only that slice's rows.
    rng = np.random.default_rng(4)
    n = 2000
    classes = [0, 1]
    y = rng.choice(classes, n)
    cand, base = classifier(y, classes, 1.0, rng, 2), classifier(y, classes, 1.3, rng, 2)
    column = rng.choice(np.array(["a", "b", "c"], dtype=object), n)
    names = ["roc_auc", "accuracy", "log_loss", "brier", "f1", "average_precision"]
    fields = ("candidate", "baseline", "delta", "ci_low", "ci_high", "p_value")
    assert_each_slice_equals_the_slice_alone(y, cand, base, names, column, "classification", fields)


def test_regression_slice_intervals_equal_the_slice_alone() -> None:
    rng = np.random.default_rng(5)
    n = 1500
    y = rng.normal(10, 3, n)
    cand, base = Predictions(y + rng.normal(0, 1.0, n)), Predictions(y + rng.normal(0, 1.3, n))
    column = rng.choice(np.array(["a", "b"], dtype=object), n)
    names = ["rmse", "mae", "mape", "r2"]
    fields = ("candidate", "delta", "ci_low", "ci_high", "p_value")
    assert_each_slice_equals_the_slice_alone(y, cand, base, names, column, "regression", fields)


def test_compute_metric_agrees_with_the_vectorised_overall_value() -> None:
    rng = np.random.default_rng(6)
    y = rng.choice([0, 1], 500)
    cand, base = classifier(y, [0, 1], 1.0, rng, 3), classifier(y, [0, 1], 1.2, rng, 3)
    result = compare(
        y, cand, base, task="classification", metrics=["roc_auc", "f1"], primary="roc_auc", gates=[], statistics=STATS
    )
    for m in result.metrics:
        assert m.candidate == pytest.approx(compute_metric(m.name, y, cand), rel=1e-12)
