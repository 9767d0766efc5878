"""Per-example metrics (`model.format: results`) against an independent computation with scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlci.stats.examples import changed_examples, compare_examples
from mlci.stats.specs import ExampleMetricSpec, Gate, StatisticsSection
from tests.support.paired import newcombe_widened

SPECS = [
    ExampleMetricSpec(name="correct", kind="binary"),
    ExampleMetricSpec(name="judge"),
    ExampleMetricSpec(name="latency", lower_is_better=True, summary="p95"),
    ExampleMetricSpec(name="cost", lower_is_better=True, summary="sum"),
]


def results(seed: int = 3, n: int = 400) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    base = {
        "correct": (rng.random(n) < 0.6).astype(float),
        "judge": rng.random(n),
        "latency": rng.gamma(2.0, 150.0, n),
        "cost": rng.random(n) / 1000,
    }
    flip = rng.random(n)
    cand = {
        "correct": np.where(flip < 0.08, 1.0, np.where(flip > 0.97, 0.0, base["correct"])),
        "judge": base["judge"] + rng.normal(0.02, 0.1, n),
        "latency": base["latency"] * rng.normal(1.1, 0.05, n),
        "cost": base["cost"] * 1.2,
    }
    return cand, base, np.array(["a", "b", "c", "d"])[rng.integers(0, 4, n)]


def by_name(metrics: list, name: str):
    return next(m for m in metrics if m.name == name)


def test_each_kind_matches_scipy_overall_and_per_slice():
    cand, base, topic = results()
    statistics = StatisticsSection(resamples=1000, seed=5)
    comparison = compare_examples(
        cand, base, specs=SPECS, primary="correct", gates=[], statistics=statistics, slices={"topic": topic}
    )
    scopes = [(comparison.metrics, np.ones(len(topic), bool))]
    scopes += [(s.metrics, topic == s.category) for s in comparison.slices]
    assert len(scopes) == 5
    for metrics, rows in scopes:
        c = {k: v[rows] for k, v in cand.items()}
        b = {k: v[rows] for k, v in base.items()}
        n = int(rows.sum())
        # binary: the exact McNemar p-value and Newcombe's paired score interval of the rate
        # difference (method 10), widened to the exact conditional (Clopper-Pearson) interval,
        # recomputed here from scipy's Wilson and exact binomial intervals
        correct = by_name(metrics, "correct")
        right_c, right_b = c["correct"] == 1, b["correct"] == 1
        n10, n01 = int((right_c & ~right_b).sum()), int((~right_c & right_b).sum())
        both, neither = int((right_c & right_b).sum()), int((~right_c & ~right_b).sum())
        assert correct.method == "mcnemar"
        assert correct.p_value == pytest.approx(stats.binomtest(n10, n10 + n01, 0.5).pvalue, rel=1e-9)
        assert correct.delta == pytest.approx((n10 - n01) / n)
        assert (correct.ci_low, correct.ci_high) == pytest.approx(newcombe_widened(n10, n01, both, neither), rel=1e-9)
        # continuous mean: the paired t-test
        judge = by_name(metrics, "judge")
        t = stats.ttest_rel(c["judge"], b["judge"])
        assert judge.method == "paired-t"
        assert judge.p_value == pytest.approx(t.pvalue, rel=1e-9)
        assert (judge.ci_low, judge.ci_high) == pytest.approx(tuple(t.confidence_interval()), rel=1e-9)
        # sum: n times the paired t-interval of the mean difference, same p-value
        cost = by_name(metrics, "cost")
        t = stats.ttest_rel(c["cost"], b["cost"])
        assert cost.method == "paired-t sum"
        assert cost.candidate == pytest.approx(c["cost"].sum())
        assert (cost.ci_low, cost.ci_high) == pytest.approx(tuple(n * x for x in t.confidence_interval()), rel=1e-9)
        assert cost.p_value == pytest.approx(t.pvalue, rel=1e-9)
        # p95: a paired bootstrap of the quantile difference, here against scipy's own
        latency = by_name(metrics, "latency")
        assert latency.method == "bootstrap p95"
        assert latency.delta == pytest.approx(np.quantile(c["latency"], 0.95) - np.quantile(b["latency"], 0.95))
        ref = stats.bootstrap(
            (c["latency"], b["latency"]),
            lambda x, y, axis=-1: np.quantile(x, 0.95, axis=axis) - np.quantile(y, 0.95, axis=axis),
            paired=True,
            n_resamples=1000,
            method="percentile",
            random_state=1,
        ).confidence_interval
        width = ref.high - ref.low
        assert abs(latency.ci_low - ref.low) < 0.2 * width and abs(latency.ci_high - ref.high) < 0.2 * width


def test_the_same_seed_gives_the_same_quantile_interval_and_gates_apply():
    cand, base, _ = results()
    gate = Gate.model_validate(
        {"metric": "latency", "relative_non_inferiority_margin": 0.02}, context={"per_example": ["latency"]}
    )
    runs = [
        compare_examples(cand, base, specs=SPECS, primary="correct", gates=[gate], statistics=StatisticsSection())
        for _ in range(2)
    ]
    assert by_name(runs[0].metrics, "latency") == by_name(runs[1].metrics, "latency")
    assert runs[0].verdict.status == "fail"
    assert runs[0].verdict.reasons[0].startswith("latency on overall: latency got worse by")


def test_changed_examples_name_ids_and_slices_largest_change_first():
    ids = ["q1", "q2", "q3", "q4"]
    changed = changed_examples(
        ids,
        np.array([1.0, 0.0, 1.0, 5.0]),
        np.array([0.0, 1.0, 1.0, 2.0]),
        metric="m",
        lower_is_better=False,
        slices={"topic": np.array(["x", "y", "x", "y"])},
        limit=1,
    )
    assert (changed.won_count, changed.lost_count) == (2, 1)
    assert [(x.id, x.slices) for x in changed.won] == [("q4", {"topic": "y"})]
    assert [x.id for x in changed.lost] == ["q2"] and changed.lost[0].texts is None
