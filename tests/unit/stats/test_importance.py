"""Permutation importance through a scorer that is called once per model, for every permuted copy of the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlci.stats.evaluation import Predictions
from mlci.stats.importance import changes, permutation


def test_every_permutation_is_scored_in_one_call_and_the_strong_feature_leads():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"strong": rng.normal(size=400), "noise": rng.normal(size=400)})
    y = (frame["strong"] + 0.3 * rng.normal(size=400) > 0).astype(int).to_numpy()
    calls = []

    def score(rows: pd.DataFrame) -> Predictions:  # a model that reads `strong` only
        calls.append(len(rows))
        p = 1 / (1 + np.exp(-3 * rows["strong"].to_numpy()))
        return Predictions((p > 0.5).astype(int), np.column_stack([1 - p, p]), [0, 1])

    found = permutation(frame, y, score, metric="roc_auc", repeats=4, seed=0, confidence=0.95)
    assert calls == [400 * (2 * 4 + 1)]  # the unpermuted rows and 2 features x 4 repeats, in one call
    strong, noise = found
    assert strong.feature == "strong" and strong.ci_low > 0.2
    assert noise.feature == "noise" and noise.mean == 0 == noise.ci_low == noise.ci_high

    moved = changes(candidate=[noise], baseline=found)
    assert moved[0].feature == "strong" and moved[0].candidate is None and moved[0].delta == -strong.mean
