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
