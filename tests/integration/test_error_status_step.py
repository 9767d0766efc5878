"""The failure step of pr-check.yml: a job that died before mlci reported leaves mlci/<model> at error.

scripts/error_status.py runs from an `if: failure() || cancelled()` step with Python's standard
library only (mlci may never have been installed); here it runs in this process against the
GitHub API server, with the environment the action gives it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from tests.support.actions import open_pull_request
from tests.support.github_server import GitHubServer
from tests.support.paths import EXAMPLE, ROOT


def error_status() -> ModuleType:
    spec = importlib.util.spec_from_file_location("error_status", ROOT / "scripts" / "error_status.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_job_that_failed_in_the_aws_step_leaves_error_with_the_reason(tmp_path: Path, github_server: GitHubServer):
    event = tmp_path / "event.json"
    head = open_pull_request(event, github_server)["pull_request"]["head"]["sha"]
    env = {
        **github_server.env(),
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_SHA": "0" * 40,  # the test merge commit: the status belongs on the PR's head
        "GITHUB_RUN_ID": "777",
        "MLCI_CONFIG": str(EXAMPLE / "mlci.yaml"),
        "MLCI_REASON": "aws=failure mlci=skipped job=failure",
    }
    line = error_status().main(env)
    (status,) = github_server.statuses(head)
    assert status["context"] == "mlci/churn" and status["state"] == "error"
    assert status["description"] == "the AWS credentials step failed before mlci reported; see the run's log"
    assert status["target_url"].endswith("/actions/runs/777")
    assert line.startswith("mlci: mlci/churn set to error") and github_server.token not in line


def test_a_cancelled_run_says_so_and_a_merge_queue_reports_on_its_head(tmp_path: Path, github_server: GitHubServer):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"merge_group": {"head_sha": "c" * 40}}))
    github_server.add_commit("c" * 40, "Merge queue head")
    env = {**github_server.env(), "GITHUB_EVENT_PATH": str(event), "MLCI_CONFIG": str(EXAMPLE / "mlci.yaml")}
    error_status().main({**env, "MLCI_REASON": "aws=success mlci=cancelled job=cancelled"})
    (status,) = github_server.statuses("c" * 40)
    assert "cancelled" in status["description"]


def test_the_model_name_is_read_without_a_yaml_library(tmp_path: Path):
    read = error_status().model_name
    assert read(EXAMPLE / "mlci.yaml") == "churn"
    config = tmp_path / "mlci.yaml"
    config.write_text("version: 1\nmodel:\n  estimator: x\n  params:\n    name: inner\n  name: 'outer'  # here\n")
    assert read(config) == "outer"
    config.write_text("model: {name: flat, estimator: x}\n")
    assert read(config) == "flat"
    assert read(tmp_path / "missing.yaml") is None
