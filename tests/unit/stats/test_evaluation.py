"""mlci.stats.evaluation: metrics, paired significance, slices and gates on synthetic data."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from mlci._internal.serial import from_data, to_data
from mlci.contracts.comparison import Comparison, MetricResult
from mlci.errors import DataError
from mlci.stats.comparison import compare
from mlci.stats.evaluation import Predictions, compute_metric
from mlci.stats.gates import apply_gates
from mlci.stats.specs import Gate, StatisticsSection

STATS = StatisticsSection(confidence=0.95, resamples=500, seed=0)


def binary_model(y: np.ndarray, noise: np.ndarray | float, rng: np.random.Generator) -> Predictions:
    """Return a probabilistic classifier whose scores are the truth plus `noise`-sized noise."""
    logit = 2.0 * (y - 0.5) + rng.normal(0, 1, len(y)) * noise
    p = 1 / (1 + np.exp(-logit))
    return Predictions(labels=(p > 0.5).astype(int), proba=np.column_stack([1 - p, p]), classes=[0, 1])


def run(y, cand, base, metrics, gates, slices=None, task="classification") -> Comparison:
    return compare(
        y, cand, base, task=task, metrics=metrics, primary=metrics[0], gates=gates, statistics=STATS, slices=slices
    )


# --- pass and fail --------------------------------------------------------------------------


def test_better_candidate_passes_and_worse_fails_naming_the_gate_and_numbers():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000)
    baseline = binary_model(y, 1.5, rng)
    better = binary_model(y, 1.0, rng)
    worse = binary_model(y, 2.2, rng)
    gates = [
        Gate(metric="roc_auc", min_absolute_change=-0.005, significant=False),
        Gate(metric="roc_auc", threshold=0.7),
    ]

    ok = run(y, better, baseline, ["roc_auc", "accuracy"], gates)
    assert ok.verdict.status == "pass", ok.verdict.reasons
    assert ok.verdict.reasons == []
    auc = ok.metric("roc_auc")
    assert auc is not None and auc.delta is not None and auc.delta > 0
    assert auc.method == "delong"
    assert ok.verdict.summary.startswith(f"roc_auc {auc.baseline:.4f} -> {auc.candidate:.4f} (+{auc.delta:.4f}, 95% CI")
    assert "passes 2 of 2 gates" in ok.verdict.summary

    bad = run(y, worse, baseline, ["roc_auc", "accuracy"], gates)
    assert bad.verdict.status == "fail"
    auc = bad.metric("roc_auc")
    assert auc is not None and auc.delta is not None and auc.ci_low is not None and auc.ci_high is not None
    assert len(bad.verdict.reasons) == 1  # the threshold gate still passes
    reason = bad.verdict.reasons[0]
    # One plain sentence: which way, by how much, the interval in the same direction, what is allowed.
    worse_by, lo, hi = -auc.delta, -auc.ci_high, -auc.ci_low
    assert (
        reason
        == f"roc_auc on overall: roc_auc got worse by {worse_by:.4f} (95% CI {lo:.4f} to {hi:.4f}); allowed: 0.005"
    )
    assert "fails 1 of 2 gates" in bad.verdict.summary


def test_significant_gate_needs_the_interval_to_exclude_zero():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 3000)
    baseline = binary_model(y, 1.0, rng)
    same_ish = binary_model(y, 1.0, rng)
    much_better = binary_model(y, 0.5, rng)
    gate = [Gate(metric="roc_auc", significant=True)]
    assert run(y, much_better, baseline, ["roc_auc"], gate).verdict.status == "pass"
    verdict = run(y, same_ish, baseline, ["roc_auc"], gate).verdict
    assert verdict.status == "fail"
    assert "required: better at 95% confidence" in verdict.reasons[0]


# --- slices -----------------------------------------------------------------------------------


def test_slightly_better_overall_but_worse_on_one_slice_fails_only_the_slice_gate():
    rng = np.random.default_rng(2)
    n = 8000
    region = np.where(rng.random(n) < 0.85, "north", "south")
    region[:12] = "east"  # a slice too small to gate
    y = rng.integers(0, 2, n)
    baseline = binary_model(y, 1.0, rng)
    # Sharper on the big slice, much worse on the small one.
    candidate = binary_model(y, np.where(region == "south", 1.6, 0.7), rng)
    gate = Gate(metric="roc_auc", min_absolute_change=-0.01, slices=True, min_slice_size=30)

    result = run(y, candidate, baseline, ["roc_auc"], [gate], slices={"region": region})

    auc = result.metric("roc_auc")
    assert auc is not None and auc.delta is not None and 0 < auc.delta < 0.05  # slightly better overall
    by_scope = {g.scope: g for g in result.verdict.gates}
    assert by_scope["overall"].passed
    assert by_scope["region=north"].passed
    assert not by_scope["region=south"].passed
    assert by_scope["region=east"].skipped and "n=12 below min_slice_size 30" in by_scope["region=east"].reason
    assert result.verdict.status == "fail"
    assert len(result.verdict.reasons) == 1
    assert result.verdict.reasons[0].startswith("roc_auc on region=south: roc_auc got worse by")
    assert "shown worse than allowed after holm across 2 slices" in result.verdict.reasons[0]
    (family,) = result.verdict.slice_tests
    assert (family.tested, family.failed, family.too_small, family.correction) == (2, 1, 1, "holm")
    south = next(s for s in result.slices if s.category == "south")
    assert south.n == int((region == "south").sum())
    assert south.metrics[0].method == "delong" and south.metrics[0].ci_low is not None


def test_one_class_slice_and_missing_categories_give_none_instead_of_crashing():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    y[:40] = 1
    plan = np.array(["basic"] * 400, dtype=object)
    plan[:40] = "gold"  # only positives: roc_auc undefined
    plan[40:50] = None
    cand, base = binary_model(y, 1.0, rng), binary_model(y, 1.2, rng)
    gate = Gate(metric="roc_auc", min_absolute_change=0.0, slices=True, min_slice_size=5)
    result = run(y, cand, base, ["roc_auc", "f1"], [gate], slices={"plan": plan})
    cats = {s.category: s for s in result.slices}
    assert set(cats) == {"basic", "gold", "(missing)"}
    gold_auc = cats["gold"].metrics[0]
    assert gold_auc.candidate is None and gold_auc.delta is None and gold_auc.p_value is None
    gold_gate = next(g for g in result.verdict.gates if g.scope == "plan=gold")
    assert (
        gold_gate.skipped and gold_gate.reason == "not gated: roc_auc is undefined: only one class (1) in these 40 rows"
    )
    json.dumps(to_data(result), allow_nan=False)


def test_a_gate_on_a_baseline_without_a_value_says_why():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 400)
    cand, base = binary_model(y, 1.0, rng), binary_model(y, 1.2, rng)
    base.proba[9] = [1.5, -0.5]  # sklearn refuses it: the baseline has no log_loss on these rows
    result = run(y, cand, base, ["log_loss"], [Gate(metric="log_loss", min_absolute_change=0.0)])
    (gate,) = result.verdict.gates
    assert not gate.passed
    assert gate.reason.endswith(
        "min_absolute_change not checked: the baseline's log_loss is undefined "
        "(the baseline's probabilities lie outside [0, 1] on 1 of these 400 rows)"
    ), gate.reason


# --- statistics against independent references --------------------------------------------


def delong_reference(y: np.ndarray, sc: np.ndarray, sb: np.ndarray, confidence: float):
    """DeLong et al. (1988) from its O(n²) definition: ψ matrices, structural components, covariance."""
    pos, neg = y == 1, y == 0
    v10, v01, aucs = [], [], []
    for s in (sc, sb):
        x, z = s[pos][:, None], s[neg][None, :]
        psi = (x > z) + 0.5 * (x == z)
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    contrast = np.array([1.0, -1.0])
    var = contrast @ s10 @ contrast / pos.sum() + contrast @ s01 @ contrast / neg.sum()
    delta = aucs[0] - aucs[1]
    z = stats.norm.ppf(0.5 + confidence / 2)
    se = math.sqrt(var)
    return delta, delta - z * se, delta + z * se, 2 * stats.norm.sf(abs(delta) / se)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_matches_the_quadratic_definition(seed):
    # Tolerance: 1e-9 absolute. Both compute the same estimator exactly (one by midranks on a
    # sort, one by the full pairwise ψ matrix), so only floating-point rounding may differ.
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 700)
    cand, base = binary_model(y, 1.0, rng), binary_model(y, 1.3, rng)
    # Rounding creates ties within and across classes, which the midrank form must handle.
    for p in (cand, base):
        p.proba = np.round(p.proba, 2)
    result = run(y, cand, base, ["roc_auc"], [])
    auc = result.metric("roc_auc")
    assert auc is not None and auc.method == "delong"
    delta, lo, hi, p_value = delong_reference(y, cand.proba[:, 1], base.proba[:, 1], 0.95)
    assert auc.delta == pytest.approx(delta, abs=1e-9)
    assert auc.ci_low == pytest.approx(lo, abs=1e-9)
    assert auc.ci_high == pytest.approx(hi, abs=1e-9)
    assert auc.p_value == pytest.approx(p_value, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 5, 9])
def test_mcnemar_p_matches_scipy_binomtest_on_discordant_pairs(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    cand = Predictions(np.where(rng.random(300) < 0.8, y, 1 - y))
    base = Predictions(np.where(rng.random(300) < 0.77, y, 1 - y))
    acc = run(y, cand, base, ["accuracy"], []).metric("accuracy")
    right_c, right_b = cand.labels == y, base.labels == y
    n10, n01 = int((right_c & ~right_b).sum()), int((~right_c & right_b).sum())
    expected = stats.binomtest(n10, n10 + n01, 0.5).pvalue
    assert acc is not None and acc.method == "mcnemar"
    assert acc.p_value == pytest.approx(expected, rel=1e-9)
    assert acc.delta == pytest.approx((n10 - n01) / 300)
    assert acc.ci_low < acc.delta < acc.ci_high


def test_mcnemar_with_equal_discordant_counts_is_p_one():
    y = np.array([1, 1, 0, 0, 1, 0])
    cand = Predictions(np.array([1, 0, 0, 0, 1, 0]))  # wrong on row 1
    base = Predictions(np.array([1, 1, 1, 0, 1, 0]))  # wrong on row 2
    acc = run(y, cand, base, ["accuracy"], []).metric("accuracy")
    assert acc is not None and acc.p_value == pytest.approx(stats.binomtest(1, 2, 0.5).pvalue) == 1.0


def test_mean_loss_interval_is_the_t_interval_of_per_row_differences():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 500)
    cand, base = binary_model(y, 1.0, rng), binary_model(y, 1.2, rng)
    loss = run(y, cand, base, ["log_loss"], []).metric("log_loss")

    rows = np.arange(500)
    d = -np.log(cand.proba[rows, y]) + np.log(base.proba[rows, y])
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    p = stats.ttest_1samp(d, 0.0).pvalue
    assert loss is not None and loss.method == "paired-t"
    assert loss.delta == pytest.approx(d.mean(), abs=1e-12)
    assert (loss.ci_low, loss.ci_high) == pytest.approx((lo, hi), abs=1e-12)
    assert loss.p_value == pytest.approx(p, rel=1e-9)


def test_regression_mae_interval_and_rmse_delta_method():
    rng = np.random.default_rng(5)
    y = rng.normal(10, 3, 600)
    cand, base = Predictions(y + rng.normal(0, 1.0, 600)), Predictions(y + rng.normal(0, 1.3, 600))
    result = run(y, cand, base, ["rmse", "mae", "r2"], [], task="regression")
    mae = result.metric("mae")
    d = np.abs(y - cand.labels) - np.abs(y - base.labels)
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert mae is not None and (mae.ci_low, mae.ci_high) == pytest.approx((lo, hi), abs=1e-12)
    rmse = result.metric("rmse")
    assert rmse is not None and rmse.method == "delta-method"
    assert rmse.ci_low is not None and rmse.ci_high is not None and rmse.ci_high < 0  # clearly better
    r2 = result.metric("r2")
    assert r2 is not None and r2.method == "bootstrap" and r2.ci_low is not None and r2.ci_low > 0


def test_bootstrap_interval_covers_the_delta_and_is_reproducible():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 3, 900)

    def model(noise):
        logits = np.eye(3)[y] * 1.5 + rng.normal(0, noise, (900, 3))
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return Predictions(p.argmax(axis=1), p, [0, 1, 2])

    cand, base = model(0.9), model(1.2)
    names = ["f1", "precision", "recall", "balanced_accuracy", "average_precision", "roc_auc", "brier"]
    first = run(y, cand, base, names, [])
    again = run(y, cand, base, names, [])
    assert to_data(first) == to_data(again)
    for m in first.metrics:
        assert m.candidate == pytest.approx(compute_metric(m.name, y, cand))
        assert m.ci_low is not None and m.ci_high is not None and m.p_value is not None, m.name
        assert m.ci_low <= m.delta <= m.ci_high, m
    assert first.metric("roc_auc").method == "bootstrap"  # multiclass: no DeLong


# --- no baseline, directions, gates alone -----------------------------------------------------


def test_no_baseline_is_bootstrap_and_checks_thresholds_only():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 1000)
    cand = binary_model(y, 1.0, rng)
    gates = [Gate(metric="roc_auc", threshold=0.6, min_absolute_change=0.0, significant=True)]
    result = run(y, cand, None, ["roc_auc", "log_loss"], gates)
    assert result.verdict.status == "bootstrap"
    auc = result.metric("roc_auc")
    assert auc is not None and auc.baseline is None and auc.delta is None and auc.ci_low is None
    assert auc.p_value is None and auc.method == "none"
    gate = result.verdict.gates[0]
    assert gate.passed and "threshold 0.6" in gate.reason and "no baseline yet" in gate.reason
    assert "no baseline yet" in result.verdict.summary

    relative_only = run(y, cand, None, ["roc_auc"], [Gate(metric="roc_auc", min_relative_change=0.01)])
    assert relative_only.verdict.status == "bootstrap"
    assert relative_only.verdict.gates[0].skipped

    too_high = run(y, cand, None, ["roc_auc"], [Gate(metric="roc_auc", threshold=0.99)])
    assert too_high.verdict.status == "fail"
    assert f"roc_auc is {auc.candidate:.4f}, below the threshold 0.99" in too_high.verdict.reasons[0]


def test_lower_is_better_metrics_gate_in_the_right_direction():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 3000)
    baseline = binary_model(y, 1.3, rng)
    better = binary_model(y, 0.8, rng)  # lower log loss
    worse = binary_model(y, 2.0, rng)
    gate = [Gate(metric="log_loss", min_absolute_change=0.0, non_inferiority_margin=0.01)]
    ok = run(y, better, baseline, ["log_loss"], gate)
    assert ok.metric("log_loss").delta < 0
    assert ok.verdict.status == "pass", ok.verdict.reasons
    bad = run(y, worse, baseline, ["log_loss"], gate)
    assert bad.verdict.status == "fail"
    assert "log_loss got worse by" in bad.verdict.reasons[0] and "required: no worse" in bad.verdict.reasons[0]
    assert "allowed: 0.01 at 95% confidence" in bad.verdict.reasons[0]

    yr = rng.normal(0, 5, 2000)
    base_r, good_r = Predictions(yr + rng.normal(0, 1.5, 2000)), Predictions(yr + rng.normal(0, 1.0, 2000))
    rmse_gates = [Gate(metric="rmse", threshold=1.2, min_relative_change=0.1)]
    passing = run(yr, good_r, base_r, ["rmse"], rmse_gates, task="regression")
    assert passing.verdict.status == "pass", passing.verdict.reasons
    failing = run(yr, base_r, good_r, ["rmse"], rmse_gates, task="regression")  # swapped: rmse went up
    assert failing.verdict.status == "fail"
    reason = failing.verdict.reasons[0]
    assert "above the threshold 1.2" in reason and "rmse got worse by" in reason
    assert "required: better by" in reason and "(min_relative_change)" in reason


def metric_result(delta, lo, hi, gib=True, base=0.8):
    return MetricResult(
        "roc_auc" if gib else "log_loss", gib, base, base + delta, delta, delta / base, lo, hi, 0.01, "x"
    )


def test_apply_gates_conditions_on_hand_made_results():
    sig = Gate(metric="roc_auc", significant=True)
    ni = Gate(metric="roc_auc", non_inferiority_margin=0.01)
    kw = {"confidence": 0.95, "has_baseline": True}
    assert apply_gates([metric_result(0.02, 0.005, 0.035)], [], [sig], **kw).status == "pass"
    assert apply_gates([metric_result(0.02, -0.001, 0.041)], [], [sig], **kw).status == "fail"
    assert apply_gates([metric_result(-0.004, -0.009, 0.001)], [], [ni], **kw).status == "pass"
    v = apply_gates([metric_result(-0.004, -0.012, 0.004)], [], [ni], **kw)
    assert v.status == "fail"
    assert v.reasons[0].startswith(
        "roc_auc on overall: roc_auc got worse by 0.0040 (95% CI -0.0040 to 0.0120); allowed: 0.01 at 95% confidence — "
        "inconclusive: the test rows resolve roc_auc changes of about ±0.0080; the margin is 0.01"
    )
    # lower-is-better: the worse side is the upper bound, improvement is a decrease
    ll_sig, ll_ni = Gate(metric="log_loss", significant=True), Gate(metric="log_loss", non_inferiority_margin=0.01)
    assert apply_gates([metric_result(-0.02, -0.03, -0.01, gib=False)], [], [ll_sig], **kw).status == "pass"
    assert apply_gates([metric_result(0.02, 0.01, 0.03, gib=False)], [], [ll_sig], **kw).status == "fail"
    assert apply_gates([metric_result(0.004, -0.001, 0.009, gib=False)], [], [ll_ni], **kw).status == "pass"
    assert apply_gates([metric_result(0.004, -0.001, 0.011, gib=False)], [], [ll_ni], **kw).status == "fail"
    missing = apply_gates([], [], [Gate(metric="f1", threshold=0.5)], **kw)
    assert missing.status == "fail" and "f1 was not computed" in missing.reasons[0]


def test_gate_metrics_are_computed_even_when_not_listed():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, 500)
    result = run(y, binary_model(y, 1.0, rng), None, ["roc_auc"], [Gate(metric="brier", threshold=0.5)])
    assert [m.name for m in result.metrics] == ["roc_auc", "brier"]


def test_bad_inputs_raise_data_errors():
    y = np.array([0, 1, 0, 1])
    with pytest.raises(DataError, match="predicted 3 rows"):
        run(y, Predictions(np.array([0, 1, 0])), None, ["accuracy"], [])
    with pytest.raises(DataError, match="needs predicted probabilities"):
        run(y, Predictions(y.copy()), None, ["roc_auc"], [])


# --- serialisation ---------------------------------------------------------------------------


def test_a_comparison_round_trips_through_json():
    rng = np.random.default_rng(10)
    y = rng.integers(0, 2, 600)
    seg = rng.choice(np.array(["a", "b", np.nan], dtype=object), 600)
    cand, base = binary_model(y, 1.0, rng), binary_model(y, 1.1, rng)
    gates = [Gate(metric="roc_auc", min_absolute_change=-0.01, slices=True), Gate(metric="log_loss", threshold=1.0)]
    result = run(y, cand, base, ["roc_auc", "accuracy", "log_loss", "f1"], gates, slices={"seg": seg})
    text = json.dumps(to_data(result), allow_nan=False)
    back = from_data(Comparison, json.loads(text))
    assert back == result
    assert to_data(back) == to_data(result)
    assert {s.category for s in back.slices} == {"a", "b", "(missing)"}
    assert all(type(v) is float for v in (back.metrics[0].candidate, back.metrics[0].p_value))


def test_relative_non_inferiority_margin_scales_with_the_baseline():
    # rmse ~ 56: equal models (delta CI -0.4..+0.6) pass a 2% margin (1.12) and fail an absolute 0.01.
    rel = Gate(metric="rmse", relative_non_inferiority_margin=0.02)
    absolute = Gate(metric="rmse", non_inferiority_margin=0.01)
    m = MetricResult("rmse", False, 56.0, 56.1, 0.1, 0.1 / 56, -0.4, 0.6, 0.6, "paired-t")
    kw = {"confidence": 0.95, "has_baseline": True}
    ok = apply_gates([m], [], [rel], **kw)
    assert ok.status == "pass"
    assert ok.gates[0].reason == "rmse got worse by 0.1000 (95% CI -0.4000 to 0.6000); allowed: 1.12"
    assert apply_gates([m], [], [absolute], **kw).status == "fail"
    worse = MetricResult("rmse", False, 56.0, 57.5, 1.5, 1.5 / 56, 0.5, 2.5, 0.01, "paired-t")
    assert apply_gates([worse], [], [rel], **kw).status == "fail"
