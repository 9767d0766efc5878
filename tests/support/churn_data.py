"""Fresh tables for the example churn project, made by its own generator (examples/churn/generate.py)."""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np


def generate(project: os.PathLike[str], rows: int, seed: int) -> Any:
    """Return `rows` rows from the project's generate.py with `seed` (a pandas DataFrame)."""
    sys.path.insert(0, os.fspath(project))
    try:
        from generate import make
    finally:
        sys.path.pop(0)
    return make(rows, seed)


def drifted(project: os.PathLike[str], rows: int = 3000, seed: int = 9, unseen: bool = False) -> Any:
    """Fresh data that moved but still meets the expectation suite (unless `unseen`).

    Its churn follows a pattern of its own, so a model retrained on it beats production.
    """
    frame = generate(project, rows, seed)
    rng = np.random.default_rng(seed)
    frame["monthly_charges"] = (frame["monthly_charges"] + frame["monthly_charges"].std()).round(2)
    frame["contract"] = np.where(rng.uniform(size=rows) < 0.9, "two-year", "month-to-month")
    if unseen:
        frame.loc[frame.index[:40], "plan"] = "enterprise"
    frame["churned"] = ((frame["contract"] == "month-to-month") | (frame["support_calls"].fillna(0) > 3)).astype(int)
    return frame
