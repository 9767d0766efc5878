"""The scheduled retrain against the GitHub API server: it promotes passing candidates and keeps one tracking issue."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from tests.support.churn_data import drifted
from tests.support.cli import mlci_env
from tests.support.project import ProjectCopy

pytestmark = pytest.mark.slow

# A model that ignores its features: the gates must stop it whatever the data looks like.
BAD = ("sklearn.dummy.DummyClassifier", {"strategy": "prior"})


@pytest.fixture
def deployed(project: ProjectCopy) -> ProjectCopy:
    """The example with its model checked and deployed to production (built once a session, copied here)."""
    return project.with_production()


def test_retrain_promotes_only_passing_candidates_and_keeps_one_issue(deployed, github_server, tmp_path):
    today = datetime.now(timezone.utc).date().isoformat()
    (deployed / "fresh").mkdir()
    drifted(deployed).to_csv(deployed / "fresh" / f"{today}.csv", index=False)
    deployed.with_retrain(data="fresh/{date}.csv", promote="staging")
    env = mlci_env(**github_server.env(), GITHUB_ACTIONS="true", GITHUB_RUN_ID="5", GITHUB_OUTPUT=str(tmp_path / "out"))
    (tmp_path / "out").touch()

    first = deployed.run("retrain", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "verdict: PASS" in first.stdout and "promoted: staging" in first.stdout
    history = json.loads(deployed.run("--json", "history").stdout)
    aliases = {a["alias"]: a["version"] for a in history["aliases"]}
    assert aliases["staging"] == aliases[f"retrain-{today}"] != aliases["production"]
    (issue,) = github_server.issues()
    assert [label["name"] for label in issue["labels"]] == ["mlci"]
    assert "<!-- mlci:retrain:churn -->" in issue["body"] and "drift: **fail**" in issue["body"]
    assert github_server.comments(issue["number"]) == []
    outputs = (tmp_path / "out").read_text()
    assert re.search(r"verdict<<\S+\npass\n", outputs) and re.search(r"drift<<\S+\nfail\n", outputs)

    again = deployed.run("retrain", env=env)
    assert again.returncode == 0, again.stderr
    assert "tracking issue unchanged" in again.stdout
    assert len(github_server.issues()) == 1 and github_server.comments(issue["number"]) == []

    deployed.with_estimator(*BAD)
    worse = deployed.run("retrain", env=env)
    assert worse.returncode == 0, worse.stderr
    assert "verdict: FAIL" in worse.stdout and "not promoting to staging" in worse.stdout
    history = json.loads(deployed.run("--json", "history").stdout)
    assert {a["alias"]: a["version"] for a in history["aliases"]}["staging"] == aliases["staging"]
    (issue,) = github_server.issues()
    (comment,) = github_server.comments(issue["number"])
    assert "verdict **fail**" in comment["body"] and "/actions/runs/5" in comment["body"]


def test_a_github_error_on_the_tracking_issue_keeps_outputs_report_and_summary(deployed, github_server, tmp_path):
    today = datetime.now(timezone.utc).date().isoformat()
    (deployed / "fresh").mkdir()
    drifted(deployed).to_csv(deployed / "fresh" / f"{today}.csv", index=False)
    deployed.with_retrain(data="fresh/{date}.csv", promote="staging")
    # A workflow that grants `issues: read` instead of write: GitHub refuses the tracking issue.
    token = "ghs_no_issues"
    github_server.add_token(
        token, "github-actions[bot]", type="Bot", installation=True, permissions={"contents": "read", "issues": "read"}
    )
    out, summary = tmp_path / "out", tmp_path / "summary.md"
    out.touch()
    env = mlci_env(
        **github_server.env(token), GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(out), GITHUB_STEP_SUMMARY=str(summary)
    )
    # The real entry point, as the scheduled job's step runs it: exit 4, yet outputs and summary written.
    result = deployed.process("retrain", env=env)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "could not update the tracking issue (the token lacks `issues: write" in result.stderr
    assert "promoted: staging" in result.stderr
    assert re.search(r"verdict<<\S+\npass\n", out.read_text()) and re.search(r"version<<\S+\n\w{16}\n", out.read_text())
    assert "mlci · churn" in summary.read_text() and (deployed / "report.md").exists()
    assert github_server.issues() == []
