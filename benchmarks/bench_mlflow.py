"""Candidate vs baseline with thresholds: the MLflow way against `mlci evaluate`, on the same models and data.

Run: `python -m benchmarks.bench_mlflow [ROWS]` (default 1000000: 750k train, 250k test rows).

MLflow is not a dependency of mlci: it lives in the benchmark venv (`.venv-bench`, made by
`make bench`; another interpreter can be named with MLCI_BENCH_MLFLOW_PYTHON), pinned to the
same numpy/pandas/scikit-learn as .venv. Setup, untimed: `mlci train` fits the candidate
(the example's config) and the baseline (30 boosting rounds) into bundles; both fitted
models are pickled for MLflow's side and logged with `mlflow.sklearn.log_model` to a
SQLite tracking store in a temp dir. Timed, each as one whole process:

- MLflow: `mlflow.models.evaluate` on the candidate and on the baseline (default
  classifier evaluator), then `mlflow.validate_evaluation_results` with the thresholds
  MetricThreshold can express;
- mlci: `mlci evaluate --candidate BUNDLE --baseline BUNDLE` with the example's gates.

The side-by-side of what each tells the user is derived from the two real outputs
(comparison.json and MLflow's metrics, artifacts and validation message).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import MLCI, ROOT, clean_env, measure, project, run_ok

SIDE = Path(__file__).resolve().parent / "_mlflow_side.py"
# Words in a metric's name that would make it an interval, a p-value or a per-slice figure.
_UNCERTAIN = re.compile(r"(^|_)(ci|interval|lower|upper|p|pvalue|p_value|std|stderr|se)(_|$)")
_SLICED = re.compile(r"(^|_)(plan|region|contract|slice|segment|group)(_|$|=)")

# Exports the two fitted models from their bundles, verified, for MLflow's side.
EXPORT = """
import pickle, sys
from mlci.modeling.bundle import load_model, open_bundle
for src, dest in zip(sys.argv[1::2], sys.argv[2::2]):
    with open(dest, "wb") as f:
        pickle.dump(load_model(open_bundle(__import__("pathlib").Path(src))), f)
