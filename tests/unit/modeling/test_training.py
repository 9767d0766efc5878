"""Training details that evaluation and deploys rely on."""

from __future__ import annotations

import numpy as np
import pytest

from mlci.config.schema import load_config
from mlci.data.features import feature_kinds
from mlci.data.tables import load_datasets
from mlci.modeling.training import build_estimator, predictions, score_of
from tests.support.paths import EXAMPLE


@pytest.fixture(scope="module")
def data():
    config = load_config(EXAMPLE / "mlci.yaml", env={})
    return config, load_datasets(config)


@pytest.mark.parametrize(
    "estimator",
    [
        "sklearn.ensemble.HistGradientBoostingClassifier",
        "sklearn.linear_model.LogisticRegression",
        "sklearn.ensemble.RandomForestClassifier",
        "sklearn.svm.SVC",  # outside the argmax families: its own predict() is used
    ],
)
def test_one_pass_labels_equal_the_estimators_own_predict(data, estimator):
    config, datasets = data
    config = config.model_copy(update={"model": config.model.model_copy(update={"estimator": estimator})})
    params = {"probability": True, "random_state": 0} if estimator.endswith("SVC") else {}
    config.model.params = params
    kinds = feature_kinds(datasets.train, datasets.features, explicit=True)
    model = build_estimator(config, kinds).fit(datasets.train[datasets.features], datasets.train[datasets.target])
    X = datasets.test[datasets.features]
    pred = predictions(model, X, "classification")
    assert (pred.labels == model.predict(X)).all()
    assert np.allclose(pred.proba, model.predict_proba(X))
    assert np.allclose(score_of(pred), model.predict_proba(X)[:, 1])
