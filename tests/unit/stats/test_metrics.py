"""The metric registry: each metric is one object whose values equal scikit-learn's and whose
interval is the method the report names; a metric registered there alone is computed end to end."""

from __future__ import annotations

import ast
import math
import subprocess
import sys
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from mlci.stats import metrics as registry
from mlci.stats.comparison import compare
from mlci.stats.evaluation import Frame, Predictions, categories, prepare
from mlci.stats.groupwise import Groups
from mlci.stats.metrics import METRICS, MeanLoss, Metric
from mlci.stats.specs import Gate, StatisticsSection
from tests.support.paths import ROOT

STATS = StatisticsSection(confidence=0.95, resamples=200, seed=0)
TOLERANCE = 1e-12  # relative and absolute: only floating-point summation order may differ


# --- scikit-learn, the reference --------------------------------------------------------------


def _binary(fn: Callable[..., float]) -> Callable[[np.ndarray, Predictions, list], float]:
    """A label metric of the positive (second) class when binary, macro-averaged otherwise."""

    def score(y: np.ndarray, p: Predictions, classes: list) -> float:
        if len(classes) == 2:
            return fn(y, p.labels, labels=classes, pos_label=classes[1], zero_division=np.nan)
        return fn(y, p.labels, average="macro", zero_division=np.nan)

    return score


def _roc_auc(y: np.ndarray, p: Predictions, classes: list) -> float:
    if len(classes) == 2:
        return skm.roc_auc_score(y == classes[1], p.proba[:, 1])
    present = [i for i, c in enumerate(classes) if (y == c).any()]
    if len(present) == len(classes):
        return skm.roc_auc_score(y, p.proba, multi_class="ovr", average="macro", labels=classes)
    # Rows missing some class (a slice): one-vs-rest over the classes present, as mlci documents.
    if not np.allclose(1, p.proba.sum(axis=1)) or len(present) < 2:
        raise ValueError("sklearn refuses these rows")
    return float(np.mean([skm.roc_auc_score(y == classes[i], p.proba[:, i]) for i in present]))


def _average_precision(y: np.ndarray, p: Predictions, classes: list) -> float:
    if len(classes) == 2:
        positive = y == classes[1]
        # scikit-learn warns and returns 0 without positives; mlci reports "undefined" there.
        return skm.average_precision_score(positive, p.proba[:, 1]) if positive.any() else math.nan
    return skm.average_precision_score(y[:, None] == np.asarray(classes)[None, :], p.proba, average="macro")


def _brier(y: np.ndarray, p: Predictions, classes: list) -> float:
    if len(classes) == 2:
        return skm.brier_score_loss(y == classes[1], p.proba[:, 1])
    return skm.brier_score_loss(y, p.proba, labels=classes)


# The scorer each registered metric must equal, by name: a metric without one fails the test below.
SKLEARN: dict[str, Callable[[np.ndarray, Predictions, list], float]] = {
    "accuracy": lambda y, p, c: skm.accuracy_score(y, p.labels),
    "balanced_accuracy": lambda y, p, c: skm.balanced_accuracy_score(y, p.labels),
    "f1": _binary(skm.f1_score),
    "precision": _binary(skm.precision_score),
    "recall": _binary(skm.recall_score),
    "roc_auc": _roc_auc,
    "average_precision": _average_precision,
    "log_loss": lambda y, p, c: skm.log_loss(y, p.proba, labels=c),
    "brier": _brier,
    "r2": lambda y, p, c: skm.r2_score(y, p.labels) if len(y) >= 2 else math.nan,
    "rmse": lambda y, p, c: skm.root_mean_squared_error(y, p.labels),
    "mae": lambda y, p, c: skm.mean_absolute_error(y, p.labels),
    "mape": lambda y, p, c: skm.mean_absolute_percentage_error(y, p.labels),
}

# The interval each metric's report row names: (binary or regression, multiclass).
METHODS = {
    "accuracy": ("mcnemar", "mcnemar"),
    "balanced_accuracy": ("bootstrap", "bootstrap"),
    "f1": ("bootstrap", "bootstrap"),
    "precision": ("bootstrap", "bootstrap"),
    "recall": ("bootstrap", "bootstrap"),
    "roc_auc": ("delong", "bootstrap"),
    "average_precision": ("bootstrap", "bootstrap"),
    "log_loss": ("paired-t", "paired-t"),
    "brier": ("paired-t", "paired-t"),
    "r2": ("bootstrap", "bootstrap"),
    "rmse": ("delta-method", "delta-method"),
    "mae": ("paired-t", "paired-t"),
    "mape": ("paired-t", "paired-t"),
}


