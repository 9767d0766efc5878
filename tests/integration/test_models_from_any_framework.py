"""Models mlci does not fit itself — a `command` that trains in numpy and writes ONNX, `file:` models from
skl2onnx and onnxmltools — go through the whole lifecycle like the ones it fits.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.support.frameworks import FEATURES, lightgbm_onnx, skl2onnx_pipeline, tiny_project
from tests.support.project import ProjectCopy


def _manifest(project: ProjectCopy, version: str) -> dict[str, object]:
    return dict(json.loads((project.registry / "versions" / version / "manifest.json").read_text()))


@pytest.mark.slow
def test_an_onnx_model_from_a_command_and_from_files_goes_check_promote_check_deploy_rollback_drift(
    tmp_path: Path,
) -> None:
    project = tiny_project(tmp_path / "repo")
    registry = project.registry

    # check (bootstrap): the command's MLP is trained, scored by onnxruntime in the contained process
    first = project.run("--json", "check")
    assert first.returncode == 0, first.text
    assert "trained 6 hidden units" in first.stderr  # the command's stdout streams to the log
    document = json.loads(first.stdout)
    assert document["verdict"] == "bootstrap"
    assert document["candidate"]["format"] == "onnx"
    assert document["candidate"]["scored_by"].endswith("(CPUExecutionProvider)")
    v1 = document["candidate"]["version"]
    model = registry / "versions" / v1 / "model.onnx"
    assert hashlib.sha256(model.read_bytes()).hexdigest()[:16] == v1  # the version id is model.onnx's sha256
    manifest = _manifest(project, v1)
    assert manifest["model_format"] == "onnx" and manifest["command"] == "python train.py"
    assert manifest["classes"] == [0, 1]  # the sorted training labels: the model names none

    assert project.run("promote", "candidate", "--to", "production").returncode == 0

    # changed params: a new candidate, compared with production on paired statistics
    project.with_("model.params", {"hidden": 4, "epochs": 40})
    second = project.run("--json", "check")
    assert second.returncode == 0, second.text
    document = json.loads(second.stdout)
    v2 = document["candidate"]["version"]
    assert v2 != v1 and document["baseline"]["version"] == v1
    auc = next(m for m in document["comparison"]["metrics"] if m["name"] == "roc_auc")
    assert auc["p_value"] is not None and auc["ci_low"] < auc["delta"] < auc["ci_high"]
    assert "onnx, scored by onnxruntime" in (project.path / "report.md").read_text()
    # permutation importance runs through the same contained onnxruntime scoring, for both models:
    # the MLP reads f1 and f3 most (the table's label is f1 + 0.5 f2 - f3 + noise)
    importance = document["importance"]
    assert importance is not None and importance["baseline"] is not None, document.get("importance")
    assert {f["feature"] for f in importance["candidate"]} <= set(FEATURES)
    assert importance["candidate"][0]["feature"] in ("f1", "f3") and importance["candidate"][0]["ci_low"] > 0
    assert importance["changes"], importance

    # an unchanged PR does not retrain: the train cache covers the command's code, params and data
    again = project.run("check")
    assert again.returncode == 0 and "train cache hit" in again.text and "hidden units" not in again.text

    deployed = project.run("deploy", "candidate", "--env", "production")
    assert deployed.returncode == 0 and "smoke test passed" in deployed.text, deployed.text
    assert project.alias("production") == v2
    rolled = project.run("rollback", "--env", "production")
    assert rolled.returncode == 0 and "smoke test passed" in rolled.text, rolled.text
    assert project.alias("production") == v1
    drift = project.run("--json", "drift", "--current", "test.csv")
    assert drift.returncode == 0, drift.text
    assert "prediction" in {f["feature"] for f in json.loads(drift.stdout)["features"]}

    # file: a scikit-learn pipeline with a string column, converted by skl2onnx elsewhere, is checked
    # against production (the MLP) and promoted
    features = skl2onnx_pipeline(project.path / "pipeline.onnx")
    edited = project.without("model.command").with_("model.file", "pipeline.onnx").with_("data.features", features)
    brought = edited.run("--json", "check")
    assert brought.returncode == 0, brought.text
    document = json.loads(brought.stdout)
    assert document["baseline"]["version"] == v1 and document["verdict"] == "pass"
    v3 = document["candidate"]["version"]
    assert hashlib.sha256((project.path / "pipeline.onnx").read_bytes()).hexdigest()[:16] == v3
    assert project.run("promote", "candidate", "--to", "production").returncode == 0
    assert project.alias("production") == v3

    # an onnxmltools LightGBM (one 2-D input, probabilities as a ZipMap) checks too
    lightgbm_onnx(project.path / "lightgbm.onnx")
    project.with_("model.file", "lightgbm.onnx").with_("data.features", ["f1", "f2", "f3", "f4"])
    boosted = project.run("--json", "check")
    assert boosted.returncode == 0, boosted.text
    assert json.loads(boosted.stdout)["baseline"]["version"] == v3
