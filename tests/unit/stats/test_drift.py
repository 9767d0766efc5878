"""Drift of fresh data against a training profile: PSI, KS / chi-square, thresholds, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlci._internal.serial import from_data, to_data
from mlci.contracts.drift import CategoricalEntry, DriftReport, NumericEntry, Profile
from mlci.errors import DataError
from mlci.stats.drift import EPSILON, build_profile, compare_profile
from mlci.stats.specs import DriftFeature, DriftSection

FEATURES = ["age", "income", "tenure", "plan", "region"]


def make_table(seed: int, n: int = 4000, *, age_shift: float = 0.0, plan_basic: float = 0.5) -> pd.DataFrame:
    """A churn-like table; `age_shift` in standard deviations, `plan_basic` the share of 'basic'."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40 + 10 * age_shift, 10, n),
            "income": rng.lognormal(10, 0.5, n),
            "tenure": rng.integers(0, 60, n),
            "plan": rng.choice(["basic", "premium"], n, p=[plan_basic, 1 - plan_basic]),
            "region": rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_table(seed=1)


@pytest.fixture(scope="module")
def profile(reference: pd.DataFrame) -> Profile:
    return build_profile(reference, features=FEATURES)


def by_name(report: DriftReport) -> dict:
    return {f.feature: f for f in report.features}


def test_profile_is_strict_json_with_open_outer_edges(profile: Profile) -> None:
    again = json.loads(profile.dump())
    json.dumps(again, allow_nan=False)  # raises on NaN / Infinity
    age = again["features"]["age"]
    assert age["kind"] == "numeric"
    assert age["edges"][0] is None and age["edges"][-1] is None
    assert len(age["edges"]) == 11 and len(age["counts"]) == 10  # deciles: 9 inner edges
    assert sum(age["counts"]) == 4000
    assert again["features"]["plan"]["kind"] == "categorical"
    assert set(again["features"]["plan"]["counts"]) == {"basic", "premium"}
    assert again["rows"] == 4000 and again["predictions"] is None


def test_fresh_sample_from_the_same_generator_does_not_warn(profile: Profile) -> None:
    report = compare_profile(profile, make_table(seed=2), DriftSection())
    assert report.status == "ok"
    assert [f.status for f in report.features] == ["ok"] * len(FEATURES)
    assert min(f.p_adjusted for f in report.features) >= DriftSection().alpha


def test_shifted_mean_and_changed_mix_fail_and_come_first(profile: Profile) -> None:
    current = make_table(seed=3, age_shift=1.0, plan_basic=0.9)
    report = compare_profile(profile, current, DriftSection())
    assert report.status == "fail"
    assert {f.feature for f in report.features[:2]} == {"age", "plan"}
    assert all(f.status == "fail" and f.effect >= 0.03 and f.p_adjusted < 0.05 for f in report.features[:2])
    assert all(f.status == "ok" for f in report.features[2:])
    # Worst first: the two failures are ordered by effect size.
    assert report.features[0].effect >= report.features[1].effect


