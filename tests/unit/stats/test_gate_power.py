"""Gates say when the test set cannot decide: the resolvable change, `inconclusive` and the rows needed."""

from __future__ import annotations

import json
import re

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlci._internal.serial import to_data
from mlci.contracts.comparison import MetricResult
from mlci.stats.comparison import compare
from mlci.stats.evaluation import Predictions
from mlci.stats.gates import apply_gates
from mlci.stats.specs import Gate, StatisticsSection


def test_a_small_test_set_fails_as_inconclusive_with_the_rows_it_would_need():
    # Breast cancer, 200 test rows, LogisticRegression -> RandomForest, the margin `mlci init` writes.
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=200, random_state=11)

    def predictions(model) -> Predictions:
        model.fit(x_train, y_train)
        return Predictions(model.predict(x_test), model.predict_proba(x_test), [0, 1])

    base = predictions(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)))
    cand = predictions(RandomForestClassifier(n_estimators=50, random_state=0))
    gate = Gate(metric="roc_auc", non_inferiority_margin=0.01)
    result = compare(
        y_test, cand, base, task="classification", metrics=["roc_auc"], primary="roc_auc",
        gates=[gate], statistics=StatisticsSection(),
    )  # fmt: skip
    auc = result.metric("roc_auc")
    assert auc is not None and auc.ci_low is not None and auc.ci_high is not None
    assert auc.ci_low < -0.01 < 0 < auc.ci_high  # neither shown worse than allowed nor within it

    (g,) = result.verdict.gates
    assert result.verdict.status == "fail" and not g.passed  # a CI gate does not pass what it cannot show
    assert g.inconclusive and g.resolvable is not None and g.resolvable > 0.01
    assert g.rows_needed is not None and g.rows_needed > 200
    words = re.escape(f"inconclusive: 200 test rows resolve roc_auc changes of about ±{g.resolvable:.3g}")
    assert re.search(words + r"; the margin is 0\.01; about [\d,]+ rows would be needed", g.reason), g.reason
    assert re.search(words + r"; the margin is 0\.01; about [\d,]+ rows would be needed", result.verdict.summary)
    saved = json.loads(json.dumps(to_data(result)))["verdict"]["gates"][0]
    assert saved["inconclusive"] is True and saved["rows_needed"] == g.rows_needed


def test_a_candidate_shown_worse_than_allowed_is_not_inconclusive():
    worse = MetricResult("roc_auc", True, 0.9, 0.85, -0.05, -0.05 / 0.9, -0.07, -0.03, 0.001, "delong")
    v = apply_gates([worse], [], [Gate(metric="roc_auc", non_inferiority_margin=0.01)], confidence=0.95,
                    has_baseline=True, n_rows=1000)  # fmt: skip
    assert v.status == "fail" and not v.gates[0].inconclusive and "inconclusive" not in v.summary
    assert v.reasons == [
        "roc_auc on overall: roc_auc got worse by 0.0500 (95% CI 0.0300 to 0.0700); allowed: 0.01 at 95% confidence"
    ]
    assert v.gates[0].resolvable == pytest.approx(0.02)


def test_init_warns_when_the_test_set_cannot_resolve_the_margin_it_writes():
    from mlci.flows.scaffold import MARGIN, margin_warning

    # Breast cancer's 200 test rows (37% malignant): about ±0.02, so init warns with the rows needed.
    warning = margin_warning(200, 212 / 569, MARGIN)
    assert warning is not None
    found = re.search(
        r"200 test rows likely resolve roc_auc changes of only about ±([\d.]+).*about ([\d,]+) test rows", warning
    )
    assert found and float(found.group(1)) > MARGIN and int(found.group(2).replace(",", "")) > 200
    assert margin_warning(40_000, 0.4, MARGIN) is None  # a large test set resolves it: no warning
