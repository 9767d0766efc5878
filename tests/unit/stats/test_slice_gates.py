"""Slice gates judge intervals with the family's error controlled, not point estimates."""

from __future__ import annotations

import numpy as np

from mlci.stats.comparison import compare
from mlci.stats.evaluation import Predictions
from mlci.stats.specs import Gate, StatisticsSection


def model(latent: np.ndarray, rng: np.random.Generator) -> Predictions:
    p = 1 / (1 + np.exp(-(latent + rng.normal(0, 0.6, len(latent)))))
    return Predictions((p > 0.5).astype(int), np.column_stack([1 - p, p]), [0, 1])


def test_400_slices_of_a_retrained_twin_pass_and_a_truly_worse_slice_still_fails():
    # 80k rows, a 400-value store_id; the candidate is the baseline's model with another seed.
    rng = np.random.default_rng(0)
    n = 80_000
    store = rng.integers(0, 400, n).astype(str)
    y = (rng.random(n) < 0.4).astype(int)
    latent = 1.6 * (y - 0.4) + rng.normal(0, 1, n)
    base, twin = model(latent, np.random.default_rng(1)), model(latent, np.random.default_rng(2))
    gate = Gate(metric="roc_auc", min_absolute_change=-0.03, slices=True)  # the config example's slice gate
    stats = StatisticsSection()

    def check(candidate: Predictions):
        return compare(
            y, candidate, base, task="classification", metrics=["roc_auc"], primary="roc_auc",
            gates=[gate], statistics=stats, slices={"store_id": store},
        )  # fmt: skip

    same = check(twin)
    slice_gates = [g for g in same.verdict.gates if g.scope != "overall"]
    assert len(slice_gates) == 400 and not [g for g in slice_gates if not g.passed]
    (family,) = same.verdict.slice_tests
    assert (family.tested, family.failed, family.correction) == (400, 0, "holm")
    # The point estimates alone would have failed some of these slices: the intervals are what spare them.
    below = [s for s in same.slices if s.metrics[0].delta is not None and s.metrics[0].delta < -0.03]
    assert below

    worse = twin.proba.copy()
    bad = store == "7"
    worse[bad, 1] = rng.random(int(bad.sum()))  # this store's scores are noise: AUC ~0.5
    broken = check(
        Predictions((worse[:, 1] > 0.5).astype(int), np.column_stack([1 - worse[:, 1], worse[:, 1]]), [0, 1])
    )
    failed = [g for g in broken.verdict.gates if not g.passed]
    assert [g.scope for g in failed] == ["store_id=7"]
    assert "shown worse than allowed after holm across 400 slices" in failed[0].reason
    assert broken.verdict.slice_tests[0].failed == 1


def test_precision_and_recall_that_zero_division_would_invent_are_undefined_and_not_gated():
    # A slice the candidate never predicts positive in, and one without positives: scikit-learn's
    # zero_division would give both a 0 (a "worse by 0.8" that fails a slice gate); mlci has no
    # value there, says why, and does not gate it. A candidate that never predicts a positive
    # fails the overall gate on precision, with the reason, instead of scoring an invented 0.
    rng = np.random.default_rng(5)
    n = 600
    y = (rng.random(n) < 0.4).astype(int)
    region = np.array(["north", "south", "west"])[rng.integers(0, 3, n)]
    y[region == "west"] = 0
    base = model(2.0 * (y - 0.4), rng)
    cand = model(2.0 * (y - 0.4), rng)
    cand.labels[region == "south"] = 0
    gates = [Gate(metric=name, min_absolute_change=-0.05, slices=True) for name in ("precision", "recall")]
    result = compare(
        y, cand, base, task="classification", metrics=["precision", "recall"], primary="precision",
        gates=gates, statistics=StatisticsSection(resamples=200), slices={"region": region},
    )  # fmt: skip
    by = {(g.metric, g.scope): g for g in result.verdict.gates}
    south = next(s for s in result.slices if s.category == "south").metrics[0]
    assert south.candidate is None and south.delta is None
    assert (
        south.undefined
        == f"no predicted positives: the candidate predicts 1 on none of these {(region == 'south').sum()} rows"
    )
    west = next(s for s in result.slices if s.category == "west").metrics[1]
    assert west.candidate is None and west.baseline is None
    assert west.undefined == f"no positives: no rows of class 1 in these {(region == 'west').sum()} rows"
    for key in [("precision", "region=south"), ("recall", "region=west")]:
        assert by[key].passed and by[key].skipped and by[key].reason.startswith("not gated: "), by[key]
    # The candidate finds no positive in the south, where the baseline finds them all: recall there
    # is worse by 1 in every resample, which fails (the same difference everywhere is no "no information").
    failed = [(g.metric, g.scope) for g in result.verdict.gates if not g.passed]
    assert failed == [("precision", "overall"), ("recall", "overall"), ("recall", "region=south")]
    families = {f.metric: f for f in result.verdict.slice_tests}
    # Precision in the west is 0 for both (no positives there, both predict some): no information.
    assert (families["precision"].tested, families["precision"].without_interval) == (1, 2)
    assert (families["recall"].tested, families["recall"].without_interval, families["recall"].failed) == (2, 1, 1)

    silent = Predictions(np.zeros(n, dtype=int), cand.proba, [0, 1])
    none = compare(
        y, silent, base, task="classification", metrics=["precision"], primary="precision",
        gates=gates[:1], statistics=StatisticsSection(resamples=200),
    )  # fmt: skip
    (gate,) = none.verdict.gates
    assert none.metrics[0].candidate is None and not gate.passed
    assert (
        gate.reason
        == f"precision is undefined: no predicted positives: the candidate predicts 1 on none of these {n} rows"
    )