def sklearn_value(name: str, y: np.ndarray, p: Predictions, classes: list) -> float:
    """Return scikit-learn's value of metric `name`, NaN where it refuses the rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(SKLEARN[name](y, p, classes))
        except ValueError:
            return math.nan


# --- generated data ------------------------------------------------------------------------------


def classifier(y: np.ndarray, classes: list, noise: float, rng: np.random.Generator) -> Predictions:
    """Return a probabilistic classifier with tied scores (rounded) and some confident mistakes."""
    k = len(classes)
    logits = np.eye(k)[np.searchsorted(classes, y)] * 1.5 + rng.normal(0, noise, (len(y), k))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if k == 2:  # rounding keeps rows summing to one in the binary case only
        proba[:, 1] = np.round(proba[:, 1], 2)
        proba[:, 0] = 1 - proba[:, 1]
    return Predictions(np.asarray(classes)[proba.argmax(axis=1)], proba, list(classes))


def dataset(kind: str, n: int = 1200, seed: int = 0) -> tuple[np.ndarray, Predictions, Predictions, list, str]:
    """Return (y, candidate, baseline, classes, task) for "binary", "multiclass" or "regression"."""
    rng = np.random.default_rng(seed)
    if kind == "regression":
        y = rng.normal(50, 20, n)
        y[rng.choice(n, 8, replace=False)] = 0.0  # mape's eps floor
        y[40:46] = 7.0  # a constant-target slice: r2 is scikit-learn's 0 or 1 there
        return y, Predictions(y + rng.normal(0, 5, n)), Predictions(np.round(y + rng.normal(0, 7, n))), [], kind
    classes = ["no", "yes"] if kind == "binary" else [0, 1, 2, 3]
    y = rng.choice(np.asarray(classes), n)
    y[30:34] = classes[-1]  # a one-class slice: roc_auc undefined there
    cand, base = classifier(y, classes, 1.0, rng), classifier(y, classes, 1.4, rng)
    return y, cand, base, classes, "classification"


def slice_column(n: int, seed: int = 0) -> np.ndarray:
    """Return a slice column with big, small, one-class, one-row and missing categories."""
    rng = np.random.default_rng(seed + 100)
    column = rng.choice(np.array(["a", "b", "c"], dtype=object), n, p=[0.6, 0.3, 0.1])
    column[rng.choice(n, 20, replace=False)] = None
    column[:3] = ["one-row", "two-rows", "two-rows"]
    column[30:34] = "one-class"
    column[40:46] = "constant"
    return column


KINDS = ["binary", "multiclass", "regression"]


def names_for(task: str) -> list[str]:
    return [name for name, metric in METRICS.items() if metric.task == task]


# --- the registry ---------------------------------------------------------------------------------


def test_every_registered_metric_has_a_scikit_learn_reference_and_a_documented_method() -> None:
    assert set(METRICS) == set(SKLEARN) == set(METHODS)
    for name, metric in METRICS.items():
        assert isinstance(metric, Metric) and metric.name == name and metric.description
        assert (metric.interval_method(binary=True), metric.interval_method(binary=False)) == METHODS[name], name


@pytest.mark.parametrize("kind", KINDS)
def test_every_metric_point_value_equals_scikit_learn_overall_and_on_every_slice(kind: str) -> None:
    y, cand, base, classes, task = dataset(kind)
    column = slice_column(len(y))
    names_of, codes = categories("segment", column, len(y))
    checked = 0
    for name in names_for(task):
        metric = METRICS[name]
        for which, model in (("cand", cand), ("base", base)):
            frame = prepare(y, model, None, task)
            want = sklearn_value(name, y, model, classes)
            assert metric.value(frame) == pytest.approx(want, rel=TOLERANCE, abs=TOLERANCE), (name, which)
            values, reasons = metric.values(Groups.of(codes, len(names_of)), frame, "cand")
            for i, category in enumerate(names_of):
                rows = codes == i
                sub = Predictions(model.labels[rows], None if model.proba is None else model.proba[rows], model.classes)
                want = sklearn_value(name, y[rows], sub, classes)
                where = (name, which, category)
                if math.isnan(want):
                    assert math.isnan(values[i]) and reasons[i], where  # a dash always comes with its reason
                else:
                    assert values[i] == pytest.approx(want, rel=TOLERANCE, abs=TOLERANCE), where
                    assert reasons[i] is None, where
                    checked += 1
    assert checked > 0.8 * 2 * len(names_for(task)) * len(names_of)  # most slices have a value


@pytest.mark.parametrize("kind", KINDS)
def test_each_metric_interval_is_the_method_the_report_names(kind: str) -> None:
    y, cand, base, _, task = dataset(kind, seed=1)
    names = names_for(task)
    result = compare(
        y,
        cand,
        base,
        task=task,
        metrics=names,
        primary=names[0],
        gates=[],
        statistics=STATS,
        slices={"segment": slice_column(len(y), seed=1)},
    )
    binary = kind == "binary"
    for scope in [result.metrics, *(s.metrics for s in result.slices if s.n >= 20)]:
        for m in scope:
            # No interval only where the method's assumptions fail there, and then it says why.
            has = m.ci_low is not None and m.ci_high is not None and m.p_value is not None
            assert has or (m.no_interval and scope is not result.metrics), m
            assert m.method == METRICS[m.name].interval_method(binary) == METHODS[m.name][0 if binary else 1], m


# --- the closed-form intervals, against references computed here -------------------------------


def per_row_losses(name: str, y: np.ndarray, p: Predictions, classes: list) -> np.ndarray:
    """Return the per-row loss whose mean scikit-learn reports, written out from its definition."""
    if name == "mae":
        return np.abs(y - p.labels)
    if name == "mape":
        return np.abs(y - p.labels) / np.maximum(np.abs(y), np.finfo(float).eps)
    onehot = (y[:, None] == np.asarray(classes)[None, :]).astype(float)
    if name == "log_loss":
        return -np.log(np.clip((onehot * p.proba).sum(axis=1), np.finfo(float).eps, 1 - np.finfo(float).eps))
    if len(classes) == 2:  # brier of the positive class
        return (onehot[:, 1] - p.proba[:, 1]) ** 2
    return ((onehot - p.proba) ** 2).sum(axis=1)


@pytest.mark.parametrize("kind", KINDS)
def test_paired_t_is_the_t_interval_of_the_per_row_loss_differences(kind: str) -> None:
    y, cand, base, classes, task = dataset(kind, n=600, seed=2)
    means = [name for name in names_for(task) if isinstance(METRICS[name], MeanLoss)]
    assert means  # log_loss, brier / mae, mape
    result = compare(y, cand, base, task=task, metrics=means, primary=means[0], gates=[], statistics=STATS)
    for m in result.metrics:
        loss_c, loss_b = (per_row_losses(m.name, y, p, classes) for p in (cand, base))
        assert loss_c.mean() == pytest.approx(sklearn_value(m.name, y, cand, classes), rel=1e-12)
        d = loss_c - loss_b
        low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
        assert m.method == "paired-t"
        assert (m.ci_low, m.ci_high) == pytest.approx((low, high), rel=1e-9, abs=1e-12), m.name
        assert m.p_value == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue, rel=1e-9), m.name


def test_delta_method_is_the_t_interval_of_rmse_s_influence_function() -> None:
    y, cand, base, _, task = dataset("regression", n=600, seed=3)
    (rmse,) = compare(y, cand, base, task=task, metrics=["rmse"], primary="rmse", gates=[], statistics=STATS).metrics
    sq_c, sq_b = (y - cand.labels) ** 2, (y - base.labels) ** 2
    r_c, r_b = math.sqrt(sq_c.mean()), math.sqrt(sq_b.mean())
    se = stats.sem(sq_c / (2 * r_c) - sq_b / (2 * r_b))
    t = stats.t.ppf(0.975, len(y) - 1)  # Student's t, as for any mean of n rows
    assert rmse.method == "delta-method"
    assert (rmse.ci_low, rmse.ci_high) == pytest.approx((r_c - r_b - t * se, r_c - r_b + t * se), rel=1e-9)
    assert rmse.p_value == pytest.approx(2 * stats.t.sf(abs(r_c - r_b) / se, len(y) - 1), rel=1e-9)


def test_mcnemar_and_delong_are_what_they_say() -> None:
    y, cand, base, classes, task = dataset("binary", n=500, seed=4)
    result = compare(
        y, cand, base, task=task, metrics=["accuracy", "roc_auc"], primary="roc_auc", gates=[], statistics=STATS
    )
    right_c, right_b = cand.labels == y, base.labels == y
    n10, n01 = int((right_c & ~right_b).sum()), int((~right_c & right_b).sum())
    accuracy = result.metric("accuracy")
    assert accuracy is not None and accuracy.method == "mcnemar"
    assert accuracy.p_value == pytest.approx(stats.binomtest(n10, n10 + n01, 0.5).pvalue, rel=1e-9)
    # DeLong et al. (1988) from the pairwise definition: structural components and their covariance.
    positive = y == classes[1]
    components = []
    for p in (cand, base):
        psi = (p.proba[positive, 1][:, None] > p.proba[~positive, 1][None, :]) + 0.5 * (
            p.proba[positive, 1][:, None] == p.proba[~positive, 1][None, :]
        )
        components.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    (auc_c, v10_c, v01_c), (auc_b, v10_b, v01_b) = components
    se = math.sqrt(np.var(v10_c - v10_b, ddof=1) / positive.sum() + np.var(v01_c - v01_b, ddof=1) / (~positive).sum())
    auc = result.metric("roc_auc")
    assert auc is not None and auc.method == "delong"
    assert auc.p_value == pytest.approx(2 * stats.norm.sf(abs(auc_c - auc_b) / se), rel=1e-9)


# --- adding a metric touches one place --------------------------------------------------------------


class MeanSquaredError(MeanLoss):
    def row_losses(self, frame: Frame, which: str) -> np.ndarray:
        return (frame.y - frame.model(which).labels) ** 2


def test_a_metric_registered_in_one_place_is_validated_computed_and_gets_its_interval(monkeypatch) -> None:
    monkeypatch.setitem(METRICS, "mse", MeanSquaredError("mse", "regression", False, "mean squared error"))
    assert Gate(metric="mse", threshold=10.0).metric == "mse"  # mlci.yaml's validation knows it
    y, cand, base, _, task = dataset("regression", n=500, seed=5)
    column = slice_column(len(y), seed=5)
    result = compare(
        y, cand, base, task=task, metrics=["mse"], primary="mse", gates=[], statistics=STATS, slices={"s": column}
    )
    mse = result.metric("mse")
    assert mse is not None and mse.method == "paired-t" and mse.ci_low is not None
    assert mse.candidate == pytest.approx(skm.mean_squared_error(y, cand.labels), rel=1e-12)
    big = next(s for s in result.slices if s.category == "a")
    rows = column == "a"
    assert big.metrics[0].candidate == pytest.approx(skm.mean_squared_error(y[rows], cand.labels[rows]), rel=1e-12)


def _metric_name_literals(tree: ast.AST) -> list[str]:
    """Return the metric names a module compares with or keys by: the signs of dispatch on a name."""

    def strings(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return [s for e in node.elts for s in strings(e)]
        return []

    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            found += [s for side in (node.left, *node.comparators) for s in strings(side)]
        elif isinstance(node, ast.Dict):
            found += [s for key in node.keys if key is not None for s in strings(key)]
        elif isinstance(node, ast.Set):
            found += strings(node)
    return [s for s in found if s in METRICS]


def test_no_module_dispatches_on_a_metric_name() -> None:
    offenders = {
        str(path.relative_to(ROOT)): names
        for path in sorted((ROOT / "mlci").rglob("*.py"))
        if (names := _metric_name_literals(ast.parse(path.read_text())))
    }
    assert offenders == {}


def test_the_dispatch_finder_sees_an_if_chain_and_a_lookup_table() -> None:
    source = "if name == 'roc_auc':\n    pass\nf = {'f1': 1}[name]\nok = name in ('mae', 'unrelated')\n"
    assert sorted(_metric_name_literals(ast.parse(source))) == ["f1", "mae", "roc_auc"]


def test_the_metric_registry_imports_no_numerical_library() -> None:
    # Config validation imports it; numpy, scipy and scikit-learn load only when a metric is computed.
    code = (
        "import sys, mlci.stats.metrics\n"
        "print([m for m in ('numpy', 'scipy', 'sklearn', 'pandas') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert registry.get_metric("roc_auc") is METRICS["roc_auc"]
