"""`mlci validate`: GX suites on the example data, failures, malformed suites, GX-exported suites."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.support.cli import mlci_env


def _break_data(example: Path) -> None:
    frame = pd.read_csv(example / "data" / "train.csv")
    frame.loc[[3, 17, 40], "customer_id"] = np.nan
    frame.loc[5, "tenure_months"] = 999
    frame.to_csv(example / "data" / "train.csv", index=False)


def test_example_validates(mlci, example):
    run = mlci("validate", cwd=example)
    assert run.code == 0, run.text
    assert "15 expectations evaluated, 0 failed" in run.out


def test_nulls_and_out_of_range_fail_with_sample_values(mlci, example):
    _break_data(example)
    run = mlci("validate", "--data", "train", cwd=example)
    assert run.code == 1, run.text
    assert "2 failed" in run.out
    assert "expect_column_values_to_not_be_null on column 'customer_id': 3 unexpected" in run.out
    assert "expect_column_values_to_be_between on column 'tenure_months': 1 unexpected" in run.out
    assert "e.g. 999" in run.out


def test_json_output_carries_the_same_counts(mlci, example):
    _break_data(example)
    run = mlci("--json", "validate", "--data", "train", cwd=example)
    assert run.code == 1
    doc = json.loads(run.out)
    assert doc["success"] is False
    (result,) = doc["results"]
    assert (result["evaluated"], result["failed"]) == (15, 2)
    assert len(result["failures"]) == 2
    by_column = {f["column"]: f for f in result["failures"]}
    assert by_column["tenure_months"]["sample_values"] == [999]
    assert by_column["customer_id"]["unexpected_count"] == 3


def test_in_actions_each_failure_is_an_error_annotation_on_the_suite(mlci, example):
    _break_data(example)
    run = mlci("validate", "--data", "train", cwd=example, env=mlci_env(GITHUB_ACTIONS="true"))
    assert run.code == 1
    annotations = [line for line in run.out.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 2
    suite = str(example / "expectations" / "churn.json")
    suite_lines = (example / "expectations" / "churn.json").read_text().splitlines()
    for a in annotations:
        props = a.split("::")[1]
        assert f"file={suite}" in props.replace("%3A", ":").replace("%2C", ",")
        line = int(props.split("line=")[1].split(",")[0])
        assert '"type": "expect_column_values_to' in suite_lines[line - 1]


def test_a_suite_exported_by_gx_runs_unchanged(mlci, example):
    import great_expectations as gx

    suite = gx.ExpectationSuite(
        name="exported",
        expectations=[
            gx.expectations.ExpectColumnValuesToNotBeNull(column="customer_id"),
            gx.expectations.ExpectColumnValuesToBeBetween(column="tenure_months", min_value=0, max_value=10),
            gx.expectations.ExpectTableRowCountToBeBetween(min_value=1),
        ],
    )
    (example / "expectations" / "exported.json").write_text(json.dumps(suite.to_json_dict()))
    text = (example / "mlci.yaml").read_text().replace("expectations/churn.json", "expectations/exported.json")
    (example / "mlci.yaml").write_text(text)
    run = mlci("--json", "validate", "--data", "test", cwd=example)
    assert run.code == 1  # tenure above 10 exists: the exported suite really ran
    (result,) = json.loads(run.out)["results"]
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
def test_malformed_suite_is_exit_2_naming_the_expectation(mlci, example, suite, message):
    (example / "expectations" / "churn.json").write_text(suite)
    run = mlci("validate", cwd=example)
    assert run.code == 2
    assert message in run.err
    assert "Traceback" not in run.text


@pytest.mark.slow
def test_a_million_rows_validate_with_the_example_suite(mlci, example):
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate", example / "generate.py")
    assert spec and spec.loader
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    frame = generate.make(rows=1_000_000, seed=7)
    frame.to_parquet(example / "big.parquet")
    run = mlci("--json", "validate", "--data", "big.parquet", cwd=example)
    assert run.code == 0, run.text[-2000:]
    (result,) = json.loads(run.out)["results"]
    assert result["rows"] == 1_000_000 and result["evaluated"] == 15