"""


def mlflow_python() -> Path | None:
    """Return the interpreter that has MLflow (MLCI_BENCH_MLFLOW_PYTHON or .venv-bench), None if absent."""
    named = os.environ.get("MLCI_BENCH_MLFLOW_PYTHON")
    path = Path(named) if named else ROOT / ".venv-bench" / "bin" / "python"
    return path if path.exists() else None


def run(rows: int = 1_000_000, rounds: int = 2, python: Path | None = None) -> dict[str, Any]:
    """Return wall times of both sides and the side-by-side of what each reports, at `rows` rows."""
    python = python or mlflow_python()
    if python is None:
        raise FileNotFoundError("no MLflow interpreter: run `make bench` (it creates .venv-bench)")
    with tempfile.TemporaryDirectory(prefix="mlci-bench-mlflow-") as tmp:
        tmp_path = Path(tmp)
        work = project(tmp_path, rows)
        env = clean_env()
        cand_dir, base_dir = tmp_path / "candidate", tmp_path / "baseline"
        run_ok([*MLCI, "train", "--output", str(cand_dir)], cwd=work, env=env)
        run_ok([*MLCI, "-c", "baseline.yaml", "train", "--output", str(base_dir)], cwd=work, env=env)
        cand_pkl, base_pkl = tmp_path / "candidate.pkl", tmp_path / "baseline.pkl"
        run_ok(
            [sys.executable, "-c", EXPORT, str(cand_dir), str(cand_pkl), str(base_dir), str(base_pkl)],
            cwd=work,
            env=env,
        )

        mlflow_dir = tmp_path / "mlflow"
        mlflow_dir.mkdir()
        mlflow_env = clean_env(MLFLOW_TRACKING_URI=f"sqlite:///{mlflow_dir / 'mlflow.db'}")
        setup_out = tmp_path / "setup.json"
        run_ok(
            [str(python), str(SIDE), "setup", str(cand_pkl), str(base_pkl), str(setup_out)],
            cwd=mlflow_dir,
            env=mlflow_env,
        )
        setup = json.loads(setup_out.read_text())

        mlflow_out = tmp_path / "mlflow-result.json"
        comparison_path = tmp_path / "comparison.json"
        mlflow_cmd = [
            str(python),
            str(SIDE),
            "evaluate",
            str(work / "data" / "test.parquet"),
            setup["uris"]["candidate"],
            setup["uris"]["baseline"],
            str(mlflow_out),
        ]
        mlci_cmd = [
            *MLCI,
            "evaluate",
            "--candidate",
            str(cand_dir),
            "--baseline",
            str(base_dir),
            "-o",
            str(comparison_path),
        ]
        # The two sides alternate and the best of each is kept, so a burst of load from another
        # process lands on both alike. mlci evaluate does not use its result cache.
        mlflow_runs, mlci_runs = [], []
        for _ in range(rounds):
            mlflow_runs.append(measure(mlflow_cmd, cwd=mlflow_dir, env=mlflow_env))
            # Exit 1 is a verdict (a gate said no), still a complete evaluation.
            mlci_runs.append(measure(mlci_cmd, cwd=work, env=env, ok=(0, 1)))
        mlflow_result = json.loads(mlflow_out.read_text())
        document = json.loads(comparison_path.read_text())
    mlflow_side = min(mlflow_runs, key=lambda m: m.seconds)
    mlci_side = min(mlci_runs, key=lambda m: m.seconds)
    ratio = mlci_side.seconds / mlflow_side.seconds
    return {
        "name": f"mlflow_evaluate_{rows}",
        "rows": rows,
        "test_rows": document["comparison"]["n_rows"],
        "mlflow_version": setup["mlflow_version"],
        "rounds": rounds,
        "mlci_seconds": round(mlci_side.seconds, 3),
        "mlci_seconds_all": [round(m.seconds, 3) for m in mlci_runs],
        "mlflow_seconds_all": [round(m.seconds, 3) for m in mlflow_runs],
        "mlflow_seconds": round(mlflow_side.seconds, 3),
        "mlflow_stage_seconds": mlflow_result["seconds"],
        "mlci_peak_mib": mlci_side.peak_mib,
        "mlflow_peak_mib": mlflow_side.peak_mib,
        "ratio": round(ratio, 3),
        "target_ratio": 1.0,
        "met": ratio < 1.0,
        "side_by_side": side_by_side(document["comparison"], mlflow_result, setup["probes"]),
    }


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)


def side_by_side(comparison: dict[str, Any], mlflow: dict[str, Any], probes: dict[str, str]) -> list[dict[str, str]]:
    """Return rows (what, mlci, mlflow) describing what each tool told the user, from their outputs."""
    metrics = comparison["metrics"]
    primary = next((m for m in metrics if m["name"] == comparison["primary"]), metrics[0])
    cand_m, base_m = mlflow["metrics"]["candidate"], mlflow["metrics"]["baseline"]
    keys = sorted(cand_m)
    # Anything in MLflow's output that could be an interval, a p-value or a per-slice figure.
    uncertain = [k for k in keys if _UNCERTAIN.search(k.lower())]
    sliced = [k for k in keys if _SLICED.search(k.lower())]
    with_ci = [m for m in metrics if m.get("ci_low") is not None]
    with_p = [m for m in metrics if m.get("p_value") is not None]
    slices = comparison.get("slices", [])
    verdict = comparison["verdict"]
    failed = [g for g in verdict["gates"] if not g["passed"] and not g.get("skipped")]
    auc_c, auc_b = cand_m.get("roc_auc"), base_m.get("roc_auc")
    accepted = [gate for gate, outcome in probes.items() if outcome == "accepted"]
    refused = [gate for gate, outcome in probes.items() if outcome != "accepted"]
    refusal = next((o.partition(":")[2] for o in probes.values() if o != "accepted"), "")
    refusal = refusal.split("class:", 1)[-1]
    return [
        {
            "what": "metrics reported",
            "mlci": f"{len(metrics)} ({', '.join(m['name'] for m in metrics)}), for both models and their difference",
            "mlflow": f"{len(keys)} per model ({', '.join(keys)}); no difference computed",
        },
        {
            "what": f"{primary['name']}: candidate vs baseline",
            "mlci": f"{_fmt(primary['candidate'])} vs {_fmt(primary['baseline'])}, delta {_fmt(primary['delta'])}",
            "mlflow": f"{_fmt(auc_c)} vs {_fmt(auc_b)}",
        },
        {
            "what": "confidence interval of the difference",
            "mlci": (
                f"{len(with_ci)} of {len(metrics)} metrics; {primary['name']} delta in "
                f"[{_fmt(primary['ci_low'])}, {_fmt(primary['ci_high'])}] at {comparison['confidence']:.0%}"
            )
            if with_ci
            else "none",
            "mlflow": f"none among its outputs ({', '.join(uncertain)})" if uncertain else "none among its outputs",
        },
        {
            "what": "significance test (paired)",
            "mlci": ", ".join(f"{m['name']}: {m['method']} p={m['p_value']:.3g}" for m in with_p) or "none",
            "mlflow": "none",
        },
        {
            "what": "per-slice metrics",
            "mlci": f"{len(slices)} slices ({', '.join(sorted({s['column'] for s in slices}))}), each with all metrics"
            if slices
            else "none",
            "mlflow": f"{len(sliced)}" if sliced else "none (the default evaluator scores the whole table only)",
        },
        {
            "what": "gates / thresholds applied",
            "mlci": f"{len(verdict['gates'])} gate checks (overall and per slice)",
            "mlflow": f"{len(accepted)} of the example's {len(probes) + 1} gates ({'; '.join(accepted)}). "
            f"MetricThreshold refused: {'; '.join(refused)} ({refusal.strip()}); the per-slice gate has no "
            "per-slice metrics to apply to",
        },
        {
            "what": "verdict and reasons",
            "mlci": f"{verdict['status']}: {verdict['summary']}"
            + (f" ({'; '.join(g['reason'] for g in failed[:2])})" if failed else ""),
            "mlflow": mlflow["validation"],
        },
        {
            "what": "artifacts",
            "mlci": "comparison.json (the report's source)",
            "mlflow": ", ".join(mlflow["artifacts"]["candidate"]) + " per model",
        },
    ]


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)))
