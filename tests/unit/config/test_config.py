"""mlci.yaml: validation with line numbers, interpolation, the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlci.config.schema import interpolate, load_config
from mlci.errors import ConfigError

BROKEN = """\
version: 1
model:
  name: churn
  task: classification
  estimator: sklearn.linear_model.LogisticRegression
data:
  train: data/train.csv
  test: data/test.csv
  colour: blue
metrics:
  primary: roc_auc
gates:
  - metric: acuracy
    threshold: 0.8
"""


def test_example_config_is_valid(project):
    run = project.run("config", "check")
    assert run.returncode == 0, run.text
    assert "valid" in run.stdout


def test_three_problems_give_three_lines_with_line_and_field(project):
    (project / "bad.yaml").write_text(BROKEN)
    run = project.run("-c", "bad.yaml", "config", "check")
    assert run.returncode == 2
    assert "Traceback" not in run.text
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert sorted(lines) == [
        "bad.yaml:13 gates[0].metric: unknown metric 'acuracy' (did you mean 'accuracy'?)",
        "bad.yaml:6 data.target: required field is missing",
        "bad.yaml:9 data: unknown key 'colour'",
    ]


def test_verbose_shows_the_traceback(project):
    (project / "bad.yaml").write_text(BROKEN)
    run = project.run("-v", "-c", "bad.yaml", "config", "check")
    assert run.returncode == 2
    assert "Traceback" in run.stderr


def test_invalid_yaml_names_the_line(tmp_path: Path):
    path = tmp_path / "mlci.yaml"
    path.write_text("model:\n  name: [unclosed\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert f"{path}:" in str(e.value) and "invalid YAML" in str(e.value)


def test_metric_of_the_wrong_task_is_named(tmp_path: Path):
    path = tmp_path / "mlci.yaml"
    path.write_text(BROKEN.replace("  colour: blue\n", "  target: y\n").replace("acuracy", "rmse"))
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.problems == [
        f"{path}:13 gates[0].metric: metric 'rmse' is for regression, but model.task is classification"
    ]


def test_interpolation_of_environment_variables():
    env = {"BUCKET": "models", "EMPTY": ""}
    assert interpolate("s3://${BUCKET}/x", env) == "s3://models/x"
    assert interpolate("${MISSING:-fallback}", env) == "fallback"
    assert interpolate("${EMPTY:-fallback}", env) == "fallback"
    with pytest.raises(KeyError):
        interpolate("${MISSING}", env)


def test_config_interpolates_and_reports_unset_variables(project):
    text = (project / "mlci.yaml").read_text()
    (project / "a.yaml").write_text(text.replace("${MLCI_REGISTRY:-.mlci/registry}", "s3://${BUCKET}/reg"))
    config = load_config(project / "a.yaml", env={"BUCKET": "models"})
    assert config.registry.uri == "s3://models/reg"
    with pytest.raises(ConfigError) as e:
        load_config(project / "a.yaml", env={})
    assert "registry.uri: environment variable BUCKET is not set" in e.value.problems[0]


def test_relative_paths_resolve_against_the_config_file(project):
    config = load_config(project / "mlci.yaml", env={})
    assert config.locate("data/train.csv") == str(project / "data" / "train.csv")
    assert config.locate("s3://b/k.csv") == "s3://b/k.csv"


def test_schema_command_prints_a_json_schema(mlci, tmp_path):
    run = mlci("config", "schema", cwd=tmp_path)
    assert run.returncode == 0
    schema = json.loads(run.stdout)
    assert schema["title"] == "mlci.yaml"
    assert {"model", "data", "metrics", "gates", "registry"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
