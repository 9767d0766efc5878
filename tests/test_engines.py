"""Tables that live in PostgreSQL (a real server) and Spark (local mode): validated, profiled and sampled there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import EXAMPLE, Run, mlci_env, run_mlci
from tests.pg_server import PostgreSQL

pytestmark = pytest.mark.slow

SAMPLE_ROWS = 800


def _url(pg: PostgreSQL) -> str:
    # The password reaches mlci through ${PGPASSWORD}, as a workflow passes a secret.
    return pg.url.replace(pg.password, "${PGPASSWORD}")


def _env(pg: PostgreSQL) -> dict[str, str]:
    return mlci_env(PGPASSWORD=pg.password)


def _suite(dest: Path) -> Path:
    """Write the example suite with SQL type names beside pandas' (a column's type is the engine's)."""
    suite = json.loads((EXAMPLE / "expectations" / "churn.json").read_text())
    for exp in suite["expectations"]:
        if exp["type"] == "expect_column_values_to_be_in_type_list":
            exp["kwargs"]["type_list"] += ["BIGINT", "INTEGER"]
    path = dest / "expectations" / "churn.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(suite, indent=2))
    return path


def _sql(pg: PostgreSQL, table: str) -> str:
    return json.dumps({"sql": _url(pg), "table": table})


