"""How often drift cries wolf, and how often it finds a real shift, at n = 200 to 100,000: mlci and Evidently.

Run: `python -m benchmarks.bench_drift_rates [RUNS]` (default 100); prints one JSON line.

On generated tables of a normal number, a 4-value category and a listed 300-value category,
reference and current of n rows each, the same tables for both tools (one seeded generator,
`cases`, replayed on each side):

- no drift: both tables from one generator; the share of runs with any feature flagged (warn
  or fail for mlci, drift detected for Evidently). Target: at most 5% for mlci at every n (the
  verdict's stated false-alarm rate).
- a 0.3 sd mean shift of the number, a new category at 5% of rows, a 20% -> 30% share change:
  the share of runs that flag the changed feature (mlci: fail). Target: mlci at least
  Evidently's share at every n.
- time: each side times its own drift computations in process (mlci: `build_profile` of the
  reference and `compare_profile` of each current table; Evidently: `Report([DataDriftPreset()])
  include_tests=True).run(current, reference)` of each pair, its per-column tests read), excluding imports and table generation; the two
  sides alternate, `rounds` times, best of rounds; each side first runs one untimed pair (its lazy
  imports and caches). Target: mlci <= 1x Evidently's time.

Evidently lives in its own virtual environment (`.venv-evidently`, which `make bench`
creates, or MLCI_BENCH_EVIDENTLY_PYTHON): Evidently 0.7.23 imports a pandas internal that
pandas 3 removed, so it cannot share .venv's pandas 3. Its side runs this module with
`--side evidently` in that interpreter and needs no mlci. Without that interpreter the
Evidently columns are None and only mlci's own target is judged.

Evidently's preset as shipped: its default test per column (K-S for a numeric column below
1,000 rows and Wasserstein distance >= 0.1 sd from 1,000 rows; chi-square below 1,000 rows and
Jensen-Shannon distance >= 0.1 from 1,000 rows for a category), column types given explicitly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIZES = (200, 1_000, 10_000, 100_000)
TARGET_FALSE_ALARMS = 0.05
CASES = ("false_alarm", "shift", "new_category", "share_change")
EVIDENTLY_VERSION = "0.7.23"


def _table(rng: Any, n: int, *, shift: float = 0.0, gold: float = 0.2, new: float = 0.0) -> Any:
    import numpy as np
    import pandas as pd

    plan = np.where(rng.random(n) < gold, "gold", rng.choice(["basic", "plus", "pro"], n))
    plan = np.where(rng.random(n) < new, "brand-new", plan)
    stores = np.array([f"s{i:03d}" for i in range(300)])
    return pd.DataFrame({"amount": rng.normal(shift, 1.0, n), "plan": plan, "store": rng.choice(stores, n)})


def cases(n: int, runs: int, seed: int) -> Iterator[tuple[Any, dict[str, tuple[Any, str | None]]]]:
    """Yield, run by run, the reference table and each case's (current table, the changed feature or None)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for _ in range(runs):
        reference = _table(rng, n)
        yield (
            reference,
            {
                "false_alarm": (_table(rng, n), None),
                "shift": (_table(rng, n, shift=0.3), "amount"),
                "new_category": (_table(rng, n, new=0.05), "plan"),
                "share_change": (_table(rng, n, gold=0.3), "plan"),
            },
        )


def _with_warm_up(n: int, runs: int, seed: int) -> Iterator[tuple[bool, tuple[Any, dict[str, tuple[Any, str | None]]]]]:
    """Yield (warm-up?, run): first one untimed run of 200 rows from another seed, then the runs of `cases`."""
    for run in cases(200, 1, seed + 1):
        yield True, run
    for run in cases(n, runs, seed):
        yield False, run


def _mlci_side(n: int, runs: int, seed: int) -> dict[str, Any]:
    """Return mlci's hit counts and the seconds of its drift computations (in process)."""
    from mlci.stats.drift import build_profile, compare_profile
    from mlci.stats.specs import DriftSection

    settings = DriftSection()
    counts = dict.fromkeys(CASES, 0)
    seconds = 0.0
    for warm, (reference, current) in _with_warm_up(n, runs, seed):
        start = time.perf_counter()
        profile = build_profile(reference, features=["amount", "plan", "store"], categorical=["store"])
        reports = {case: compare_profile(profile, table, settings) for case, (table, _) in current.items()}
        if warm:
            continue  # untimed and uncounted: the first call's lazy imports and caches
        seconds += time.perf_counter() - start
        for case, (_, feature) in current.items():
            status = {f.feature: f.status for f in reports[case].features}
            hit = any(s != "ok" for s in status.values()) if feature is None else status[feature] == "fail"
            counts[case] += int(hit)
    return {"counts": counts, "seconds": seconds}


def _evidently_side(n: int, runs: int, seed: int) -> dict[str, Any]:
    """Return Evidently's hit counts and the seconds of its drift reports (in process, in its own venv)."""
    import warnings

    from evidently import DataDefinition, Dataset, Report  # type: ignore[import-not-found]
    from evidently.presets import DataDriftPreset  # type: ignore[import-not-found]

    warnings.simplefilter("ignore")
    definition = DataDefinition(numerical_columns=["amount"], categorical_columns=["plan", "store"])
    counts = dict.fromkeys(CASES, 0)
    seconds = 0.0
    for warm, (reference, current) in _with_warm_up(n, runs, seed):
        for case, (table, feature) in current.items():
            start = time.perf_counter()
            ref = Dataset.from_pandas(reference, data_definition=definition)
            cur = Dataset.from_pandas(table, data_definition=definition)
            snapshot = Report([DataDriftPreset()], include_tests=True).run(cur, ref)
            drifted = _evidently_drifted(snapshot.dict())
            if warm:
                continue  # untimed and uncounted: the first call's lazy imports and caches
            seconds += time.perf_counter() - start
            counts[case] += int(bool(drifted) if feature is None else feature in drifted)
    return {"counts": counts, "seconds": seconds}


