"""Tables a newcomer brings: scikit-learn's bundled datasets and a generated table with an id, a date, text and gaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

WORDS = [
    "fast",
    "slow",
    "broken",
    "great",
    "awful",
    "refund",
    "love",
    "hate",
    "shipping",
    "price",
    "quality",
    "support",
    "late",
    "early",
    "box",
]


def orders(n: int, seed: int = 0) -> pd.DataFrame:
    """Return `n` orders: an id, a datetime, an amount with gaps, a category, a boolean, free text, an e-mail."""
    rng = np.random.default_rng(seed)
    ordered = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700 * 24, n), unit="h")
    amount = rng.gamma(2.0, 50.0, n)
    segment = rng.choice(["a", "b", "c"], n)
    express = rng.random(n) < 0.3
    review = [" ".join(rng.choice(WORDS, rng.integers(3, 9))) for _ in range(n)]
    logit = (
        0.01 * (amount - 100)
        + (segment == "b") * 0.8
        + express * 0.5
        + (ordered.month > 6) * 0.4
        + np.array(["refund" in t for t in review]) * 0.7
    )
    frame = pd.DataFrame(
        {
            "order_id": np.arange(100_000, 100_000 + n),
            "ordered_at": ordered,
            "amount": amount.round(2),
            "segment": segment,
            "express": express,
            "review": review,
            "email": [f"user{i}@example.com" for i in range(n)],
            "returned": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )
    frame.loc[rng.random(n) < 0.05, "amount"] = np.nan
    frame.loc[rng.random(n) < 0.03, "segment"] = None
    frame.loc[rng.random(n) < 0.02, "review"] = None
    return frame


def sklearn_frame(name: str) -> pd.DataFrame:
    """Return one of scikit-learn's bundled datasets as a frame whose last column is `target`."""
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")(as_frame=True).frame


def write_split(frame: pd.DataFrame, directory: Path, suffix: str, *, test_share: float = 0.25) -> tuple[str, str]:
    """Write the first rows as train and the rest as test (a separate test file, as a user has); return the names."""
    directory.mkdir(parents=True, exist_ok=True)
    cut = int(len(frame) * (1 - test_share))
    names = (f"train{suffix}", f"test{suffix}")
    for part, name in zip((frame.iloc[:cut], frame.iloc[cut:]), names, strict=True):
        if suffix == ".parquet":
            part.to_parquet(directory / name, index=False)
        else:
            part.to_csv(directory / name, index=False, sep=";" if suffix == ".ssv.csv" else ",")
    return names
