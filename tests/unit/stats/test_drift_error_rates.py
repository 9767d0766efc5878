"""Drift's verdict holds its false-alarm rate at every n and finds real shifts (pure functions, in process)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlci.stats.drift import build_profile, compare_profile
from mlci.stats.specs import DriftSection

RUNS = 100
STORES = np.array([f"s{i:03d}" for i in range(300)])
SETTINGS = DriftSection()


def table(rng: np.random.Generator, n: int, *, shift: float = 0.0, share: float = 0.2) -> pd.DataFrame:
    """A table with a number, a 4-value category, a listed 300-value column and a date."""
    days = rng.integers(0, 365, n)
    return pd.DataFrame(
        {
            "amount": rng.normal(shift, 1.0, n),
            "plan": np.where(rng.random(n) < share, "gold", rng.choice(["basic", "plus", "pro"], n)),
            "store": rng.choice(STORES, n),
            "day": pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D"),
        }
    )


def verdicts(n: int, seed: int, runs: int = RUNS, **change: float) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(runs):
        profile = build_profile(table(rng, n), features=["amount", "plan", "store", "day"], categorical=["store"])
        report = compare_profile(profile, table(rng, n, **change), SETTINGS)
        out.append({f.feature: f.status for f in report.features})
    return out


@pytest.mark.parametrize("n", [200, 10_000])
def test_no_drift_is_flagged_in_at_most_a_tenth_of_runs_at_any_n(n: int) -> None:
    runs = verdicts(n, seed=n)
    flagged = [r for r in runs if set(r.values()) != {"ok"}]
    assert len(flagged) <= 10, flagged
    # The 300-value column, most of whose values a 200-row reference never saw, is not drift.
    assert sum(r["store"] != "ok" for r in runs) <= 5


def test_a_small_mean_shift_and_a_share_change_fail_at_ten_thousand_rows() -> None:
    runs = verdicts(10_000, seed=1, shift=0.3)
    assert sum(r["amount"] == "fail" for r in runs) >= 95
    moved = verdicts(10_000, seed=2, runs=10, share=0.3)  # 20% -> 30% gold
    assert all(r["plan"] == "fail" for r in moved)


def test_a_date_shifted_a_year_and_new_words_in_text_are_reported() -> None:
    rng = np.random.default_rng(5)
    words = np.array(["late", "delivery", "refund", "broken", "thanks", "great", "slow", "box"])
    fresh = np.array(["crypto", "wallet", "nft", "token"])

    def notes(pool: np.ndarray, n: int) -> list[str]:
        return [" ".join(rng.choice(pool, rng.integers(3, 9))) for _ in range(n)]

    reference = table(rng, 2000).assign(note=notes(words, 2000))
    current = table(rng, 2000).assign(note=notes(np.r_[words, fresh], 2000))
    current["day"] = current["day"] + pd.DateOffset(years=1)
    features = ["amount", "plan", "store", "day", "note"]
    profile = build_profile(
        reference, features=features, categorical=["store"], text=["note"], skipped={"id": "an identifier"}
    )
    report = compare_profile(profile, current, SETTINGS)
    by = {f.feature: f for f in report.features}
    assert by["day"].kind == "datetime" and by["day"].status == "fail"
    assert by["day"].detail is not None and by["day"].detail.startswith("100.0% of rows outside the reference range")
    assert by["note"].kind == "text" and by["note"].status == "fail"
    assert by["note"].detail is not None and "outside the reference vocabulary (reference 0.0%)" in by["note"].detail
    assert report.skipped == {"id": "an identifier"}