@pytest.fixture(scope="module")
def pg_project(postgres: PostgreSQL, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a copy of the churn example whose train and test tables live in PostgreSQL."""
    dest = tmp_path_factory.mktemp("pg") / "churn"
    dest.mkdir()
    for name in ("train", "test"):
        postgres.load(pd.read_csv(EXAMPLE / "data" / f"{name}.csv"), f"churn_{name}")
    _suite(dest)
    config = (EXAMPLE / "mlci.yaml").read_text()
    config = config.replace("  train: data/train.csv\n", f"  train: {{sql: '{_url(postgres)}', table: churn_train}}\n")
    config = config.replace("  test: data/test.csv\n", f"  test: {{sql: '{_url(postgres)}', table: churn_test}}\n")
    config = config.replace("  id: customer_id\n", f"  id: customer_id\n  sample_rows: {SAMPLE_ROWS}\n")
    assert "sample_rows" in config and "churn_test" in config
    (dest / "mlci.yaml").write_text(config)
    return dest


def _run(pg: PostgreSQL, *args: str, cwd: Path) -> Run:
    """Run `mlci ARGS` (in-process) with the password in ${PGPASSWORD}; it must never be shown."""
    proc = run_mlci(cwd, *args, env=_env(pg))
    run = Run(proc.returncode, proc.stdout, proc.stderr)
    assert pg.password not in run.text
    return run


def test_validate_runs_in_postgres_and_names_the_broken_range(postgres: PostgreSQL, pg_project: Path) -> None:
    postgres.execute("DROP TABLE IF EXISTS churn_edit", "CREATE TABLE churn_edit AS SELECT * FROM churn_train")

    ok = _run(postgres, "validate", cwd=pg_project)
    assert ok.code == 0, ok.text
    assert "table churn_train (3000 rows)" in ok.out and "table churn_test (1000 rows)" in ok.out
    assert "postgresql+psycopg2://***@127.0.0.1" in ok.out  # the whole user:password part is redacted

    edited = _sql(postgres, "churn_edit")
    assert _run(postgres, "validate", "--data", edited, cwd=pg_project).code == 0
    postgres.execute("UPDATE churn_edit SET tenure_months = 97 WHERE customer_id IN ('C100003', 'C100007')")
    broken = _run(postgres, "validate", "--data", edited, cwd=pg_project)
    assert broken.code == 1, broken.text
    assert "expectations[5] expect_column_values_to_be_between on column 'tenure_months': 2 unexpected" in broken.out
    assert "e.g. 97, 97" in broken.out


def _peak_rss(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, int, str]:
    """Return (exit code, peak RSS in bytes, output) of one child process, from its own rusage."""
    with open(cwd / "out.txt", "w+") as out:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return proc.returncode, usage.ru_maxrss * 1024, out.read()


def test_validate_never_holds_the_table(postgres: PostgreSQL, tmp_path: Path) -> None:
    """Peak memory of `mlci validate` on 3M rows stays where it is on 10k rows: the rows stay in PostgreSQL."""
    postgres.execute(
        *(
            f"DROP TABLE IF EXISTS {name}; CREATE UNLOGGED TABLE {name} AS SELECT g AS id, (g % 97)::float8 AS amount, "
            f"(ARRAY['red','green','blue'])[1 + g % 3] AS colour, md5(g::text) AS code "
            f"FROM generate_series(1, {rows}) AS g"
            for name, rows in (("rows_small", 10_000), ("rows_big", 3_000_000))
        )
    )
    suite = {
        "name": "rows",
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "amount", "min_value": 0}},
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "colour", "value_set": ["red", "green", "blue"]},
            },
            {"type": "expect_column_value_lengths_to_equal", "kwargs": {"column": "code", "value": 32}},
        ],
    }
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    (tmp_path / "mlci.yaml").write_text(
        "model: {name: rows, task: regression, estimator: sklearn.linear_model.Ridge}\n"
        f"data: {{table: {{sql: '{_url(postgres)}', table: rows_small}}, target: amount}}\n"
        "expectations: {suite: suite.json}\nmetrics: {primary: rmse}\n"
    )
    peaks = {}
    for name in ("rows_small", "rows_big"):
        args = [sys.executable, "-m", "mlci", "validate", "--data", _sql(postgres, name)]
        code, peaks[name], out = _peak_rss(args, tmp_path, _env(postgres))
        assert code == 0, out
    assert "(3000000 rows)" in out
    # 3M rows of these four columns are ~200 MiB in pandas (and GX copies them); the bound is generous.
    assert peaks["rows_big"] < peaks["rows_small"] + 64 * 2**20, peaks


@pytest.fixture(scope="module")
def promoted(postgres: PostgreSQL, pg_project: Path) -> tuple[dict[str, Any], str]:
    """Run the first check on the PostgreSQL tables and promote its candidate; return (its document, its report)."""
    first = _run(postgres, "check", cwd=pg_project)
    assert first.code == 0, first.text
    document = json.loads((pg_project / "comparison.json").read_text())
    report = (pg_project / "report.md").read_text()
    promote = _run(postgres, "promote", "candidate", "--to", "production", cwd=pg_project)
    assert promote.code == 0, promote.text
    return document, report


def test_check_on_postgres_trains_and_compares_on_the_same_sampled_rows(
    postgres: PostgreSQL, pg_project: Path, promoted: tuple[dict[str, Any], str]
) -> None:
    first, first_report = promoted
    assert first["comparison"]["verdict"]["status"] == "bootstrap"
    assert first["data"]["rows"] == {"train": SAMPLE_ROWS, "test": SAMPLE_ROWS}
    assert first["data"]["sample"]["rows"] == SAMPLE_ROWS
    assert "deterministic sample of at most 800 rows per table" in first_report
    assert "confidence intervals are over the sampled rows" in first_report
    assert postgres.password not in first_report and postgres.password not in json.dumps(first)
    for stored in (pg_project / ".mlci").rglob("*.json"):  # manifests, aliases, events, caches
        assert postgres.password not in stored.read_text(errors="replace"), stored

    second = _run(postgres, "check", cwd=pg_project)
    assert second.code == 0, second.text
    document = json.loads((pg_project / "comparison.json").read_text())
    assert document["baseline"]["version"] == first["candidate"]["version"]
    assert document["comparison"]["verdict"]["status"] == "pass"
    # The same rows: the samples' content fingerprints are equal, and they are the first 800 by md5(id).
    assert document["data"]["fingerprints"] == first["data"]["fingerprints"]
    assert "deterministic sample" in (pg_project / "report.md").read_text()


def test_reference_profile_is_built_in_postgres_on_the_whole_table(
    postgres: PostgreSQL, pg_project: Path, promoted: tuple[dict[str, Any], str]
) -> None:
    version = promoted[0]["candidate"]["version"]
    profile = json.loads((pg_project / ".mlci" / "bundles" / version / "profile.json").read_text())
    assert profile["rows"] == 3000  # the whole table, not the 800-row sample
    assert sum(profile["features"]["tenure_months"]["counts"]) == 3000


def test_drift_of_a_shifted_postgres_table_lists_the_shifted_features_first(
    postgres: PostgreSQL, pg_project: Path, promoted: tuple[dict[str, Any], str]
) -> None:
    postgres.execute(
        "DROP TABLE IF EXISTS churn_shifted",
        "CREATE TABLE churn_shifted AS SELECT * FROM churn_test",
        "UPDATE churn_shifted SET monthly_charges = monthly_charges * 1.6 + 25, "
        "contract = CASE WHEN customer_id < 'C2003' THEN 'two-year' ELSE contract END",
    )
    run = _run(postgres, "--json", "drift", "--current", _sql(postgres, "churn_shifted"), cwd=pg_project)
    assert run.code == 1, run.text
    report = json.loads(run.out)
    assert report["rows_cur"] == 1000 and report["status"] == "fail"
    first_two = {f["feature"] for f in report["features"][:2]}
    assert first_two == {"monthly_charges", "contract"}, report["features"][:3]
    assert all(f["status"] == "fail" for f in report["features"][:2])
    unshifted = {f["feature"]: f for f in report["features"]}
    assert unshifted["region"]["status"] == "ok" and unshifted["tenure_months"]["status"] == "ok"

    calm = _run(postgres, "--json", "drift", "--current", _sql(postgres, "churn_test"), cwd=pg_project)
    assert json.loads(calm.out)["status"] != "fail", calm.text


def test_retrain_on_a_postgres_table_validates_and_measures_drift_there(
    postgres: PostgreSQL, pg_project: Path, promoted: tuple[dict[str, Any], str], tmp_path: Path
) -> None:
    project = tmp_path / "churn"
    shutil.copytree(pg_project, project)  # with its registry, whose production is the promoted version
    with open(project / "mlci.yaml", "a") as f:
        f.write(f"\nretrain:\n  data: {{sql: '{_url(postgres)}', query: 'SELECT * FROM churn_test'}}\n")
    run = _run(postgres, "--json", "retrain", cwd=project)
    assert run.code == 0, run.text
    document = json.loads(run.out)
    assert document["drift"] in ("ok", "warn")  # the test table against the training table's profile
    report = (project / "report.md").read_text()
    # The whole fresh table counted in PostgreSQL (the sample is 800 rows), prediction drift on the sample.
    assert "(3,000 reference rows, 1,000 current)" in report, report
    assert "| prediction |" in report and "| tenure_months |" in report
    assert [v["rows"] for v in document["validation"]] == [1000]  # validated once, whole, in the engine
    assert document["data"]["sample"]["pulled"] == {"table": SAMPLE_ROWS}


def test_sql_profile_is_the_pandas_profile(postgres: PostgreSQL) -> None:
    """The engine's aggregate queries give the profile the pandas path gives on the same rows."""
    from sklearn.datasets import load_wine

    from mlci.config.schema import SqlSource
    from mlci.data.engines import open_table
    from mlci.stats.drift import build_profile

    frame = load_wine(as_frame=True).frame
    frame["cultivar"] = frame["target"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    frame.loc[::7, "alcohol"] = None
    postgres.load(frame, "wine")
    features = ["alcohol", "malic_acid", "proline", "cultivar"]
    engine = open_table(SqlSource(sql=postgres.url, table="wine"), field="data.table").profile(features).model_dump()
    pandas = build_profile(frame, features=features).model_dump()
    assert engine["rows"] == pandas["rows"]
    for name in features:
        got, want = engine["features"][name], pandas["features"][name]
        assert got.keys() == want.keys()
        for key in want:
            if key == "edges":
                assert got[key][1:-1] == pytest.approx(want[key][1:-1], rel=1e-9), name
                assert got[key][0] is None and got[key][-1] is None
            elif isinstance(want[key], float):
                assert got[key] == pytest.approx(want[key], rel=1e-9), (name, key)
            else:
                assert got[key] == want[key], (name, key)


# --- errors ---------------------------------------------------------------------------------


def _project_for_errors(tmp: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp, ignore=shutil.ignore_patterns(".mlci", "__pycache__"))
    return tmp


@pytest.mark.parametrize(
    "case",
    [
        "missing extra",
        "missing driver",
        "unknown dialect",
        "not a URL",
        "refused",
        "wrong password",
        "missing table",
        "failing query",
    ],
)
def test_engine_errors_are_one_line_exit_2_without_the_password(
    case: str, postgres: PostgreSQL, tmp_path: Path
) -> None:
    project = _project_for_errors(tmp_path / "p")
    secret = "S3cretPassw0rd"
    url = f"postgresql+psycopg2://mlci:{secret}@127.0.0.1:{postgres.port}/postgres"
    source: dict[str, str] = {"sql": url, "table": "churn_train"}
    expected = {
        "missing extra": "needs the 'sql' extra (no module named 'sqlalchemy') (pip install 'mlci[sql]')",
        "missing driver": "the database driver 'pg8000' for postgresql+pg8000 is not installed",
        "unknown dialect": "unknown SQL dialect",
        "not a URL": "is not a SQLAlchemy URL",
        "refused": 'cannot connect: connection to server at "127.0.0.1", port 1 failed',
        "wrong password": 'password authentication failed for user "mlci"',
        "missing table": "table no_such_table: no such table in the database",
        "failing query": 'query: the query failed: column "no_such_column" does not exist',
    }[case]
    prelude = ""
    if case == "missing extra":
        prelude = "sys.modules['sqlalchemy'] = None; "  # what Python does for a package that is not installed
    elif case == "missing driver":
        source["sql"] = url.replace("+psycopg2", "+pg8000")
    elif case == "unknown dialect":
        source["sql"] = url.replace("postgresql+psycopg2", "postgress")
    elif case == "not a URL":
        source["sql"] = f"mlci:{secret}@127.0.0.1/postgres"
    elif case == "refused":
        source["sql"] = url.replace(f":{postgres.port}/", ":1/")
    elif case in ("missing table", "failing query"):
        # The right password, so the server answers and the table or the query is what fails.
        source["sql"] = postgres.url
        if case == "missing table":
            source["table"] = "no_such_table"
        else:
            source = {"sql": postgres.url, "query": "SELECT no_such_column FROM pg_class"}
    code = f"import sys; {prelude}from mlci.cli.app import main; sys.argv[0] = 'mlci'; main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "validate", "--data", json.dumps(source)],
        cwd=project,
        env=mlci_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and expected in lines[0], lines
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    for text in (proc.stdout, proc.stderr):
        assert secret not in text and postgres.password not in text


# --- Spark (local mode) -----------------------------------------------------------------------

SPARK_SUITE = {
    "name": "churn-spark",
    "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 500}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "customer_id"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "tenure_months", "min_value": 0, "max_value": 72},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "plan", "value_set": ["basic", "standard", "premium"]},
        },
    ],
}


