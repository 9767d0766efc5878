"""The CLI habits people have and the messages they read (issue 14, items 5 and 6), run in-process."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import ROOT


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_global_options_work_after_the_subcommand_too(mlci, example):
    after = mlci("config", "check", "--json", cwd=example)
    assert after.code == 0, after.text
    assert json.loads(after.out)["model"] == "churn"
    shutil.move(example / "mlci.yaml", example / "other.yaml")
    moved = mlci("config", "check", "-c", "other.yaml", "-q", cwd=example)
    assert moved.code == 0 and moved.out == ""
    assert mlci("--json", "config", "check", "--config", "other.yaml", cwd=example).code == 0


def test_quiet_validate_prints_one_line_per_table(mlci, example):
    run = mlci("validate", "-q", cwd=example)
    assert run.code == 0
    lines = run.out.splitlines()
    assert len(lines) == 2 and all(line.startswith("ok: ") for line in lines)


def test_unknown_keys_get_a_did_you_mean(mlci, example):
    config = example / "mlci.yaml"
    _edit(config, "  target: churned", "  targt: churned")
    _edit(config, "    non_inferiority_margin: 0.01", "    non_inferiority_margn: 0.01")
    _edit(config, "metrics:\n", "metric:\n  primary: roc_auc\nmetrics:\n")
    run = mlci("config", "check", cwd=example)
    assert run.code == 2
    assert "data: unknown key 'targt' (did you mean 'target'?)" in run.err
    assert "gates[1]: unknown key 'non_inferiority_margn' (did you mean 'non_inferiority_margin'?)" in run.err
    assert "unknown key 'metric' (did you mean 'metrics'?)" in run.err


def test_a_bad_model_name_is_explained_in_words(mlci, example):
    _edit(example / "mlci.yaml", "name: churn", "name: my churn model!")
    run = mlci("config", "check", cwd=example)
    assert run.code == 2
    assert "model.name: 'my churn model!' is not a usable model name: use up to 64 letters, digits" in run.err
    assert "^[A-Za-z0-9]" not in run.err  # no raw regex


def test_a_registry_uri_that_is_a_file_is_named(mlci, example):
    _edit(example / "mlci.yaml", "${MLCI_REGISTRY:-.mlci/registry}", "data/train.csv")
    run = mlci("history", cwd=example)
    assert run.code == 2
    assert "registry.uri 'data/train.csv':" in run.err and "is a file, not a directory" in run.err
    assert "internal error" not in run.err and "NotADirectoryError" not in run.err


SUITE_WITH_A_MISSING_COLUMN = {
    "name": "churn",
    "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "tenure_months", "max_value": 10}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_column"}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "plan", "value_set": ["basic"]}},
    ],
}


def test_validation_failures_name_the_expectation_that_failed_not_its_position(mlci, example):
    suite = example / "expectations" / "churn.json"
    suite.write_text(json.dumps(SUITE_WITH_A_MISSING_COLUMN, indent=2))
    run = mlci("validate", "--data", "train", cwd=example)
    assert run.code == 1
    # GX puts the result of the missing column first; each line still names its own expectation.
    assert "expectations[0] expect_column_values_to_be_between on column 'tenure_months':" in run.out
    assert "expectations[1] expect_column_values_to_not_be_null on column 'no_such_column'" in run.out
    assert "expectations[2] expect_column_values_to_be_in_set on column 'plan':" in run.out
    doc = json.loads(mlci("validate", "--data", "train", "--json", cwd=example).out)
    lines = suite.read_text().splitlines()
    for failure in doc["results"][0]["failures"]:
        assert failure["type"] in lines[failure["line"] - 1]


def test_a_gx0_suite_is_converted_and_says_how_to_convert_the_file(mlci, example):
    suite = example / "expectations" / "churn.json"
    current = json.loads(suite.read_text())
    legacy = {
        "expectation_suite_name": "churn",
        "data_asset_type": None,
        "expectations": [
            {"expectation_type": e["type"], "kwargs": {**e["kwargs"], "result_format": "BASIC"}, "meta": {}}
            for e in current["expectations"]
        ],
    }
    suite.write_text(json.dumps(legacy, indent=2))
    run = mlci("validate", "--data", "train", cwd=example)
    assert run.code == 0, run.text
    assert "is a GX 0.x suite, converted in memory; to convert the file, rename" in run.out
    assert '"expectation_type" to "type"' in run.out
    # Deprecated in GX 0.x, gone in 1.x: no rename makes it run.
    legacy["expectations"].append(
        {"expectation_type": "expect_multicolumn_values_to_be_unique", "kwargs": {"column_list": ["plan", "region"]}}
    )
    suite.write_text(json.dumps(legacy, indent=2))
    refused = mlci("validate", "--data", "train", cwd=example)
    assert refused.code == 2
    assert "uses 'expect_multicolumn_values_to_be_unique', which GX 1.x no longer has" in refused.err
    assert "internal error" not in refused.err


def test_make_demo_installs_only_what_the_demo_needs(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)

    def planned(target: str) -> str:
        return subprocess.run(["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, check=True).stdout

    demo = planned("demo")
    assert "pip install" in demo and "-e ." in demo and "[test]" not in demo
    assert "-e '.[test]'" in planned("test")


def test_positive_class_chooses_the_class_binary_metrics_are_about():
    import numpy as np

    from mlci.errors import DataError
    from mlci.stats.comparison import compare
    from mlci.stats.evaluation import Predictions
    from mlci.stats.specs import StatisticsSection

    y = np.array(["no", "yes", "yes", "no", "yes", "no"])
    labels = np.array(["no", "yes", "no", "no", "no", "yes"])
    pred = Predictions(labels=labels, proba=None, classes=None)

    def recall(positive):
        c = compare(y, pred, None, task="classification", metrics=["recall"], primary="recall", gates=[],
                    statistics=StatisticsSection(), positive_class=positive)  # fmt: skip
        return c.positive_class, c.positive_class_configured, c.metric("recall").candidate

    assert recall(None) == ("yes", False, 1 / 3)  # the default: the last label in sort order
    assert recall("no") == ("no", True, 2 / 3)
    assert recall("yes")[:2] == ("yes", True)
    with pytest.raises(DataError, match=r"data.positive_class 'maybe' is not one of the labels: 'no', 'yes'"):
        recall("maybe")
