"""Every interval method against ground truth: coverage on whole test sets and on gated slices,
and intervals that never disagree with their p-values.

The truth is each metric's difference on a population of 400,000 rows drawn from one generative
model; each repetition is a sample of that population (500 rows for a whole test set, 100 for a
slice). Repetitions are groups of one stacked frame, so the closed forms run all of them in one
vectorised pass, as they run the slices of a column.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlci.stats.comparison import group_results
from mlci.stats.evaluation import Predictions, prepare
from mlci.stats.groupwise import Groups
from mlci.stats.metrics import get_metric
from mlci.stats.specs import StatisticsSection

POPULATION = 400_000
STATS = StatisticsSection(confidence=0.95, resamples=400, seed=0)

# One metric per interval method: (metric, task, repetitions at 500 rows, at 100 rows).
METHODS = {
    "delong": ("roc_auc", "classification", 400, 600),
    "mcnemar": ("accuracy", "classification", 400, 600),
    "paired-t": ("log_loss", "classification", 400, 600),
    "delta-method": ("rmse", "regression", 400, 600),
    "bootstrap": ("f1", "classification", 300, 400),
}


def population(task: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, Predictions, Predictions]:
    """Return a truth and two correlated models on `n` rows: the candidate a little better."""
    if task == "regression":
        x = rng.normal(0, 1, n)
        y = 2 * x + rng.gamma(2.0, 1.0, n)  # skewed errors: squared errors far from normal
        shared = rng.normal(0, 1, n)
        return y, Predictions(2 * x + 2 + shared + rng.normal(0, 0.7, n)), Predictions(2 * x + 2 + shared * 1.1)
    y = (rng.random(n) < 0.35).astype(int)
    latent = 1.3 * y + rng.normal(0, 1, n)

    def model(noise: float) -> Predictions:
        p = 1 / (1 + np.exp(-2.0 * (latent + rng.normal(0, noise, n) - 0.65)))
        return Predictions((p > 0.5).astype(int), np.column_stack([1 - p, p]), [0, 1])

    return y, model(0.55), model(0.7)


def take(y: np.ndarray, cand: Predictions, base: Predictions, rows: np.ndarray) -> tuple:
    def sub(p: Predictions) -> Predictions:
        return Predictions(p.labels[rows], None if p.proba is None else p.proba[rows], p.classes)

    return y[rows], sub(cand), sub(base)


@pytest.mark.parametrize("method", list(METHODS))
def test_intervals_cover_the_true_difference_on_test_sets_and_gated_slices(method: str) -> None:
    name, task, reps_whole, reps_slice = METHODS[method]
    metric = get_metric(name)
    rng = np.random.default_rng(7)
    y, cand, base = population(task, POPULATION, rng)
    truth_frame = prepare(y, cand, base, task)
    truth = metric.value(truth_frame, "cand") - metric.value(truth_frame, "base")

    for rows_each, reps in ((500, reps_whole), (100, reps_slice)):
        rows = rng.integers(0, POPULATION, size=rows_each * reps)
        frame = prepare(*take(y, cand, base, rows), task)
        groups = Groups.of(np.repeat(np.arange(reps), rows_each), reps)
        results = [r[0] for r in group_results([metric], frame, groups, STATS)]
        assert all(r.method == method for r in results if r.ci_low is not None)
        gated = [r for r in results if r.ci_low is not None and r.ci_high is not None]
        # Without an interval only where the method says why (too few of a class, no information).
        assert all(r.no_interval for r in results if r.ci_low is None and r.delta is not None)
        assert len(gated) >= 0.9 * reps, (method, rows_each, len(gated))
        covered = np.mean([r.ci_low <= truth <= r.ci_high for r in gated])  # type: ignore[operator]
        assert 0.92 <= covered <= 0.985, (method, rows_each, covered, truth)
        for r in gated:
            assert r.p_value is not None
            excludes_zero = r.ci_low > 0 or r.ci_high < 0  # type: ignore[operator]
            assert not (excludes_zero and r.p_value >= 0.05), (method, rows_each, r)


def test_mcnemar_interval_agrees_with_the_exact_test_where_few_pairs_disagree() -> None:
    # 4 discordant pairs, all one way: the exact p is 0.125, so the interval must include 0.
    y = np.ones(40, dtype=int)
    base = Predictions(np.r_[np.zeros(4, dtype=int), np.ones(36, dtype=int)])
    cand = Predictions(np.ones(40, dtype=int))
    frame = prepare(y, cand, base, "classification")
    (acc,) = group_results([get_metric("accuracy")], frame, Groups.whole(40), STATS)[0]
    assert acc.p_value == pytest.approx(0.125)
    assert acc.ci_low is not None and acc.ci_high is not None
    assert acc.ci_low <= 0 <= acc.ci_high and acc.ci_high >= acc.delta == pytest.approx(0.1)


@pytest.mark.parametrize("name", ["accuracy", "f1", "log_loss", "roc_auc"])
def test_models_that_agree_on_every_row_have_no_interval_rather_than_zero_width(name: str) -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, 200), 0.01, 0.99)
    same = Predictions((p > 0.5).astype(int), np.column_stack([1 - p, p]), [0, 1])
    frame = prepare(y, same, same, "classification")
    (m,) = group_results([get_metric(name)], frame, Groups.whole(200), STATS)[0]
    assert m.delta == 0 and m.ci_low is None and m.ci_high is None
    assert m.no_interval and "no information" in m.no_interval
    assert m.p_value is None or math.isnan(m.p_value) or m.p_value == 1.0