def test_validate_and_drift_on_a_spark_parquet_table(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from mlci.cli.app import cli
    from mlci.config.schema import SparkSource
    from mlci.data.engines import open_table
    from mlci.stats.drift import compare_observed, profile_columns
    from mlci.stats.specs import DriftSection

    train = pd.read_csv(EXAMPLE / "data" / "train.csv")
    train.to_parquet(tmp_path / "train.parquet")
    broken = train.copy()
    broken.loc[[4, 9, 11], "tenure_months"] = -3
    broken.to_parquet(tmp_path / "broken.parquet")
    (tmp_path / "suite.json").write_text(json.dumps(SPARK_SUITE))
    (tmp_path / "mlci.yaml").write_text(
        "model: {name: churn, task: classification, estimator: sklearn.linear_model.LogisticRegression}\n"
        f"data: {{table: {{spark: 'local[1]', path: '{tmp_path / 'train.parquet'}'}}, target: churned}}\n"
        "expectations: {suite: suite.json}\nmetrics: {primary: roc_auc}\n"
    )
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)  # mlci.yaml is found where the user stands
    ok = runner.invoke(cli, ["validate"], catch_exceptions=False)
    assert ok.exit_code == 0, ok.output
    assert "(3000 rows)" in ok.output and "spark local[1] path" in ok.output
    source = json.dumps({"spark": "local[1]", "path": str(tmp_path / "broken.parquet")})
    failed = runner.invoke(cli, ["validate", "--data", source], catch_exceptions=False)
    assert failed.exit_code == 1, failed.output
    assert "expect_column_values_to_be_between on column 'tenure_months': 3 unexpected" in failed.output
    assert "e.g. -3, -3, -3" in failed.output

    # Drift: the reference profile and the current counts are both Spark aggregates.
    shifted = pd.read_csv(EXAMPLE / "data" / "test.csv")
    shifted["support_calls"] = shifted["support_calls"] + 4
    shifted["region"] = "north"
    shifted.to_parquet(tmp_path / "shifted.parquet")
    features = ["tenure_months", "monthly_charges", "support_calls", "plan", "region"]
    reference = open_table(SparkSource(spark="local[1]", path=str(tmp_path / "train.parquet")), field="data.train")
    profile = reference.profile(features)
    assert profile.rows == 3000
    current = open_table(SparkSource(spark="local[1]", path=str(tmp_path / "shifted.parquet")), field="--current")
    rows, observed = current.observe(profile_columns(profile, DriftSection()))
    report = compare_observed(profile, observed, rows, DriftSection())
    assert rows == 1000 and report.status == "fail"
    assert {f.feature for f in report.features[:2]} == {"support_calls", "region"}
    assert {f.feature: f.status for f in report.features[2:]} == {
        "tenure_months": "ok",
        "monthly_charges": "ok",
        "plan": "ok",
    }
