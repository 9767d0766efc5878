"""Time the paired comparison of roc_auc, accuracy and log_loss at a million rows.

    python -m benchmarks.bench_significance [--rows N]

Prints one JSON line: {"name": "significance", "rows": ..., "seconds": ..., "target_seconds": 2.0, "met": ...}.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

TARGET_SECONDS = 2.0


def _synthetic(rows: int, seed: int = 0) -> tuple[Any, Any, Any]:
    """Return (y_true, candidate, baseline) on `rows` binary rows; the candidate is a little sharper."""
    import numpy as np

    from mlci.stats.evaluation import Predictions

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    signal = y - 0.5
    shared = rng.normal(0, 1, rows)  # noise both models share, as models trained on one table do

    def model(noise: float) -> Predictions:
        logit = 2.0 * signal + shared + rng.normal(0, noise, rows)
        p = 1 / (1 + np.exp(-logit))
        return Predictions(labels=(p > 0.5).astype(int), proba=np.column_stack([1 - p, p]), classes=[0, 1])

    return y, model(0.8), model(1.0)


def run(rows: int = 1_000_000) -> dict[str, Any]:
    """Return the timing of one paired comparison (roc_auc, accuracy, log_loss) on `rows` rows."""
    from mlci.stats.comparison import compare
    from mlci.stats.specs import Gate, StatisticsSection

    y, candidate, baseline = _synthetic(rows)
    gates = [Gate(metric="roc_auc", min_absolute_change=0.0, significant=True)]
    # Warm the lazy imports (sklearn, scipy) so the figure is the computation, not the import.
    compare(
        y[:1000],
        type(candidate)(candidate.labels[:1000], candidate.proba[:1000], candidate.classes),
        type(baseline)(baseline.labels[:1000], baseline.proba[:1000], baseline.classes),
        task="classification",
        metrics=["roc_auc", "accuracy", "log_loss"],
        primary="roc_auc",
        gates=gates,
        statistics=StatisticsSection(),
    )
    start = time.perf_counter()
    comparison = compare(
        y,
        candidate,
        baseline,
        task="classification",
        metrics=["roc_auc", "accuracy", "log_loss"],
        primary="roc_auc",
        gates=gates,
        statistics=StatisticsSection(),
    )
    seconds = time.perf_counter() - start
    return {
        "name": "significance",
        "rows": rows,
        "seconds": round(seconds, 3),
        "target_seconds": TARGET_SECONDS,
        "met": seconds < TARGET_SECONDS,
        "verdict": comparison.verdict.status,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="test rows (default 1,000,000)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.rows)))


if __name__ == "__main__":
    main()
