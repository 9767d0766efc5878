"""Tables in PostgreSQL and Spark: validation and drift in the engine vs GX's own run and the pandas path.

Run: `python -m benchmarks.bench_engines pg ROWS [ROWS ...]` or `... spark ROWS`; prints one JSON
line per measurement. Each side is a whole process (`benchmarks.common.measure`: wall time and
peak RSS), on the same table minutes apart:

- PostgreSQL (a throwaway server from tests/support/pg_server.py; the table is generated inside it
  with generate_series, so no rows pass through Python): `mlci validate --data {sql: ...}`
  vs GX's own ValidationDefinition.run on the same SQL datasource and suite (target ratio
  <= 1.1); mlci's peak memory at each size (target <= 500 MiB and flat) and the pandas path's
  (`mlci validate` on a Parquet export of the same rows) for comparison; drift in the engine
  (profile + current counts by aggregate queries) vs the pandas path (read the table, then
  build_profile + compare_profile).
- Spark local mode on a Parquet table Spark writes itself: the same pairs.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import MLCI, clean_env, measure, run_ok

TARGET_RATIO = 1.1
TARGET_PEAK_MIB = 500

SUITE = {
    "name": "engines",
    "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "customer_id"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "customer_id"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "tenure_months", "min_value": 0, "max_value": 72},
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "monthly_charges", "min_value": 0, "max_value": 200},
        },
        {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "monthly_charges", "min_value": 30}},
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "plan", "value_set": ["basic", "standard", "premium"]},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "region", "value_set": ["north", "south", "east", "west"]},
        },
    ],
}
FEATURES = ["tenure_months", "monthly_charges", "support_calls", "plan", "region"]

# Rows of the churn-like table, generated where it lives; `shift` moves monthly_charges and region.
PG_TABLE = """
DROP TABLE IF EXISTS {name};
CREATE UNLOGGED TABLE {name} AS
SELECT 'C' || lpad(g::text, 9, '0') AS customer_id,
       (g * 7919 % 73) AS tenure_months,
       round((18 + (g * 104729 % 9000) / 100.0 + {shift})::numeric, 2)::float8 AS monthly_charges,
       (g * 31 % 6)::float8 AS support_calls,
       (ARRAY['basic','basic','standard','premium'])[1 + g % 4] AS plan,
       CASE WHEN {shift} > 0 THEN 'north' ELSE (ARRAY['north','south','east','west'])[1 + g * 13 % 4] END AS region,
       (g % 5 = 0)::int AS churned
FROM generate_series(1::bigint, {rows}) AS g;
"""

SPARK_TABLE = """
SELECT concat('C', lpad(cast(id AS string), 9, '0')) AS customer_id,
       cast(id * 7919 % 73 AS bigint) AS tenure_months,
       cast(round(18 + (id * 104729 % 9000) / 100.0 + {shift}, 2) AS double) AS monthly_charges,
       cast(id * 31 % 6 AS double) AS support_calls,
       element_at(array('basic','basic','standard','premium'), cast(1 + id % 4 AS int)) AS plan,
       CASE WHEN {shift} > 0 THEN 'north'
            ELSE element_at(array('north','south','east','west'), cast(1 + id * 13 % 4 AS int)) END AS region,
       cast(id % 5 = 0 AS int) AS churned
FROM range(1, {rows} + 1)
"""

GX_SQL = """
import json, os, sys
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
import great_expectations as gx
from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig
url, table, suite_path = sys.argv[1:4]
suite_json = json.load(open(suite_path))
context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
    store_backend_defaults=InMemoryStoreBackendDefaults(), progress_bars=ProgressBarsConfig(globally=False)))
suite = context.suites.add(gx.ExpectationSuite(name=suite_json["name"], expectations=suite_json["expectations"]))
asset = context.data_sources.add_sql("s", connection_string=url, create_temp_table=False).add_table_asset("t", table_name=table)
vd = context.validation_definitions.add(gx.ValidationDefinition(name="v", data=asset.add_batch_definition_whole_table("b"), suite=suite))
result = vd.run(result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})
print(result.statistics["evaluated_expectations"], result.statistics["unsuccessful_expectations"])
"""

GX_SPARK = """
import json, os, sys
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
import great_expectations as gx
from pyspark.sql import SparkSession
from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig
path, suite_path = sys.argv[1:3]
spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").getOrCreate()
frame = spark.read.parquet(path)
suite_json = json.load(open(suite_path))
context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
    store_backend_defaults=InMemoryStoreBackendDefaults(), progress_bars=ProgressBarsConfig(globally=False)))