def test_psi_and_ks_agree_with_their_formulas_on_the_stored_bins(reference: pd.DataFrame, profile: Profile) -> None:
    current = make_table(seed=4, age_shift=0.3)
    got = by_name(compare_profile(profile, current, DriftSection()))["age"]

    entry = profile.features["age"]
    assert isinstance(entry, NumericEntry)
    inner = np.array(entry.inner_edges, dtype=float)
    lows = np.concatenate([[-np.inf], inner])
    highs = np.concatenate([inner, [np.inf]])
    x_ref = reference["age"].to_numpy()
    x_cur = current["age"].to_numpy()
    # Right-closed bins (lo, hi], counted directly rather than with searchsorted.
    ref = np.array([((x_ref > lo) & (x_ref <= hi)).sum() for lo, hi in zip(lows, highs, strict=True)])
    cur = np.array([((x_cur > lo) & (x_cur <= hi)).sum() for lo, hi in zip(lows, highs, strict=True)])
    assert ref.tolist() == entry.counts
    p = np.where(ref == 0, EPSILON, ref / ref.sum())
    q = np.where(cur == 0, EPSILON, cur / cur.sum())
    assert got.psi == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-12)

    n, m = len(x_ref), len(x_cur)
    d = max(abs(np.mean(x_ref <= e) - np.mean(x_cur <= e)) for e in inner)
    assert got.test == "ks"
    assert got.statistic == pytest.approx(d, rel=1e-12)
    en = n * m / (n + m)
    assert got.p_value == pytest.approx(stats.kstwo.sf(d, round(en)), rel=1e-9)
    # The asymptotic Kolmogorov distribution gives nearly the same p-value at this n.
    assert got.p_value == pytest.approx(stats.kstwobign.sf(math.sqrt(en) * d), rel=0.1)
    # Binning can only hide CDF gaps, never invent them.
    assert got.statistic <= stats.ks_2samp(x_ref, x_cur).statistic + 1e-12


def test_chi_square_agrees_with_its_formula(reference: pd.DataFrame, profile: Profile) -> None:
    current = make_table(seed=5, plan_basic=0.6)
    got = by_name(compare_profile(profile, current, DriftSection()))["plan"]
    table = np.array(
        [
            [(reference["plan"] == c).sum() for c in ("basic", "premium")],
            [(current["plan"] == c).sum() for c in ("basic", "premium")],
        ],
        dtype=float,
    )
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    assert got.test == "chi2"
    assert got.statistic == pytest.approx(statistic, rel=1e-9)
    assert got.p_value == pytest.approx(stats.chi2.sf(statistic, 1), rel=1e-9)


def test_unseen_categories_are_reported_and_drive_psi(profile: Profile) -> None:
    current = make_table(seed=6)
    current.loc[:399, "region"] = "atlantis"  # 10% of rows in a region training never saw
    current.loc[400:419, "region"] = "lemuria"
    got = by_name(compare_profile(profile, current, DriftSection()))["region"]
    assert got.unseen == ["atlantis", "lemuria"]  # most frequent first
    # The unseen bucket's reference share is EPSILON, so 10% of new rows alone fails the feature.
    assert got.status == "fail"
    assert by_name(compare_profile(profile, make_table(seed=6), DriftSection()))["region"].unseen == []

    # PSI over the stored categories + __other__ + the unseen bucket, EPSILON for empty shares.
    entry = profile.features["region"]
    assert isinstance(entry, CategoricalEntry)
    ref = np.array([*entry.counts.values(), entry.other, 0], dtype=float)
    col = current["region"]
    cur = np.array([*((col == c).sum() for c in entry.counts), 0, (~col.isin(list(entry.counts))).sum()])
    p = np.where(ref == 0, EPSILON, ref / ref.sum())
    q = np.where(cur == 0, EPSILON, cur / cur.sum())
    assert got.psi == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-12)


def test_a_rare_known_category_beyond_top_k_is_not_unseen() -> None:
    rng = np.random.default_rng(7)
    labels = np.array([f"c{i}" for i in range(30)])
    reference = pd.DataFrame({"city": rng.choice(labels, 6000)})
    profile = build_profile(reference, features=["city"], top_k=5)
    entry = profile.features["city"]
    assert isinstance(entry, CategoricalEntry)
    assert len(entry.counts) == 5 and entry.other == 6000 - sum(entry.counts.values())
    current = pd.DataFrame({"city": [*rng.choice(labels, 3000), "c-new"]})
    got = compare_profile(profile, current, DriftSection()).features[0]
    assert got.unseen == ["c-new"]
    assert got.status == "ok"


def test_null_rates_are_reported(profile: Profile) -> None:
    current = make_table(seed=8).astype({"income": "float64"})
    current.loc[:999, "income"] = np.nan
    got = by_name(compare_profile(profile, current, DriftSection()))["income"]
    assert got.null_rate_ref == 0.0
    assert got.null_rate_cur == pytest.approx(0.25)


