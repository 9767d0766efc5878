"""`mlci validate` against GX's own ValidationDefinition.run on the same table and suite.

Run: `python -m benchmarks.bench_validate [ROWS ...]`; prints one JSON line per size. Both
sides are whole processes that start Python, read the same Parquet file and run the
example suite, so the ratio is mlci's overhead as a user feels it (target under 1.2x).
Peak memory is each process's max RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "churn"
TARGET_RATIO = 1.2

# GX set up as a user would without mlci (ephemeral context, the same suite JSON read from
# `suite_path`), ending in `vd`, a ValidationDefinition over a whole-dataframe batch.
GX_SETUP = """
import json, os
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig
suite_json = json.load(open(suite_path))
context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
    store_backend_defaults=InMemoryStoreBackendDefaults(), progress_bars=ProgressBarsConfig(globally=False)))
suite = context.suites.add(gx.ExpectationSuite(name=suite_json["name"], expectations=suite_json["expectations"]))
batch = context.data_sources.add_pandas("p").add_dataframe_asset("t").add_batch_definition_whole_dataframe("b")
vd = context.validation_definitions.add(gx.ValidationDefinition(name="v", data=batch, suite=suite))
"""

# The bare-GX side: TABLE SUITE.
GX_SCRIPT = (
    "import sys\nsuite_path = sys.argv[2]\n"
    + GX_SETUP
    + """
frame = pd.read_parquet(sys.argv[1])
result = vd.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "SUMMARY"})
print(result.statistics["evaluated_expectations"], result.statistics["unsuccessful_expectations"])
"""
)


def _measure(cmd: list[str], cwd: Path) -> tuple[float, int]:
    # Run through a tiny wrapper so ru_maxrss is this command's own peak, not a max over siblings.
    wrapper = (
        "import resource, subprocess, sys, time, json;"
        "t=time.perf_counter(); p=subprocess.run(sys.argv[1:], capture_output=True);"
        "w=time.perf_counter()-t;"
        "print(json.dumps([w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, p.returncode]))"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], cwd=cwd, capture_output=True, text=True, check=True)
    wall, mib, code = json.loads(out.stdout)
    if code not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd[:4])} exited {code}")
    return float(wall), int(mib)


def run(rows: int = 1_000_000) -> dict[str, Any]:
    """Return wall time and peak memory of mlci validate and bare GX on `rows` generated rows."""
    from benchmarks.common import example_table

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # The example's own deterministic table, generated once and kept in benchmarks/.data/
        # (10M rows take ~40 s to generate), and not held in this process while both sides run.
        table = example_table(rows, seed=11)
        suite = EXAMPLE / "expectations" / "churn.json"
        config = EXAMPLE / "mlci.yaml"
        gx_wall, gx_mib = _measure([sys.executable, "-c", GX_SCRIPT, str(table), str(suite)], work)
        mlci_wall, mlci_mib = _measure(
            [sys.executable, "-m", "mlci", "-c", str(config), "validate", "--data", str(table)], work
        )
    ratio = mlci_wall / gx_wall
    return {
        "name": f"validate_overhead_{rows}",
        "rows": rows,
        "mlci_seconds": round(mlci_wall, 3),
        "gx_seconds": round(gx_wall, 3),
        "mlci_peak_mib": mlci_mib,
        "gx_peak_mib": gx_mib,
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "met": ratio < TARGET_RATIO,
    }


if __name__ == "__main__":
    for n in [int(a) for a in sys.argv[1:]] or [1_000_000]:
        print(json.dumps(run(n)), flush=True)
