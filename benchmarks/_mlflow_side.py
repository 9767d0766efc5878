"""The MLflow side of bench_mlflow, run by the benchmark venv's Python (.venv-bench), never by .venv.

It imports neither mlci nor the benchmarks package: only MLflow, pandas and scikit-learn.
The tracking store is MLFLOW_TRACKING_URI (a SQLite file in a temp dir: MLflow 3 refuses
its old file store unless told to, and recommends `sqlite:///` for local use).

    python _mlflow_side.py setup CANDIDATE.pkl BASELINE.pkl OUT.json
        log both fitted models (untimed: what a team using MLflow has already done when a PR
        comes), and probe which of the example's gates MetricThreshold can express.
    python _mlflow_side.py evaluate TEST.parquet CANDIDATE_URI BASELINE_URI OUT.json
        the timed part: mlflow.models.evaluate on both models, then
        mlflow.validate_evaluation_results with the thresholds MLflow can express.
"""

from __future__ import annotations

import json
import logging
import pickle
import sys
import time
import warnings
from typing import Any

TARGET = "churned"
# The SHAP step fails on pandas 3's string columns (numpy.issubdtype cannot read StringDtype)
# and would log nothing anyway without the shap package, which `pip install mlflow` lacks.
EVALUATOR_CONFIG = {"log_model_explainability": False}
FEATURES = ["tenure_months", "monthly_charges", "total_charges", "support_calls", "plan", "region", "contract"]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def setup(candidate_pkl: str, baseline_pkl: str, out: str) -> None:
    import mlflow
    import skops.io as sio
    from mlflow.models import MetricThreshold

    uris = {}
    with mlflow.start_run(run_name="models"):
        for name, path in (("candidate", candidate_pkl), ("baseline", baseline_pkl)):
            with open(path, "rb") as f:
                model = pickle.load(f)
            # MLflow 3 saves scikit-learn models with skops, as mlci does; like mlci's bundles,
            # these are our own files, so the types skops asks about are trusted.
            trusted = sio.get_untrusted_types(data=sio.dumps(model))
            uris[name] = mlflow.sklearn.log_model(model, name=name, skops_trusted_types=trusted).model_uri
    # The example's gates, each tried as MetricThreshold: what MLflow accepts and what it refuses.
    probes: dict[str, str] = {}
    attempts = {
        "roc_auc >= 0.70": lambda: MetricThreshold(threshold=0.70, greater_is_better=True),
        "roc_auc not worse than baseline by more than 0.01 (non-inferiority)": lambda: MetricThreshold(
            min_absolute_change=-0.01, greater_is_better=True
        ),
        "log_loss not worse than baseline by more than 0.01": lambda: MetricThreshold(
            min_absolute_change=-0.01, greater_is_better=False
        ),
    }
    for gate, build in attempts.items():
        try:
            build()
            probes[gate] = "accepted"
        except Exception as e:
            probes[gate] = f"refused: {e}"
    with open(out, "w") as f:
        json.dump({"uris": uris, "probes": probes, "mlflow_version": mlflow.__version__}, f)


def evaluate(test_parquet: str, candidate_uri: str, baseline_uri: str, out: str) -> None:
    started = time.perf_counter()
    import mlflow
    import pandas as pd
    from mlflow.models import MetricThreshold

    imported = time.perf_counter()
    data = pd.read_parquet(test_parquet, columns=[*FEATURES, TARGET])
    results = {}
    with mlflow.start_run(run_name="evaluate"):
        for name, uri in (("candidate", candidate_uri), ("baseline", baseline_uri)):
            with mlflow.start_run(run_name=name, nested=True):
                results[name] = mlflow.models.evaluate(
                    uri, data, targets=TARGET, model_type="classifier", evaluator_config=EVALUATOR_CONFIG
                )
    evaluated = time.perf_counter()
    thresholds = {"roc_auc": MetricThreshold(threshold=0.70, greater_is_better=True)}
    try:
        mlflow.validate_evaluation_results(thresholds, results["candidate"], results["baseline"])
        validation = "passed"
    except Exception as e:
        validation = f"{type(e).__name__}: {e}"
    done = time.perf_counter()
    summary = {
        "metrics": {k: {m: _plain(v) for m, v in r.metrics.items()} for k, r in results.items()},
        "artifacts": {k: sorted(r.artifacts) for k, r in results.items()},
        "validation": validation,
        "thresholds": {k: str(v) for k, v in thresholds.items()},
        "evaluator_config": EVALUATOR_CONFIG,
        "seconds": {
            "import": round(imported - started, 3),
            "evaluate": round(evaluated - imported, 3),
            "validate": round(done - evaluated, 3),
        },
    }
    with open(out, "w") as f:
        json.dump(summary, f)


if __name__ == "__main__":
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    command, *args = sys.argv[1:]
    if command == "setup":
        setup(*args)
    else:
        evaluate(*args)