suite = context.suites.add(gx.ExpectationSuite(name=suite_json["name"], expectations=suite_json["expectations"]))
asset = context.data_sources.add_spark("s", persist=False).add_dataframe_asset("t")
vd = context.validation_definitions.add(gx.ValidationDefinition(name="v", data=asset.add_batch_definition_whole_dataframe("b"), suite=suite))
result = vd.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})
print(result.statistics["evaluated_expectations"], result.statistics["unsuccessful_expectations"])
"""

# Drift in the engine: the reference profile and the current counts by aggregate queries.
DRIFT_ENGINE = """
import json, sys
from mlci.config.schema import SparkSource, SqlSource
from mlci.stats.specs import DriftSection
from mlci.stats.drift import compare_observed, profile_columns
from mlci.data.engines import open_table
ref, cur = (json.loads(a) for a in sys.argv[1:3])
kind = SqlSource if "sql" in ref else SparkSource
profile = open_table(kind(**ref), field="ref").profile(json.loads(sys.argv[3]))
rows, observed = open_table(kind(**cur), field="cur").observe(profile_columns(profile, DriftSection()))
print(compare_observed(profile, observed, rows, DriftSection()).status)
"""

# The pandas path: read both tables into the process, then the same profile and comparison.
DRIFT_PANDAS = """
import json, sys
import pandas as pd
from mlci.stats.specs import DriftSection
from mlci.stats.drift import build_profile, compare_profile
ref, cur, features = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if ref.endswith(".parquet"):
    reference, current = pd.read_parquet(ref, columns=features), pd.read_parquet(cur, columns=features)
else:
    url = sys.argv[4]
    reference = pd.read_sql(f"SELECT {', '.join(features)} FROM {ref}", url)
    current = pd.read_sql(f"SELECT {', '.join(features)} FROM {cur}", url)