def test_an_empty_current_table_is_a_data_error(profile: Profile) -> None:
    with pytest.raises(DataError, match="has no rows"):
        compare_profile(profile, make_table(seed=9).iloc[:0], DriftSection())


def test_a_missing_column_is_a_data_error_naming_it(profile: Profile) -> None:
    current = make_table(seed=9).drop(columns=["tenure"])
    with pytest.raises(DataError, match="'tenure'") as info:
        compare_profile(profile, current, DriftSection())
    assert "drift.ignore" in str(info.value)
    # Ignoring the column is the way out the message offers.
    report = compare_profile(profile, current, DriftSection(ignore=["tenure"]))
    assert "tenure" not in by_name(report)


def test_a_non_numeric_value_in_a_numeric_column_is_a_data_error(profile: Profile) -> None:
    current = make_table(seed=9).astype({"age": object})
    current.loc[3, "age"] = "forty"
    with pytest.raises(DataError, match="'age'"):
        compare_profile(profile, current, DriftSection())


def test_report_round_trips_through_json(profile: Profile) -> None:
    current = make_table(seed=10, age_shift=0.5)
    current.loc[:9, "region"] = "atlantis"
    report = compare_profile(profile, current, DriftSection())
    data = json.loads(json.dumps(to_data(report), allow_nan=False))
    assert data["counts"] == report.counts
    assert from_data(DriftReport, data) == report


def test_nan_statistics_survive_the_round_trip(profile: Profile) -> None:
    current = make_table(seed=11).astype({"age": "float64"})
    current["age"] = np.nan  # no values: the KS test is undefined
    report = compare_profile(profile, current, DriftSection())
    age = by_name(report)["age"]
    assert math.isnan(age.statistic) and age.status == "fail"
    data = json.loads(json.dumps(to_data(report), allow_nan=False))
    assert math.isnan(by_name(from_data(DriftReport, data))["age"].statistic)


def test_per_feature_override_and_ignore_are_honoured(profile: Profile) -> None:
    current = make_table(seed=12, age_shift=1.0, plan_basic=0.9)
    settings = DriftSection(features={"age": DriftFeature(min_effect=0.9)}, ignore=["plan"])
    report = compare_profile(profile, current, settings)
    features = by_name(report)
    assert "plan" not in features and report.skipped == {"plan": "listed under drift.ignore"}
    # Significant but below its own effect floor: a warning, not a failure.
    assert features["age"].status == "warn" and features["age"].psi > 0.25
    assert report.status == "warn"
    # A PSI level, where set, fails a significant feature below the effect floor.
    settings = DriftSection(features={"age": DriftFeature(min_effect=0.9, psi_fail=0.25)})
    assert by_name(compare_profile(profile, current, settings))["age"].status == "fail"


def test_prediction_drift_for_scores_and_for_labels(reference: pd.DataFrame) -> None:
    rng = np.random.default_rng(14)
    scores = build_profile(reference, features=["age"], predictions=rng.beta(2, 5, 4000))
    assert isinstance(scores.predictions, NumericEntry)
    same = compare_profile(scores, make_table(seed=15), DriftSection(), predictions=rng.beta(2, 5, 3000))
    moved = compare_profile(scores, make_table(seed=15), DriftSection(), predictions=rng.beta(5, 2, 3000))
    assert by_name(same)["prediction"].status == "ok"
    assert by_name(moved)["prediction"].status == "fail"
    assert by_name(moved)["prediction"].kind == "prediction" and by_name(moved)["prediction"].test == "ks"

    labels = build_profile(reference, features=["age"], predictions=rng.choice([0, 1], 4000, p=[0.7, 0.3]))
    assert isinstance(labels.predictions, CategoricalEntry)
    flipped = rng.choice([0, 1], 3000, p=[0.3, 0.7])
    got = by_name(compare_profile(labels, make_table(seed=15), DriftSection(), predictions=flipped))["prediction"]
    assert got.test == "chi2" and got.status == "fail"
