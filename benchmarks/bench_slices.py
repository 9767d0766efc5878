"""What slices cost: many categories in `compare`, and a 2,000-category slice column in `mlci check`.

    python -m benchmarks.bench_slices compare [ROWS] [SLICES]   # default 100000 5000
    python -m benchmarks.bench_slices check [ROWS] [SLICES]     # default 100000 2000

`compare`: the example's metrics (roc_auc, accuracy, log_loss, brier) with their paired
intervals and a per-slice roc_auc gate, at ROWS test rows split into SLICES categories, in one
process with the imports warm; against the same `compare` without slices. Target: under 2 s.

`check`: `mlci check --no-post` on a copy of examples/churn at ROWS rows with a `zip` column of
SLICES categories sliced on (besides plan and region), against the same check with no slices
at all (the column is in the data either way). Both sides alternate for `rounds` rounds and
the best of each is kept. Target: under 1.3x.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import MLCI, clean_env, measure, project, run_ok

TARGET_COMPARE_SECONDS = 2.0
TARGET_CHECK_RATIO = 1.3


def run_compare(rows: int = 100_000, slices: int = 5000) -> dict[str, Any]:
    """Return the seconds of `compare` with `slices` categories and without, on `rows` test rows."""
    import numpy as np

    from benchmarks.bench_significance import _synthetic
    from mlci.stats.comparison import compare
    from mlci.stats.evaluation import Predictions
    from mlci.stats.specs import Gate, StatisticsSection

    y, candidate, baseline = _synthetic(rows)
    segment = np.random.default_rng(1).integers(0, slices, rows).astype(str)
    names = ["roc_auc", "accuracy", "log_loss", "brier"]
    gates = [Gate(metric="roc_auc", min_absolute_change=-0.03, slices=True, min_slice_size=10)]

    def timed(n: int, with_slices: bool) -> tuple[float, Any]:
        sub = [Predictions(p.labels[:n], p.proba[:n], p.classes) for p in (candidate, baseline)]
        start = time.perf_counter()
        result = compare(
            y[:n],
            sub[0],
            sub[1],
            task="classification",
            metrics=names,
            primary="roc_auc",
            gates=gates,
            statistics=StatisticsSection(),
            slices={"segment": segment[:n]} if with_slices else None,
        )
        return time.perf_counter() - start, result

    timed(2000, True)  # warm the lazy imports (pandas, scipy, scikit-learn): the figure is the computation
    without = min(timed(rows, False)[0] for _ in range(2))
    with_slices, result = min((timed(rows, True) for _ in range(2)), key=lambda r: r[0])
    return {
        "name": "compare_slices",
        "rows": rows,
        "slices": len(result.slices),
        "seconds": round(with_slices, 3),
        "without_slices_seconds": round(without, 3),
        "ratio": round(with_slices / without, 2),
        "target_seconds": TARGET_COMPARE_SECONDS,
        "met": with_slices <= TARGET_COMPARE_SECONDS,
    }


def _sliced_project(where: Path, rows: int, slices: int) -> Path:
    """Return the example project at `rows` rows with a `zip` column of `slices` categories."""
    import pandas as pd

    work = project(where, rows)
    for table in ("train", "test"):
        path = work / "data" / f"{table}.parquet"
        frame = pd.read_parquet(path)
        frame["zip"] = [f"z{i % slices:05d}" for i in range(len(frame))]
        frame.to_parquet(path, index=False)
    suite = work / "expectations" / "churn.json"
    doc = json.loads(suite.read_text())
    for e in doc["expectations"]:
        if e["type"] == "expect_table_columns_to_match_set":
            e["kwargs"]["column_set"].append("zip")
    suite.write_text(json.dumps(doc, indent=2))
    for name in ("mlci.yaml", "baseline.yaml"):
        text = (work / name).read_text()
        (work / name).write_text(re.sub(r"slices: \[[^\]]*\]", "slices: [plan, region, zip]", text))
    (work / "no-slices.yaml").write_text(re.sub(r"slices: \[[^\]]*\]", "slices: []", (work / "mlci.yaml").read_text()))
    return work


def run_check(rows: int = 100_000, slices: int = 2000, rounds: int = 2) -> dict[str, Any]:
    """Return the wall times of `mlci check` with a `slices`-category slice column and without slices."""
    with tempfile.TemporaryDirectory(prefix="mlci-bench-slices-") as tmp:
        work = _sliced_project(Path(tmp), rows, slices)
        env = clean_env()
        baseline_dir = Path(tmp) / "baseline-bundle"
        run_ok([*MLCI, "-c", "baseline.yaml", "train", "--output", str(baseline_dir)], cwd=work, env=env)
        with_runs, without_runs = [], []
        for _ in range(rounds):
            for config, runs in (("mlci.yaml", with_runs), ("no-slices.yaml", without_runs)):
                # Each side is a first run: a fresh registry holding only the production baseline.
                shutil.rmtree(work / ".mlci", ignore_errors=True)
                run_ok([*MLCI, "-c", config, "push", str(baseline_dir), "--alias", "production"], cwd=work, env=env)
                runs.append(
                    measure([*MLCI, "-c", config, "--json", "check", "--no-post"], cwd=work, env=env, ok=(0, 1))
                )
    best_with = min(with_runs, key=lambda m: m.seconds)
    best_without = min(without_runs, key=lambda m: m.seconds)
    doc = json.loads(best_with.out)
    ratio = best_with.seconds / best_without.seconds
    return {
        "name": "check_slices",
        "rows": rows,
        "slices": len(doc["comparison"]["slices"]),
        "rounds": rounds,
        "with_slices_seconds": round(best_with.seconds, 3),
        "without_slices_seconds": round(best_without.seconds, 3),
        "with_slices_seconds_all": [round(m.seconds, 3) for m in with_runs],
        "without_slices_seconds_all": [round(m.seconds, 3) for m in without_runs],
        "with_slices_stage_seconds": doc.get("timings", {}),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_CHECK_RATIO,
        "met": ratio <= TARGET_CHECK_RATIO,
    }


if __name__ == "__main__":
    what, *sizes = sys.argv[1:] or ["compare"]
    fn = {"compare": run_compare, "check": run_check}[what]
    print(json.dumps(fn(*map(int, sizes))), flush=True)