def _evidently_drifted(result: dict[str, Any]) -> set[str]:
    """Return the columns Evidently's preset calls drifted: its per-column drift tests that failed."""
    drifted = set()
    for test in result.get("tests") or []:
        column = (test.get("metric_config") or {}).get("params", {}).get("column")
        if column and str(test.get("status", "")).upper().endswith("FAIL"):
            drifted.add(column)
    return drifted


def evidently_python() -> Path | None:
    """Return the interpreter that has Evidently (MLCI_BENCH_EVIDENTLY_PYTHON or .venv-evidently), None if absent."""
    named = os.environ.get("MLCI_BENCH_EVIDENTLY_PYTHON")
    path = Path(named) if named else ROOT / ".venv-evidently" / "bin" / "python"
    return path if path.exists() else None


def _evidently(python: Path, n: int, runs: int, seed: int) -> dict[str, Any]:
    out = subprocess.run(
        [str(python), "-m", "benchmarks.bench_drift_rates", "--side", "evidently", str(n), str(runs), str(seed)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"Evidently's side failed: {out.stderr.strip().splitlines()[-1:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def rates(
    n: int, runs: int, seed: int = 0, rounds: int = 1, python: Path | None = None, evidently_runs: int | None = None
) -> dict[str, Any]:
    """Return both tools' false-alarm and detection shares at n rows per table, and times.

    mlci judges `runs` runs; Evidently the first `evidently_runs` of them (default: all), the
    same tables (one seeded generator: the first k runs of `cases` do not depend on how many
    follow). Evidently takes ~100x mlci's time, so at full size it sees a fifth of the runs and
    `make bench` stays within its hour; the time ratio is per run.
    """
    ev_runs = runs if evidently_runs is None else min(runs, evidently_runs)
    mlci: dict[str, Any] | None = None
    evidently: dict[str, Any] | None = None
    mlci_times, evidently_times = [], []
    for _ in range(rounds):  # alternating sides, best of rounds
        mlci = _mlci_side(n, runs, seed)
        mlci_times.append(mlci["seconds"])
        if python is not None:
            evidently = _evidently(python, n, ev_runs, seed)
            evidently_times.append(evidently["seconds"])
    assert mlci is not None
    out: dict[str, Any] = {"rows": n, "runs": runs, "rounds": rounds, "seconds": round(min(mlci_times), 3)}
    out.update({k: v / runs for k, v in mlci["counts"].items()})
    if evidently is not None:
        out["evidently_runs"] = ev_runs
        out["evidently"] = {k: v / ev_runs for k, v in evidently["counts"].items()}
        out["evidently_seconds"] = round(min(evidently_times), 3)
        out["time_ratio"] = round((out["seconds"] / runs) / (out["evidently_seconds"] / ev_runs), 3)
        # Detection at least Evidently's for each real shift (the false alarms have their own target).
        out["detection_met"] = all(out[k] >= out["evidently"][k] for k in CASES[1:])
    return out


def run(
    runs: int = 100,
    sizes: tuple[int, ...] = SIZES,
    rounds: int = 1,
    evidently: bool = True,
    evidently_runs: int | None = None,
) -> dict[str, Any]:
    """Return the rates at every size (fewer runs at 100k rows: a minute each otherwise), beside Evidently's
    (on the first `evidently_runs` runs) where `evidently` and its interpreter exists."""
    python = evidently_python() if evidently else None
    per_size = [
        rates(
            n,
            runs if n <= 10_000 else max(10, runs // 5),
            seed=n,
            rounds=rounds,
            python=python,
            evidently_runs=evidently_runs,
        )
        for n in sizes
    ]
    worst = max(r["false_alarm"] for r in per_size)
    with_evidently = python is not None
    result: dict[str, Any] = {
        "name": "drift_rates",
        "sizes": per_size,
        "worst_false_alarm": worst,
        "target_false_alarm": TARGET_FALSE_ALARMS,
        "met": worst <= TARGET_FALSE_ALARMS,
        "evidently": evidently_version(python) if with_evidently else None,
    }
    if with_evidently:
        result["detection_met"] = all(r["detection_met"] for r in per_size)
        result["time_met"] = all(r["time_ratio"] <= 1.0 for r in per_size)
    return result


def evidently_version(python: Path | None) -> str | None:
    if python is None:
        return None
    code = "from importlib.metadata import version; print(version('evidently'))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False, timeout=120)
    return out.stdout.strip() or None


if __name__ == "__main__":
    if sys.argv[1:2] == ["--side"]:
        side, n, count, seed = sys.argv[2], *map(int, sys.argv[3:6])
        result = (_evidently_side if side == "evidently" else _mlci_side)(n, count, seed)
        print(json.dumps(result), flush=True)
    else:
        print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100)), flush=True)
