"""A 400-value categorical feature: `mlci check` against a bare script with native categoricals.

Run: `python -m benchmarks.bench_highcard [ROWS]` (default 100000); prints one JSON line.

The example churn project at ROWS rows gains a `store_id` column of 400 values (Zipf-like, so
most are rare) that drives churn a little, and lists it among the features. Both sides are
whole processes, alternating, best of `rounds`:

- bare: read train.parquet, fit the example's HistGradientBoostingClassifier with scikit-learn's
  native categorical support (store_id and the example's categories as ordinal codes,
  `categorical_features`), median impute + scale for numbers. Nothing else.
- `mlci check --no-post`: validation, training with mlci's default preprocessing (which no
  longer one-hot encodes the 400 values: one column of codes each), the baseline's predictions,
  paired statistics, gates and slices, the push and the report.

Target: mlci check <= 2x the bare fit (it was 8.9x with the dense one-hot of ~410 columns).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import MLCI, clean_env, measure, project, run_ok

TARGET_RATIO = 2.0
STORES = 400

BARE_SCRIPT = """
import sys
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder, StandardScaler

numeric = ["tenure_months", "monthly_charges", "total_charges", "support_calls"]
categorical = ["store_id", "plan", "region", "contract"]
train = pd.read_parquet(sys.argv[1])
encode = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, max_categories=254)
model = Pipeline([
    ("preprocess", ColumnTransformer([
        ("categorical", encode, categorical),
        ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
    ])),
    ("model", HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.05, max_depth=3, random_state=0, categorical_features=[0, 1, 2, 3]
    )),
])
model.fit(train[numeric + categorical], train["churned"])
"""


def _add_stores(work: Path, seed: int = 0) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    for name in ("train", "test"):
        path = work / "data" / f"{name}.parquet"
        frame = pd.read_parquet(path)
        codes = (rng.zipf(1.2, len(frame)) - 1) % STORES
        frame["store_id"] = [f"store-{c:03d}" for c in codes]
        flip = (codes % 11 == 0) & (rng.random(len(frame)) < 0.2)
        frame.loc[flip, "churned"] = 1 - frame.loc[flip, "churned"]
        frame.to_parquet(path, index=False)
    for config in ("mlci.yaml", "baseline.yaml"):
        text = (work / config).read_text().replace("plan, region, contract]", "plan, region, contract, store_id]")
        (work / config).write_text(text)


def run(rows: int = 100_000, rounds: int = 4) -> dict[str, Any]:
    """Return wall times and peak memory of the bare native-categorical fit and `mlci check`, alternating."""
    with tempfile.TemporaryDirectory(prefix="mlci-bench-highcard-") as tmp:
        work = project(Path(tmp), rows)
        _add_stores(work)
        env = clean_env()
        baseline_dir = Path(tmp) / "baseline-bundle"
        run_ok([*MLCI, "-c", "baseline.yaml", "train", "--output", str(baseline_dir)], cwd=work, env=env)
        check_cmd = [*MLCI, "--json", "check", "--no-post"]
        train = str(work / "data" / "train.parquet")
        bare_runs, check_runs = [], []
        for i in range(rounds):
            shutil.rmtree(work / ".mlci", ignore_errors=True)
            run_ok([*MLCI, "push", str(baseline_dir), "--alias", "production"], cwd=work, env=env)
            sides = [("bare", [sys.executable, "-c", BARE_SCRIPT, train]), ("check", check_cmd)]
            for side, cmd in sides if i % 2 == 0 else sides[::-1]:  # alternate which side goes first
                m = measure(cmd, cwd=work, env=env, ok=(0, 1))
                (bare_runs if side == "bare" else check_runs).append(m)
    bare = min(bare_runs, key=lambda m: m.seconds)
    check = min(check_runs, key=lambda m: m.seconds)
    doc = json.loads(check.out)
    ratio = check.seconds / bare.seconds
    return {
        "name": f"highcard_{rows}",
        "rows": rows,
        "stores": STORES,
        "rounds": rounds,
        "bare_seconds": round(bare.seconds, 3),
        "bare_seconds_all": [round(m.seconds, 3) for m in bare_runs],
        "check_seconds": round(check.seconds, 3),
        "check_seconds_all": [round(m.seconds, 3) for m in check_runs],
        "bare_peak_mib": bare.peak_mib,
        "check_peak_mib": check.peak_mib,
        "check_stage_seconds": doc.get("timings", {}),
        "verdict": doc["verdict"],
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "met": ratio <= TARGET_RATIO,
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)), flush=True)
