"""The newcomer's first hour: `mlci init` on real tables, then validate, check, promote, deploy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.support.newcomer_data import orders, sklearn_frame, write_split
from tests.support.paths import ROOT


def suite_of(project: Path) -> list[dict]:
    (path,) = (project / "expectations").glob("*.json")
    return json.loads(path.read_text())["expectations"]


@pytest.mark.parametrize(
    ("table", "suffix"),
    [("breast_cancer", ".csv"), ("digits", ".parquet"), ("orders", ".csv")],
)
def test_init_with_a_separate_test_file_then_validate_passes_on_both(mlci, tmp_path, table, suffix):
    frame = orders(12_000) if table == "orders" else sklearn_frame(table)
    train, test = write_split(frame, tmp_path / "data", suffix)
    target = ["--target", "returned"] if table == "orders" else []
    init = mlci("init", "--data", f"data/{train}", "--test", f"data/{test}", *target, cwd=tmp_path)
    assert init.returncode == 0, init.text
    # init ran the suite once on each table and said so.
    assert re.search(rf"suite checked on train \(data/{train}\): \d+ rows, \d+ expectations, all pass", init.text)
    assert re.search(rf"suite checked on test \(data/{test}\): \d+ rows, \d+ expectations, all pass", init.text)
    validated = mlci("validate", cwd=tmp_path)
    assert validated.returncode == 0, validated.text
    assert validated.text.count(", 0 failed") == 2


def test_init_on_a_60k_row_parquet_table_then_validate(mlci, tmp_path):
    orders(60_000, seed=1).to_parquet(tmp_path / "orders.parquet", index=False)
    init = mlci("init", "--data", "orders.parquet", "--target", "returned", cwd=tmp_path)
    assert init.returncode == 0, init.text
    assert "60000 rows" in init.text and "all pass" in init.text
    validated = mlci("validate", cwd=tmp_path)
    assert validated.returncode == 0, validated.text


def test_the_suite_has_robust_ranges_and_sets_only_for_categories(mlci, tmp_path):
    frame = orders(12_000)
    train, test = write_split(frame, tmp_path, ".parquet")
    assert mlci("init", "--data", train, "--test", test, "--target", "returned", cwd=tmp_path).returncode == 0
    by_column: dict[str, dict[str, dict]] = {}
    for e in suite_of(tmp_path):
        by_column.setdefault(e["kwargs"].get("column", ""), {})[e["type"]] = e["kwargs"]
    amount = by_column["amount"]["expect_column_values_to_be_between"]
    # Not the exact extremes of the data: widened quantiles, most rows.
    assert amount["min_value"] == 0 and amount["max_value"] > frame["amount"].quantile(0.999)
    assert amount["max_value"] != frame["amount"].max() and amount["mostly"] == 0.99
    assert 0.9 <= by_column["amount"]["expect_column_values_to_not_be_null"]["mostly"] < 0.95
    assert by_column["segment"]["expect_column_values_to_be_in_set"]["value_set"] == ["a", "b", "c"]
    assert by_column["returned"]["expect_column_values_to_be_in_set"]["value_set"] == [0, 1]
    assert by_column["express"]["expect_column_values_to_be_in_set"]["value_set"] == [True, False]
    assert "expect_column_values_to_be_unique" in by_column["order_id"]
    assert "expect_column_values_to_be_unique" in by_column["email"]
    # Integers, ids and text get no value set; only categorical columns do.
    sets = {c for c, exps in by_column.items() if "expect_column_values_to_be_in_set" in exps}
    assert sets == {"segment", "returned", "express"}
    config = yaml.safe_load((tmp_path / "mlci.yaml").read_text())
    assert config["data"]["id"] == "order_id"
    assert config["data"]["features"] == ["ordered_at", "amount", "segment", "express", "review"]
    text = (tmp_path / "mlci.yaml").read_text()
    assert "column 'email' left out of the features" in text and "ordered_at become numbers" in text


def test_digits_pixels_are_ranges_not_sets(mlci, tmp_path):
    train, test = write_split(sklearn_frame("digits"), tmp_path, ".csv")
    assert mlci("init", "--data", train, "--test", test, cwd=tmp_path).returncode == 0
    sets = {e["kwargs"]["column"] for e in suite_of(tmp_path) if e["type"] == "expect_column_values_to_be_in_set"}
    assert sets == {"target"}
    config = yaml.safe_load((tmp_path / "mlci.yaml").read_text())
    assert config["model"]["task"] == "classification" and config["gates"][0]["metric"] == "roc_auc"


def test_init_writes_a_gitignore_and_a_registry_the_shipped_workflows_feed(mlci, tmp_path):
    (tmp_path / ".gitignore").write_text("*.pyc")
    train, test = write_split(sklearn_frame("wine"), tmp_path, ".csv")
    assert mlci("init", "--data", train, "--test", test, cwd=tmp_path).returncode == 0
    assert (tmp_path / ".gitignore").read_text().splitlines() == [
        "*.pyc",
        "# mlci: local registry and work files, report and comparison",
        ".mlci/",
        "report.md",
        "comparison.json",
    ]
    registry = yaml.safe_load((tmp_path / "mlci.yaml").read_text())["registry"]
    read = set(re.findall(r"\$\{([A-Za-z0-9_]+)", json.dumps(registry)))
    assert read == {"MLCI_REGISTRY", "MLCI_PUBLIC_REGISTRY", "S3_ENDPOINT_URL"}
    for workflow in sorted((ROOT / "workflows").glob("*.yml")):
        steps = [s for job in yaml.safe_load(workflow.read_text())["jobs"].values() for s in job["steps"]]
        # The failure step (command: error-status) reads no registry: it only sets the status.
        mlci_steps = [
            s
            for s in steps
            if str(s.get("uses", "")).startswith("mlci-dev/mlci") and s.get("with", {}).get("command") != "error-status"
        ]
        assert mlci_steps, workflow.name
        # Only the PR check runs for forks, so only it needs the public copy.
        needed = read if workflow.name == "pr-check.yml" else read - {"MLCI_PUBLIC_REGISTRY"}
        for step in mlci_steps:
            assert needed <= set(step.get("env", {})), f"{workflow.name} does not set {needed - set(step['env'])}"
    # A second init adds nothing to .gitignore.
    assert mlci("init", "--data", train, "--test", test, "--force", "-q", cwd=tmp_path).returncode == 0
    assert (tmp_path / ".gitignore").read_text().count(".mlci/") == 1


def test_regression_gets_a_relative_gate(mlci, tmp_path):
    train, test = write_split(sklearn_frame("diabetes"), tmp_path, ".csv")
    assert mlci("init", "--data", train, "--test", test, cwd=tmp_path).returncode == 0
    config = yaml.safe_load((tmp_path / "mlci.yaml").read_text())
    assert config["model"]["task"] == "regression"
    assert config["gates"] == [{"metric": "rmse", "relative_non_inferiority_margin": 0.02}]


def test_a_table_with_dates_and_text_checks_promotes_and_deploys(mlci, tmp_path):
    # Small enough to train three times quickly; the >10k-row tables are the init tests'.
    orders(4_000, seed=2).to_csv(tmp_path / "orders.csv", index=False)
    init = mlci("init", "--data", "orders.csv", "--target", "returned", cwd=tmp_path)
    assert init.returncode == 0, init.text
    # A datetime column: init splits by time and says so; the suite bounds the dates.
    assert "data.split.by: ordered_at" in init.stdout
    config = tmp_path / "mlci.yaml"
    assert yaml.safe_load(config.read_text())["data"]["split"] == {"by": "ordered_at", "test_size": 0.25}
    dates = [e for e in suite_of(tmp_path) if e["kwargs"].get("column") == "ordered_at"]
    assert {"expect_column_min_to_be_between", "expect_column_max_to_be_between"} <= {e["type"] for e in dates}
    from mlci.config.schema import load_config
    from mlci.data.tables import load_datasets

    datasets = load_datasets(load_config(config))
    train_at, test_at = (pd.to_datetime(d["ordered_at"]) for d in (datasets.train, datasets.test))
    assert len(test_at) == 1000 and test_at.min() > train_at.max()  # no future row in training
    config.write_text(config.read_text().replace("params: {}", "params: {max_iter: 20}"))
    first = mlci("check", cwd=tmp_path)
    assert first.returncode == 0, first.text
    assert "ordered_at become numbers" in first.stdout and "review are hashed" in first.stdout
    assert "Traceback" not in first.text and "Warning" not in first.stderr
    assert mlci("promote", "candidate", "--to", "production", cwd=tmp_path).returncode == 0
    config.write_text(config.read_text().replace("max_iter: 20", "max_iter: 40"))
    second = mlci("check", cwd=tmp_path)
    assert second.returncode in (0, 1), second.text  # a verdict, never bad input
    assert "roc_auc" in second.stdout and "->" in second.stdout  # compared with the loaded production model
    # The promoted version (its check passed); a failed candidate would be refused by design.
    deployed = mlci("deploy", "production", "--env", "staging", cwd=tmp_path)
    assert deployed.returncode == 0, deployed.text
    assert "smoke test passed" in deployed.stdout


def test_diabetes_equal_models_pass_the_scaffolded_gates_and_check_speaks_json_and_quietly(mlci, tmp_path):
    train, test = write_split(sklearn_frame("diabetes"), tmp_path, ".csv")
    assert mlci("init", "--data", train, "--test", test, "-q", cwd=tmp_path).returncode == 0
    config = tmp_path / "mlci.yaml"
    scaffolded = config.read_text()
    config.write_text(
        scaffolded.replace("sklearn.ensemble.HistGradientBoostingRegressor", "sklearn.linear_model.Ridge")
    )
    assert mlci("check", "-q", cwd=tmp_path).returncode == 0
    assert mlci("promote", "candidate", "--to", "production", "-q", cwd=tmp_path).returncode == 0
    config.write_text(
        scaffolded.replace("sklearn.ensemble.HistGradientBoostingRegressor", "sklearn.linear_model.BayesianRidge")
    )
    checked = mlci("check", "--json", cwd=tmp_path)
    assert checked.returncode == 0, checked.text
    document = json.loads(checked.stdout)
    assert document["comparison"]["verdict"]["status"] == "pass"
    quiet = mlci("check", "-q", cwd=tmp_path)
    assert quiet.returncode == 0
    assert len(quiet.stdout.splitlines()) == 1 and quiet.stdout.startswith("verdict: PASS - rmse ")
    # The gate's relative margin (2% of production's rmse) is the allowed change drawn in the chart.
    assert "║ allowed change (+" in (tmp_path / "report.md").read_text()


def test_a_semicolon_csv_is_read_and_init_and_validate_agree(mlci, tmp_path):
    frame = sklearn_frame("wine")
    frame["alcohol"] = frame["alcohol"].map(lambda v: f"{v:.2f}".replace(".", ","))
    frame.to_csv(tmp_path / "wine.csv", sep=";", index=False)
    init = mlci("init", "--data", "wine.csv", cwd=tmp_path)
    assert init.returncode == 0, init.text
    config = yaml.safe_load((tmp_path / "mlci.yaml").read_text())
    assert config["data"]["read_options"] == {"sep": ";", "decimal": ","}
    assert config["data"]["target"] == "target"
    assert mlci("validate", cwd=tmp_path).returncode == 0


def test_a_csv_read_as_one_column_names_its_separator(mlci, tmp_path):
    sklearn_frame("wine").to_csv(tmp_path / "wine.csv", sep=";", index=False)
    assert mlci("init", "--data", "wine.csv", "-q", cwd=tmp_path).returncode == 0
    config = tmp_path / "mlci.yaml"
    config.write_text(config.read_text().replace('read_options: {"sep": ";"}', "read_options: {sep: ','}"))
    run = mlci("validate", cwd=tmp_path)
    assert run.returncode == 2
    assert "wine.csv: read as one column 'alcohol;malic_acid;" in run.stderr
    assert "separator looks like ';'" in run.stderr and "data.read_options: {sep: ';'}" in run.stderr


def test_init_names_the_columns_when_the_target_is_unknown_or_unguessable(mlci, tmp_path):
    frame = orders(200)[["order_id", "amount", "returned", "review"]]
    frame.to_csv(tmp_path / "t.csv", index=False)
    unknown = mlci("init", "--data", "t.csv", "--target", "churn", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "--target 'churn': t.csv has no such column; its columns: order_id, amount, returned, review" in (
        unknown.stderr
    )
    unguessable = mlci("init", "--data", "t.csv", cwd=tmp_path)  # the last column is free text
    assert unguessable.returncode == 2
    assert "no column looks like the target; name it with --target COLUMN (columns: order_id, amount," in (
        unguessable.stderr
    )
    assert not (tmp_path / "mlci.yaml").exists()


def test_a_missing_target_value_is_named_as_data_not_blamed_on_the_model(mlci, tmp_path):
    train, test = write_split(sklearn_frame("wine"), tmp_path, ".csv")
    assert mlci("init", "--data", train, "--test", test, "-q", cwd=tmp_path).returncode == 0
    frame = pd.read_csv(tmp_path / train)
    frame.loc[[4, 9], "target"] = None
    frame.to_csv(tmp_path / train, index=False)
    run = mlci("train", cwd=tmp_path)
    assert run.returncode == 2
    assert f"{train}: target column 'target' is empty in 2 of {len(frame)} rows (data rows 5, 10)" in run.stderr
    assert "model.estimator" not in run.stderr


def test_the_report_says_what_changed_and_reads_cleanly(mlci, tmp_path):
    frame = sklearn_frame("breast_cancer")
    # A slice whose large tumours are all malignant (class 0): its roc_auc has no value.
    frame.insert(0, "size", pd.cut(frame["mean radius"], [0, 12, 17, 100], labels=["small", "medium", "large"]))
    frame.to_parquet(tmp_path / "cancer.parquet", index=False)
    assert mlci("init", "--data", "cancer.parquet", "-q", cwd=tmp_path).returncode == 0
    config = tmp_path / "mlci.yaml"
    text = config.read_text().replace(
        "sklearn.ensemble.HistGradientBoostingClassifier", "sklearn.linear_model.LogisticRegression"
    )
    config.write_text(text.replace("  # slices: [segment]", "  slices: [size]"))
    first = mlci("check", cwd=tmp_path)
    assert first.returncode == 0, first.text
    assert mlci("promote", "candidate", "--to", "production", "-q", cwd=tmp_path).returncode == 0
    config.write_text(config.read_text().replace("params: {}", "params: {C: 0.3}"))
    second = mlci("check", cwd=tmp_path)
    assert second.returncode in (0, 1), second.text
    assert "Warning" not in first.stderr + second.stderr and "Mean of empty slice" not in first.stderr + second.stderr
    report = (tmp_path / "report.md").read_text()
    # What changed: the params, not the estimator or the data.
    assert "### What changed" in report
    assert "| params.C | — | 0.3 |" in report
    assert "| estimator |" not in report and "| data.table |" not in report
    assert "Positive class: 1 (data.positive_class)" in report
    # Why a slice has no roc_auc, in words.
    large = int((frame["size"] == "large").sum())
    assert re.search(r"- — for size = large: no roc_auc, only one class \(0\) in these [\d,]+ rows\.", report), large
    # Grammar, the footer's split rule whole, one number format, a forest plot of the changes.
    assert "1 gate check:" in report and "1 gate checks" not in report
    assert "split rule test_size=0.25, seed=0, stratify=True" in report
    row = next(line for line in report.splitlines() if line.startswith("| **roc_auc**"))
    cells = [c.strip() for c in row.split("|")[2:5]]
    assert all(re.fullmatch(r"[+-]?\d+\.\d{4}( \([+-]\d+\.\d%\))?", c) for c in cells), cells
    chart = report.split("```text")[1].split("```")[0]
    assert "roc_auc: candidate − baseline, 95% interval" in chart and "│ no change" in chart
    # Overall and the two sizes with a value; the large tumours' slice has none to draw.
    plotted = [line for line in chart.splitlines() if re.search(r"[+-][\d.e-]+ (\[|\(no interval)", line)]
    assert len(plotted) == 3, chart