print(compare_profile(build_profile(reference, features=features), current, DriftSection()).status)
"""


def _project(work: Path, table: dict[str, Any]) -> Path:
    (work / "suite.json").write_text(json.dumps(SUITE))
    (work / "mlci.yaml").write_text(
        "model: {name: engines, task: classification, estimator: sklearn.linear_model.LogisticRegression}\n"
        f"data: {{table: {json.dumps(table)}, target: churned, id: customer_id}}\n"
        "expectations: {suite: suite.json}\nmetrics: {primary: roc_auc}\n"
    )
    return work


def pg(sizes: list[int]) -> list[dict[str, Any]]:
    """Return one result per size: validation vs GX, peak memory vs the pandas path, drift in-engine vs pandas."""
    from tests.support.pg_server import PostgreSQL

    out = []
    with PostgreSQL() as server, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = clean_env(PGPASSWORD=server.password)
        url = server.url.replace(server.password, "${PGPASSWORD}")
        for rows in sizes:
            server.execute(PG_TABLE.format(name="ref", rows=rows, shift=0), "ANALYZE ref")
            server.execute(PG_TABLE.format(name="cur", rows=rows, shift=25), "ANALYZE cur")
            project = _project(work, {"sql": url, "table": "ref"})
            source = json.dumps({"sql": url, "table": "ref"})
            mlci = measure([*MLCI, "validate", "--data", source], cwd=project, env=env, ok=(0, 1))
            gx = measure(
                [sys.executable, "-c", GX_SQL, server.url, "ref", str(project / "suite.json")], cwd=project, env=env
            )
            # The pandas path on the same rows: a Parquet export, validated by `mlci validate PATH`.
            parquet = work / "ref.parquet"
            run_ok(
                [
                    sys.executable,
                    "-c",
                    "import sys, pandas as pd; pd.read_sql('SELECT * FROM ref', sys.argv[1]).to_parquet(sys.argv[2])",
                    server.url,
                    str(parquet),
                ],
                cwd=project,
            )
            pandas = measure([*MLCI, "validate", "--data", str(parquet)], cwd=project, env=env, ok=(0, 1))
            parquet.unlink()
            ref, cur = json.dumps({"sql": server.url, "table": "ref"}), json.dumps({"sql": server.url, "table": "cur"})
            features = json.dumps(FEATURES)
            drift_engine = measure([sys.executable, "-c", DRIFT_ENGINE, ref, cur, features], cwd=project, env=env)
            drift_pandas = measure(
                [sys.executable, "-c", DRIFT_PANDAS, "ref", "cur", features, server.url], cwd=project, env=env
            )
            out.append(
                _result("postgresql", rows, mlci, gx, drift_engine, drift_pandas)
                | {
                    "pandas_path_seconds": round(pandas.seconds, 2),
                    "pandas_path_peak_mib": pandas.peak_mib,
                    "target_peak_mib": TARGET_PEAK_MIB,
                }
            )
            print(json.dumps(out[-1]), file=sys.stderr, flush=True)
        server.execute("DROP TABLE IF EXISTS ref", "DROP TABLE IF EXISTS cur")
    return out


def spark(rows: int) -> dict[str, Any]:
    """Return Spark local mode on a Parquet table of `rows` rows: validation vs GX, drift in Spark vs pandas."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        writer = (
            "import sys; from pyspark.sql import SparkSession; "
            "s = SparkSession.builder.master('local[2]').config('spark.ui.enabled', 'false').getOrCreate(); "
            "s.sql(sys.argv[1]).write.parquet(sys.argv[2]); s.stop()"
        )
        for name, shift in (("ref", 0), ("cur", 25)):
            run_ok(
                [
                    sys.executable,
                    "-c",
                    writer,
                    SPARK_TABLE.format(rows=rows, shift=shift),
                    str(work / f"{name}.parquet"),
                ],
                cwd=work,
            )
        ref = {"spark": "local[2]", "path": str(work / "ref.parquet")}
        cur = {"spark": "local[2]", "path": str(work / "cur.parquet")}
        project = _project(work, ref)
        env = clean_env()
        mlci = measure([*MLCI, "validate", "--data", json.dumps(ref)], cwd=project, env=env, ok=(0, 1))
        gx = measure([sys.executable, "-c", GX_SPARK, ref["path"], str(project / "suite.json")], cwd=project, env=env)
        features = json.dumps(FEATURES)
        drift_engine = measure(
            [sys.executable, "-c", DRIFT_ENGINE, json.dumps(ref), json.dumps(cur), features], cwd=project, env=env
        )
        drift_pandas = measure(
            [sys.executable, "-c", DRIFT_PANDAS, ref["path"], cur["path"], features], cwd=project, env=env
        )
    return _result("spark local[2]", rows, mlci, gx, drift_engine, drift_pandas)


def _result(engine: str, rows: int, mlci: Any, gx: Any, drift_engine: Any, drift_pandas: Any) -> dict[str, Any]:
    """Return one measurement: mlci vs GX validation, drift in the engine vs pandas (whole processes)."""
    return {
        "engine": engine,
        "rows": rows,
        "mlci_seconds": round(mlci.seconds, 2),
        "gx_seconds": round(gx.seconds, 2),
        "ratio": round(mlci.seconds / gx.seconds, 3),
        "target_ratio": TARGET_RATIO,
        "met": mlci.seconds / gx.seconds <= TARGET_RATIO,
        "mlci_peak_mib": mlci.peak_mib,
        "gx_peak_mib": gx.peak_mib,
        "drift_engine_seconds": round(drift_engine.seconds, 2),
        "drift_engine_peak_mib": drift_engine.peak_mib,
        "drift_pandas_seconds": round(drift_pandas.seconds, 2),
        "drift_pandas_peak_mib": drift_pandas.peak_mib,
        "drift_status": drift_engine.out.strip(),
    }


if __name__ == "__main__":
    which, sizes = sys.argv[1], [int(a) for a in sys.argv[2:]]
    if which == "pg":
        for r in pg(sizes or [1_000_000, 20_000_000]):
            print(json.dumps(r), flush=True)
    else:
        print(json.dumps(spark((sizes or [20_000_000])[0])), flush=True)
