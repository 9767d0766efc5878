"""Models mlci does not fit itself — a `command` that trains in numpy and writes ONNX, `file:` models from
skl2onnx and onnxmltools — go through the whole lifecycle like the ones it fits.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.support.actions import write_pr_event
from tests.support.frameworks import FEATURES, lightgbm_onnx, skl2onnx_pipeline, tiny_project
from tests.support.project import ProjectCopy
from tests.support.signing import KEY_POLICY, with_keys


def _manifest(project: ProjectCopy, version: str) -> dict[str, object]:
    return dict(json.loads((project.registry / "versions" / version / "manifest.json").read_text()))


@pytest.mark.slow
def test_an_onnx_model_from_a_command_and_from_files_goes_check_promote_check_deploy_rollback_drift(
    tmp_path: Path, signing_keys: Path
) -> None:
    project = tiny_project(tmp_path / "repo")
    registry = project.registry
    # Every version is signed (a team key) and carries an ML-BOM, as with the skops format.
    with_keys(project, signing_keys, KEY_POLICY)
    project.env = project.env_with(MLCI_SIGNING_KEY=str(project / "keys" / "team.pem"))

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

    # changed params: a new candidate (PR 7's check), compared with production on paired statistics
    project.with_("model.params", {"hidden": 4, "epochs": 40})
    pr = project.env_with(
        GITHUB_EVENT_NAME="pull_request", GITHUB_EVENT_PATH=str(write_pr_event(tmp_path, 7, "7" * 40))
    )
    second = project.run("--json", "check", env=pr)
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
    again = project.run("check", env=pr)
    assert again.returncode == 0 and "train cache hit" in again.text and "hidden units" not in again.text

    # the merge job's promote --from-pr re-evaluates PR 7's ONNX candidate against production in its own job
    merged = project.run("promote", "--from-pr", "7", "--to", "production")
    assert f"re-evaluated {v2} against production {v1} in this job: pass" in merged.stdout, merged.text
    # outside Actions there is no GitHub record of PR 7 for the signature policy to compare with
    assert merged.returncode == 1 and "GitHub's record of PR #7 was not available" in merged.text
    assert project.alias("production") == v1
    # the signature and the ML-BOM cover model.onnx; an altered model.onnx is refused before it ships
    verified = project.run("verify", v2)
    assert verified.returncode == 0, verified.text
    bom = json.loads(next((registry / "versions" / v2 / "signatures").glob("*/bom.cdx.json")).read_text())
    onnx_hash = hashlib.sha256((registry / "versions" / v2 / "model.onnx").read_bytes()).hexdigest()
    assert onnx_hash in json.dumps(bom) and "model.onnx" in json.dumps(bom)

    deployed = project.run("deploy", v2, "--env", "production")
    assert deployed.returncode == 0 and "smoke test passed" in deployed.text, deployed.text
    assert project.alias("production") == v2
    rolled = project.run("rollback", "--env", "production")
    assert rolled.returncode == 0 and "smoke test passed" in rolled.text, rolled.text
    assert project.alias("production") == v1
    drift = project.run("--json", "drift", "--current", "test.csv")
    assert drift.returncode == 0, drift.text
    assert "prediction" in {f["feature"] for f in json.loads(drift.stdout)["features"]}
    stored = registry / "versions" / v2 / "model.onnx"
    stored.write_bytes(stored.read_bytes() + b"\x00")
    tampered = project.run("deploy", v2, "--env", "production")
    assert tampered.returncode != 0 and "model.onnx" in tampered.text, tampered.text
    assert project.alias("production") == v1

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
