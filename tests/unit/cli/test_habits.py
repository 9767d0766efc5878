"""The CLI habits people have and the messages they read, run in-process."""

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


def test_global_options_work_after_the_subcommand_too(project):
    after = project.run("config", "check", "--json")
    assert after.returncode == 0, after.text
    assert json.loads(after.stdout)["model"] == "churn"
    shutil.move(project / "mlci.yaml", project / "other.yaml")
    moved = project.run("config", "check", "-c", "other.yaml", "-q")
    assert moved.returncode == 0 and moved.stdout == ""
    assert project.run("--json", "config", "check", "--config", "other.yaml").returncode == 0


def test_quiet_validate_prints_one_line_per_table(project):
    run = project.run("validate", "-q")
    assert run.returncode == 0
    lines = run.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("ok: ") for line in lines)


def test_unknown_keys_get_a_did_you_mean(project):
    config = project / "mlci.yaml"
    _edit(config, "  target: churned", "  targt: churned")
    _edit(config, "    non_inferiority_margin: 0.01", "    non_inferiority_margn: 0.01")
    _edit(config, "metrics:\n", "metric:\n  primary: roc_auc\nmetrics:\n")
    run = project.run("config", "check")
    assert run.returncode == 2
    assert "data: unknown key 'targt' (did you mean 'target'?)" in run.stderr
    assert "gates[1]: unknown key 'non_inferiority_margn' (did you mean 'non_inferiority_margin'?)" in run.stderr
    assert "unknown key 'metric' (did you mean 'metrics'?)" in run.stderr


def test_a_bad_model_name_is_explained_in_words(project):
    _edit(project / "mlci.yaml", "name: churn", "name: my churn model!")
    run = project.run("config", "check")
    assert run.returncode == 2
    assert "model.name: 'my churn model!' is not a usable model name: use up to 64 letters, digits" in run.stderr
    assert "^[A-Za-z0-9]" not in run.stderr  # no raw regex


def test_a_registry_uri_that_is_a_file_is_named(project):
    _edit(project / "mlci.yaml", "${MLCI_REGISTRY:-.mlci/registry}", "data/train.csv")
    run = project.run("history")
    assert run.returncode == 2
    assert "registry.uri 'data/train.csv':" in run.stderr and "is a file, not a directory" in run.stderr
    assert "internal error" not in run.stderr and "NotADirectoryError" not in run.stderr


SUITE_WITH_A_MISSING_COLUMN = {
    "name": "churn",
    "expectations": [
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "tenure_months", "max_value": 10}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_column"}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "plan", "value_set": ["basic"]}},
    ],
}


def test_validation_failures_name_the_expectation_that_failed_not_its_position(project):
    suite = project / "expectations" / "churn.json"
    suite.write_text(json.dumps(SUITE_WITH_A_MISSING_COLUMN, indent=2))
    run = project.run("validate", "--data", "train")
    assert run.returncode == 1
    # GX puts the result of the missing column first; each line still names its own expectation.
    assert "expectations[0] expect_column_values_to_be_between on column 'tenure_months':" in run.stdout
    assert "expectations[1] expect_column_values_to_not_be_null on column 'no_such_column'" in run.stdout
    assert "expectations[2] expect_column_values_to_be_in_set on column 'plan':" in run.stdout
    doc = json.loads(project.run("validate", "--data", "train", "--json").stdout)
    lines = suite.read_text().splitlines()
    for failure in doc["results"][0]["failures"]:
        assert failure["type"] in lines[failure["line"] - 1]


def test_a_gx0_suite_is_converted_and_says_how_to_convert_the_file(project):
    suite = project / "expectations" / "churn.json"
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
    run = project.run("validate", "--data", "train")
    assert run.returncode == 0, run.text
    assert "is a GX 0.x suite, converted in memory; to convert the file, rename" in run.stdout
    assert '"expectation_type" to "type"' in run.stdout
    # Deprecated in GX 0.x, gone in 1.x: no rename makes it run.
    legacy["expectations"].append(
        {"expectation_type": "expect_multicolumn_values_to_be_unique", "kwargs": {"column_list": ["plan", "region"]}}
    )
    suite.write_text(json.dumps(legacy, indent=2))
    refused = project.run("validate", "--data", "train")
    assert refused.returncode == 2
    assert "uses 'expect_multicolumn_values_to_be_unique', which GX 1.x no longer has" in refused.stderr
    assert "internal error" not in refused.stderr


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
