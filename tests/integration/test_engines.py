"""Tables that live in PostgreSQL (a real server) and Spark (local mode): validated, profiled and sampled there."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pandas as pd
import pytest

from tests.support.cli import Run, mlci_env, run_mlci
from tests.support.paths import EXAMPLE
from tests.support.pg_server import PostgreSQL
from tests.support.project import ProjectCopy

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
def pg_project(postgres: PostgreSQL, tmp_path_factory: pytest.TempPathFactory) -> ProjectCopy:
    """Return a copy of the churn example whose train and test tables live in PostgreSQL."""
    dest = ProjectCopy.of(EXAMPLE, tmp_path_factory.mktemp("pg") / "churn")
    for name in ("train", "test"):
        postgres.load(pd.read_csv(EXAMPLE / "data" / f"{name}.csv"), f"churn_{name}")
        (dest / "data" / f"{name}.csv").unlink()  # the tables are the server's now
    _suite(dest.path)
    dest.with_("data.train", {"sql": _url(postgres), "table": "churn_train"})
    dest.with_("data.test", {"sql": _url(postgres), "table": "churn_test"})
    return dest.with_("data.sample_rows", SAMPLE_ROWS)


def _run(pg: PostgreSQL, *args: str, cwd: Path) -> Run:
    """Run `mlci ARGS` (in-process) with the password in ${PGPASSWORD}; it must never be shown."""
    run = run_mlci(cwd, *args, env=_env(pg))
    assert pg.password not in run.text
    return run


def test_validate_runs_in_postgres_and_names_the_broken_range(postgres: PostgreSQL, pg_project: ProjectCopy) -> None:
    postgres.execute("DROP TABLE IF EXISTS churn_edit", "CREATE TABLE churn_edit AS SELECT * FROM churn_train")

    ok = _run(postgres, "validate", cwd=pg_project)
    assert ok.returncode == 0, ok.text
    assert "table churn_train (3000 rows)" in ok.stdout and "table churn_test (1000 rows)" in ok.stdout
    assert "postgresql+psycopg2://***@127.0.0.1" in ok.stdout  # the whole user:password part is redacted

    edited = _sql(postgres, "churn_edit")
    assert _run(postgres, "validate", "--data", edited, cwd=pg_project).returncode == 0
    postgres.execute("UPDATE churn_edit SET tenure_months = 97 WHERE customer_id IN ('C100003', 'C100007')")
    broken = _run(postgres, "validate", "--data", edited, cwd=pg_project)
    assert broken.returncode == 1, broken.text
    assert "expectations[5] expect_column_values_to_be_between on column 'tenure_months': 2 unexpected" in broken.stdout
    assert "e.g. 97" in broken.stdout and "97, 97" not in broken.stdout  # two rows of 97: the value once


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
def promoted(postgres: PostgreSQL, pg_project: ProjectCopy) -> tuple[dict[str, Any], str]:
    """Run the first check on the PostgreSQL tables and promote its candidate; return (its document, its report)."""
    first = _run(postgres, "check", cwd=pg_project)
    assert first.returncode == 0, first.text
    document = json.loads((pg_project / "comparison.json").read_text())
    report = (pg_project / "report.md").read_text()
    promote = _run(postgres, "promote", "candidate", "--to", "production", cwd=pg_project)
    assert promote.returncode == 0, promote.text
    return document, report


def test_check_on_postgres_trains_and_compares_on_the_same_sampled_rows(
    postgres: PostgreSQL, pg_project: ProjectCopy, promoted: tuple[dict[str, Any], str]
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
    assert second.returncode == 0, second.text
    document = json.loads((pg_project / "comparison.json").read_text())
    assert document["baseline"]["version"] == first["candidate"]["version"]
    assert document["comparison"]["verdict"]["status"] == "pass"
    # The same rows: the samples' content fingerprints are equal, and they are the first 800 by md5(id).
    assert document["data"]["fingerprints"] == first["data"]["fingerprints"]
    assert "deterministic sample" in (pg_project / "report.md").read_text()


def test_reference_profile_is_built_in_postgres_on_the_whole_table(
    postgres: PostgreSQL, pg_project: ProjectCopy, promoted: tuple[dict[str, Any], str]
) -> None:
    version = promoted[0]["candidate"]["version"]
    profile = json.loads((pg_project / ".mlci" / "bundles" / version / "profile.json").read_text())
    assert profile["rows"] == 3000  # the whole table, not the 800-row sample
    assert sum(profile["features"]["tenure_months"]["counts"]) == 3000


def test_drift_of_a_shifted_postgres_table_lists_the_shifted_features_first(
    postgres: PostgreSQL, pg_project: ProjectCopy, promoted: tuple[dict[str, Any], str]
) -> None:
    postgres.execute(
        "DROP TABLE IF EXISTS churn_shifted",
        "CREATE TABLE churn_shifted AS SELECT * FROM churn_test",
        "UPDATE churn_shifted SET monthly_charges = monthly_charges * 1.6 + 25, "
        "contract = CASE WHEN customer_id < 'C2003' THEN 'two-year' ELSE contract END",
    )
    run = _run(postgres, "--json", "drift", "--current", _sql(postgres, "churn_shifted"), cwd=pg_project)
    assert run.returncode == 1, run.text
    report = json.loads(run.stdout)
    assert report["rows_cur"] == 1000 and report["status"] == "fail"
    first_two = {f["feature"] for f in report["features"][:2]}
    assert first_two == {"monthly_charges", "contract"}, report["features"][:3]
    assert all(f["status"] == "fail" for f in report["features"][:2])
    unshifted = {f["feature"]: f for f in report["features"]}
    assert unshifted["region"]["status"] == "ok" and unshifted["tenure_months"]["status"] == "ok"

    calm = _run(postgres, "--json", "drift", "--current", _sql(postgres, "churn_test"), cwd=pg_project)
    assert json.loads(calm.stdout)["status"] != "fail", calm.text


def test_retrain_on_a_postgres_table_validates_and_measures_drift_there(
    postgres: PostgreSQL, pg_project: ProjectCopy, promoted: tuple[dict[str, Any], str], tmp_path: Path
) -> None:
    project = pg_project.copy(tmp_path / "churn", everything=True)  # with its registry: production is promoted
    with open(project / "mlci.yaml", "a") as f:
        f.write(f"\nretrain:\n  data: {{sql: '{_url(postgres)}', query: 'SELECT * FROM churn_test'}}\n")
    run = _run(postgres, "--json", "retrain", cwd=project)
    assert run.returncode == 0, run.text
    document = json.loads(run.stdout)
    assert document["drift"] in ("ok", "warn")  # the test table against the training table's profile
    report = (project / "report.md").read_text()
    # The whole fresh table counted in PostgreSQL (the sample is 800 rows), prediction drift on the sample.
    assert "(3,000 reference rows, 1,000 current)" in report, report
    assert "| prediction |" in report and "| tenure_months |" in report
    assert [v["rows"] for v in document["validation"]] == [1000]  # validated once, whole, in the engine
    # GX has no column types for a query: its type expectation is noted as not checked, not failed.
    (validated,) = document["validation"]
    assert validated["failed"] == 0 and any("not checked: GX reads column types" in n for n in validated["notes"])
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
    case: str, postgres: PostgreSQL, project: ProjectCopy
) -> None:
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
        cwd=project.path,
        env=project.env,
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


# --- passwords with URL delimiters ------------------------------------------------------------

# Seeded: a failure names a password that the next run tries again.
_RANDOM = random.Random(23)
_PRINTABLE = [chr(c) for c in range(0x20, 0x7F)]
PASSWORDS = {
    "slash": "S3cr/et+Pw",
    "question mark": "wh?at?Pw9",
    "hash": "ha#sh#Pw9",
    "at sign": "p@ss@Pw9",
    "colon": "co:lo:nPw9",
    "space": "sp ace Pw9",
    "percent": "100%sure%Pw",
    # Written into the URL as it is: `%` followed by two hex digits would be read as an escape.
    "random printable": "".join(_RANDOM.choice([c for c in _PRINTABLE if c != "%"]) for _ in range(24)),
    # Written into the URL percent-encoded: every printable character.
    "random printable, encoded": "".join(_RANDOM.choice(_PRINTABLE) for _ in range(24)),
}
# The full check (train, compare, report, registry) runs for these; validate and drift for all.
CHECKED = ("slash", "random printable")


def _leaks(password: str) -> set[str]:
    """Return the forms in which a password would be readable: raw, URL-encoded, JSON- and repr-escaped."""
    forms = {password, quote(password), quote(password, safe=""), quote(password, safe=" +"), quote_plus(password)}
    forms |= {json.dumps(f)[1:-1] for f in list(forms)} | {repr(f)[1:-1] for f in list(forms)}
    return forms


def _role(pg: PostgreSQL, name: str, password: str) -> None:
    """Create (or reset) a login role with `password` that may read the churn tables."""
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(host="127.0.0.1", port=pg.port, user="mlci", password=pg.password, dbname="postgres")
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
            verb = "ALTER" if cur.fetchone() else "CREATE"
            cur.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(name)), [password])
            cur.execute(sql.SQL("GRANT SELECT ON churn_train, churn_test TO {}").format(sql.Identifier(name)))
    finally:
        conn.close()


@pytest.mark.parametrize("case", list(PASSWORDS))
def test_a_password_with_url_delimiters_never_leaves_mlci(
    case: str, postgres: PostgreSQL, pg_project: ProjectCopy, promoted: tuple[dict[str, Any], str], tmp_path: Path
) -> None:
    """validate, drift (and check) through a role with that password, and their errors: no form of it anywhere."""
    password = PASSWORDS[case]
    given = quote(password, safe="") if case.endswith("encoded") else password
    role = f"mlci_pw_{list(PASSWORDS).index(case)}"
    _role(postgres, role, password)
    # With its registry, whose production is the promoted version; without the first check's report.
    project = pg_project.copy(tmp_path / "churn", everything=True)
    for output in ("report.md", "comparison.json"):
        (project / output).unlink()
    url = f"postgresql+psycopg2://{role}:${{PGPW}}@127.0.0.1:{postgres.port}/postgres"
    assert project.config["data"]["train"]["sql"] == project.config["data"]["test"]["sql"] == _url(postgres)
    project.with_("data.train.sql", url).with_("data.test.sql", url)

    def table(name: str, *, wrong: bool = False) -> str:
        return json.dumps({"sql": url.replace("${PGPW}", "${PGPW}x" if wrong else "${PGPW}"), "table": name})

    env = mlci_env(PGPW=given)
    runs = {
        "validate": run_mlci(project, "validate", env=env),
        "drift": run_mlci(project, "--json", "drift", "--current", table("churn_test"), env=env),
        "wrong password": run_mlci(project, "-v", "validate", "--data", table("churn_train", wrong=True), env=env),
        "drift, wrong password": run_mlci(project, "drift", "--current", table("churn_test", wrong=True), env=env),
        "missing table": run_mlci(project, "validate", "--data", table("no_such_table"), env=env),
    }
    if case in CHECKED:
        runs["check"] = run_mlci(project, "check", env=env)
    codes = {name: run.returncode for name, run in runs.items()}
    assert codes == {
        "validate": 0,
        "drift": 0,
        "wrong password": 2,
        "drift, wrong password": 2,
        "missing table": 2,
        **({"check": 0} if case in CHECKED else {}),
    }, {name: run.stderr for name, run in runs.items()}
    assert f'password authentication failed for user "{role}"' in runs["wrong password"].stderr
    assert "postgresql+psycopg2://***@127.0.0.1" in runs["validate"].stdout
    leaks = _leaks(password) | _leaks(given)
    for name, run in runs.items():
        for form in leaks:
            assert form not in run.stdout + run.stderr, (name, form)
    # report.md, comparison.json, manifests, events, caches: every file the commands left.
    files = [p for p in project.path.rglob("*") if p.is_file()]
    assert {"report.md", "comparison.json"} <= {p.name for p in files} or case not in CHECKED
    for path in files:
        data = path.read_bytes()
        for form in leaks:
            assert form.encode() not in data, (path, form)


# --- bounded engines ----------------------------------------------------------------------------


def _timed(project: Path, *args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    """Return what `mlci ARGS` gave (in-process) and how many seconds it took."""
    import great_expectations  # noqa: F401  (run_mlci imports it; not on the clock)

    started = time.monotonic()
    proc = run_mlci(project, *args, env=env)
    return proc, time.monotonic() - started


def _one_line(run: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    return lines[0]


def test_a_database_that_accepts_and_never_answers_ends_at_connect_timeout(project: ProjectCopy) -> None:
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(8)  # the kernel completes every handshake; nothing ever reads or answers
        port = blackhole.getsockname()[1]
        url = f"postgresql+psycopg2://mlci:${{PGPW}}@127.0.0.1:{port}/postgres"
        project.with_("data.train", {"sql": url, "table": "churn_train", "connect_timeout": 2})
        run, seconds = _timed(project, "validate", env=mlci_env(PGPW="S3cr/et+Pw"))
    assert run.returncode == 4, run.stderr
    line = _one_line(run)
    assert line == (
        f"postgresql+psycopg2://***@127.0.0.1:{port}/postgres table churn_train: the database did not answer "
        "within connect_timeout (2 s) (check the host and port, or raise data.train.connect_timeout)"
    )
    assert 2 <= seconds < 2 + 5, seconds


def test_a_query_that_runs_past_statement_timeout_is_cancelled(postgres: PostgreSQL, project: ProjectCopy) -> None:
    (project / "slow.json").write_text(
        json.dumps(
            {
                "name": "slow",
                "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}}],
            }
        )
    )
    project.with_("expectations.suite", "slow.json")
    url = _url(postgres)
    # mlci's own first query sleeps; then a query whose first 200 rows (mlci's probe) are quick and
    # whose whole-table scan (GX's expectation) sleeps on every later row.
    asleep = "SELECT pg_sleep(60) AS x"
    later = (
        "SELECT g AS x, (SELECT 1 FROM pg_sleep(CASE WHEN g > 200 THEN 60 ELSE 0 END)) AS s "
        "FROM generate_series(1, 1000) AS g"
    )
    for query, what in ((asleep, "query: the query ran past"), (later, "query: a validation query ran past")):
        source = json.dumps({"sql": url, "query": query, "statement_timeout": 1})
        run, seconds = _timed(project, "validate", "--data", source, env=_env(postgres))
        assert run.returncode == 4, run.stderr
        line = _one_line(run)
        assert line.startswith(
            f"postgresql+psycopg2://***@127.0.0.1:{postgres.port}/postgres {what} statement_timeout (1 s)"
        )
        assert line.endswith("raise statement_timeout in the --data mapping)"), line
        assert postgres.password not in run.stdout + run.stderr
        assert seconds < 1 + 5, (what, seconds)


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
    assert "e.g. -3" in failed.output and "-3, -3" not in failed.output  # each value once

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


def test_a_spark_job_that_runs_past_job_timeout_is_cancelled(spark: Any, tmp_path: Path) -> None:
    # Reading x sleeps ten minutes a row in the JVM task (no Python worker): only a cancelled job ends soon.
    # (A nullable x the optimizer cannot see through, so GX's null count must read every row.)
    spark.sql(
        "CREATE OR REPLACE TEMP VIEW slow_rows AS SELECT "
        "IF(reflect('java.lang.Thread', 'sleep', bigint(600000 + id * 0)) = 'never', NULL, id) AS x FROM range(4)"
    )
    (tmp_path / "suite.json").write_text(
        json.dumps(
            {
                "name": "slow",
                "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}}],
            }
        )
    )
    (tmp_path / "mlci.yaml").write_text(
        "model: {name: churn, task: classification, estimator: sklearn.linear_model.LogisticRegression}\n"
        "data: {table: {spark: 'local[1]', table: slow_rows, job_timeout: 2}, target: x}\n"
        "expectations: {suite: suite.json}\nmetrics: {primary: roc_auc}\n"
    )
    run, seconds = _timed(tmp_path, "validate", env=mlci_env())
    assert run.returncode == 4, run.stderr
    assert _one_line(run) == (
        "spark local[1] table slow_rows: validation ran past job_timeout (2 s); its Spark jobs were cancelled "
        "(make the table cheaper to read, or raise data.table.job_timeout)"
    )
    # The deadline, then GX's remaining jobs each cancelled as it starts (a loaded 2-core runner: ~10 s).
    assert seconds < 2 + 25, seconds
    assert spark.range(3).count() == 3  # the session is still usable: only mlci's jobs were cancelled
