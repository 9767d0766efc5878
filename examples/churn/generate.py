"""Generate the example churn tables deterministically: `python generate.py` rewrites data/.

A telecom-style customer table with numeric and categorical columns, realistic missing
values and a churn target whose signal is partly non-linear (so a boosted model beats a
linear one, which the demo shows).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 4000
SEED = 20261123


def make(rows: int = ROWS, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "standard", "premium"], size=rows, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west"], size=rows, p=[0.3, 0.3, 0.2, 0.2])
    contract = rng.choice(["month-to-month", "one-year", "two-year"], size=rows, p=[0.55, 0.25, 0.2])
    tenure = rng.integers(0, 73, size=rows)
    base = {"basic": 30.0, "standard": 60.0, "premium": 95.0}
    monthly = np.array([base[p] for p in plan]) + rng.normal(0, 8, size=rows)
    monthly = np.clip(monthly, 18.0, 140.0).round(2)
    total = (monthly * np.maximum(tenure, 1) * rng.uniform(0.9, 1.05, size=rows)).round(2)
    support_calls = rng.poisson(1.2 + (plan == "basic") * 0.8, size=rows)
    # Churn: short tenure on month-to-month contracts, many support calls, and an
    # interaction (expensive plans churn when tenure is short) that a linear model misses.
    logit = (
        -1.0
        + 1.6 * (contract == "month-to-month")
        - 0.9 * (contract == "two-year")
        + 2.2 * ((tenure < 12) & (monthly > 70))
        - 0.035 * tenure
        + 0.45 * np.maximum(support_calls - 2, 0)
        + 0.3 * (region == "south")
    )
    churned = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{100000 + i}" for i in range(rows)],
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls": support_calls,
            "plan": plan,
            "region": region,
            "contract": contract,
            "email": [f"user{i}@example.com" for i in range(rows)],
            "churned": churned,
        }
    )
    # Realistic gaps: total_charges missing for brand-new customers, support_calls now and then.
    frame.loc[(frame.tenure_months == 0) & (rng.uniform(size=rows) < 0.8), "total_charges"] = np.nan
    frame.loc[rng.uniform(size=rows) < 0.02, "support_calls"] = np.nan
    return frame


def main() -> None:
    frame = make()
    out = Path(__file__).parent / "data"
    out.mkdir(exist_ok=True)
    frame.iloc[:3000].to_csv(out / "train.csv", index=False)
    frame.iloc[3000:].to_csv(out / "test.csv", index=False)


if __name__ == "__main__":
    main()
