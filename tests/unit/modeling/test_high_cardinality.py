"""A 400-value categorical column: one column of codes for HistGradientBoosting, capped one-hot otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from mlci.data.features import feature_kinds
from mlci.modeling.bundle import untrusted_types
from mlci.modeling.training import MAX_NATIVE, MAX_ONEHOT, _default_preprocessing, categorical_encoding_note


def stores(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    store = rng.zipf(1.3, n) % 400  # 400 values, many rare
    frame = pd.DataFrame({"store": [f"s{v:03d}" for v in store], "amount": rng.normal(0, 1, n)})
    y = ((store % 7 == 0) ^ (frame["amount"] > 0.5)).astype(int).to_numpy()
    return frame, y


def test_histgradientboosting_gets_one_column_of_codes_and_loads_with_default_trusted_types(tmp_path: Path):
    x, y = stores(3000)
    kinds = feature_kinds(x, ["store", "amount"], explicit=True)
    assert kinds.kinds["store"] in ("categorical", "identifier")
    model = _default_preprocessing(HistGradientBoostingClassifier(max_iter=10, random_state=0), kinds)
    model.fit(x, y)
    assert model.named_steps["preprocess"].transform(x).shape[1] == 2  # no dense one-hot of 400 values
    # The 254 most frequent values keep their own code, the rest share one.
    encoder = model.named_steps["preprocess"].named_transformers_["categorical"]
    assert len(encoder.categories_[0]) > MAX_NATIVE and encoder.infrequent_categories_[0] is not None
    # Unknown stores at prediction time are missing values, not an error.
    fresh = pd.DataFrame({"store": ["never-seen", "s001"], "amount": [0.0, 1.0]})
    assert model.predict_proba(fresh).shape == (2, 2)
    # mlci loads it with its default trusted types: nothing for the user to add.
    assert untrusted_types(sio.dumps(model), tmp_path / "model.skops") == []
    assert "one column of codes each" in (
        categorical_encoding_note("sklearn.ensemble.HistGradientBoostingClassifier", kinds) or ""
    )


def test_other_estimators_get_a_capped_one_hot_encoding(tmp_path: Path):
    x, y = stores(3000)
    kinds = feature_kinds(x, ["store", "amount"], explicit=True)
    model = _default_preprocessing(LogisticRegression(max_iter=200), kinds).fit(x, y)
    assert model.named_steps["preprocess"].transform(x).shape[1] <= MAX_ONEHOT + 1
    assert untrusted_types(sio.dumps(model), tmp_path / "model.skops") == []
    assert "one-hot" in (categorical_encoding_note("sklearn.linear_model.LogisticRegression", kinds) or "")
