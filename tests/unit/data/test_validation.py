"""`mlci validate`: GX suites on the example data, failures, malformed suites, GX-exported suites."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.support.cli import mlci_env
from tests.support.project import ProjectCopy


def _break_data(project: ProjectCopy) -> None:
    frame = pd.read_csv(project / "data" / "train.csv")
    frame.loc[[3, 17, 40], "customer_id"] = np.nan
    frame.loc[5, "tenure_months"] = 999
    frame.to_csv(project / "data" / "train.csv", index=False)


def test_example_validates(project):
    run = project.run("validate")
    assert run.returncode == 0, run.text
    assert "15 expectations evaluated, 0 failed" in run.stdout


def test_nulls_and_out_of_range_fail_with_sample_values(project):
    _break_data(project)
    run = project.run("validate", "--data", "train")
    assert run.returncode == 1, run.text
    assert "2 failed" in run.stdout
    assert "expect_column_values_to_not_be_null on column 'customer_id': 3 unexpected" in run.stdout
    assert "expect_column_values_to_be_between on column 'tenure_months': 1 unexpected" in run.stdout
    assert "e.g. 999" in run.stdout


def test_json_output_carries_the_same_counts(project):
    _break_data(project)
    run = project.run("--json", "validate", "--data", "train")
    assert run.returncode == 1
    doc = json.loads(run.stdout)
    assert doc["success"] is False
    (result,) = doc["results"]
    assert (result["evaluated"], result["failed"]) == (15, 2)
    assert len(result["failures"]) == 2
    by_column = {f["column"]: f for f in result["failures"]}
    assert by_column["tenure_months"]["sample_values"] == [999]
    assert by_column["customer_id"]["unexpected_count"] == 3


def test_in_actions_each_failure_is_an_error_annotation_on_the_suite(project):
    _break_data(project)
    run = project.run("validate", "--data", "train", env=mlci_env(GITHUB_ACTIONS="true"))
    assert run.returncode == 1
    annotations = [line for line in run.stdout.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 2
    suite = str(project / "expectations" / "churn.json")
    suite_lines = (project / "expectations" / "churn.json").read_text().splitlines()
    for a in annotations:
        props = a.split("::")[1]
        assert f"file={suite}" in props.replace("%3A", ":").replace("%2C", ",")
        line = int(props.split("line=")[1].split(",")[0])
        assert '"type": "expect_column_values_to' in suite_lines[line - 1]


def test_a_suite_exported_by_gx_runs_unchanged(project):
    import great_expectations as gx

    suite = gx.ExpectationSuite(
        name="exported",
        expectations=[
            gx.expectations.ExpectColumnValuesToNotBeNull(column="customer_id"),
            gx.expectations.ExpectColumnValuesToBeBetween(column="tenure_months", min_value=0, max_value=10),
            gx.expectations.ExpectTableRowCountToBeBetween(min_value=1),
        ],
    )
    (project / "expectations" / "exported.json").write_text(json.dumps(suite.to_json_dict()))
    text = (project / "mlci.yaml").read_text().replace("expectations/churn.json", "expectations/exported.json")
    (project / "mlci.yaml").write_text(text)
    run = project.run("--json", "validate", "--data", "test")
    assert run.returncode == 1  # tenure above 10 exists: the exported suite really ran
    (result,) = json.loads(run.stdout)["results"]
    assert result["evaluated"] == 3 and result["failed"] == 1
    assert result["failures"][0]["type"] == "expect_column_values_to_be_between"


@pytest.mark.parametrize(
    ("suite", "message"),
    [
        ('{"name": "s", "expectations": [\n', "invalid JSON"),
        (
            '{"name": "s", "expectations": [{"type": "expect_table_row_count_to_be_between", "kwargs": {}},'
            ' {"type": "expect_column_to_be_purple", "kwargs": {"column": "x"}}]}',
            "expectations[1]: unknown expectation type 'expect_column_to_be_purple'",
        ),
        (
            '{"name": "s", "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {}}]}',
            "expectations[0] expect_column_values_to_not_be_null: 'column': missing argument",
        ),
    ],
)
def test_malformed_suite_is_exit_2_naming_the_expectation(project, suite, message):
    (project / "expectations" / "churn.json").write_text(suite)
    run = project.run("validate")
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.text


@pytest.mark.slow
def test_a_million_rows_validate_with_the_example_suite(project):
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate", project / "generate.py")
    assert spec and spec.loader
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    frame = generate.make(rows=1_000_000, seed=7)
    frame.to_parquet(project / "big.parquet")
    run = project.run("--json", "validate", "--data", "big.parquet")
    assert run.returncode == 0, run.text[-2000:]
    (result,) = json.loads(run.stdout)["results"]
    assert result["rows"] == 1_000_000 and result["evaluated"] == 15
