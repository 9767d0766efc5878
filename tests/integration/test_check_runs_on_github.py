"""The check run `mlci/<model>`: the report's summary and its failures annotated where they are written.

Against the GitHub API test server (GitHub's vendored description of POST/PATCH check-runs, its
`checks` permission per token), through `mlci report --post` on a document built here: the
report path is the check's own (mlci.report.reporters.show), without the seconds a training takes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlci.config.schema import load_config
from mlci.contracts.comparison import Comparison, MetricResult
from mlci.contracts.document import report_document
from mlci.contracts.validation import ExpectationFailure, ValidationResult
from mlci.github.client import CheckAnnotation, GitHubClient
from mlci.github.context import GitHubContext
from mlci.stats.gates import apply_gates
from tests.support.actions import actions_env, open_pull_request
from tests.support.github_server import GitHubServer
from tests.support.project import ProjectCopy


def line_of(path: Path, fragment: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def failing_document(project: ProjectCopy) -> tuple[Path, int]:
    """Write a failing comparison.json (roc_auc fell; one email expectation broke); return it and the expectation's line."""
    config = load_config(project.config_path)
    suite = project / "expectations" / "churn.json"
    expectation_line = line_of(suite, "expect_column_values_to_match_regex")
    roc = MetricResult("roc_auc", True, 0.80, 0.62, -0.18, -0.225, -0.21, -0.15, 0.0001, "delong")
    loss = MetricResult("log_loss", False, 0.45, 0.45, 0.0, 0.0, -0.01, 0.01, 0.9, "paired-t")
    verdict = apply_gates(
        [roc, loss], [], config.gates, confidence=0.95, has_baseline=True, primary="roc_auc", n_rows=500
    )
    comparison = Comparison("binary", "roc_auc", 500, 0.95, [roc, loss], [], verdict)
    failure = ExpectationFailure(
        4, "expect_column_values_to_match_regex", "email", {}, None, 19, 3.8, ["not an email"], expectation_line
    )
    validation = ValidationResult(str(suite), "churn", "data/test.csv", 500, 15, 1, [failure])
    document = report_document(
        model="churn",
        comparison=comparison,
        validation=[validation],
        candidate=None,
        baseline=None,
        data=None,
        ctx=GitHubContext(),
    )
    path = project / "comparison.json"
    path.write_text(document.to_json())
    return path, expectation_line


def test_a_failing_report_makes_one_check_run_annotated_on_the_suite_and_the_gate_lines(
    project, tmp_path, github_server
):
    path, expectation_line = failing_document(project)
    event = tmp_path / "event.json"
    head = open_pull_request(event, github_server)["pull_request"]["head"]["sha"]
    # The checkout is the repository; the project is its churn/ folder: paths start at the checkout.
    env = {**actions_env(tmp_path, github_server, event), "GITHUB_WORKSPACE": str(project.path.parent)}
    result = project.run("report", "--input", path.name, "--post", env=env)
    assert result.returncode == 0, result.text

    (run,) = github_server.check_runs(head)
    assert run["name"] == "mlci/churn" and run["status"] == "completed" and run["conclusion"] == "failure"
    assert run["output"]["title"].startswith("FAIL: ") and "roc_auc" in run["output"]["title"]
    assert run["output"]["summary"].startswith("<!-- mlci:churn -->") and "roc_auc" in run["output"]["summary"]
    assert run["details_url"].endswith("/actions/runs/777")
    placed = {(a["path"], a["start_line"], a["annotation_level"]) for a in run["annotations"]}
    config = project.config_path
    assert ("churn/expectations/churn.json", expectation_line, "failure") in placed
    # The failing gates, each on its own `- metric:` line of mlci.yaml: threshold, margin and slice gate.
    gate_lines = [i for i, line in enumerate(config.read_text().splitlines(), 1) if "- metric: roc_auc" in line]
    assert len(gate_lines) == 3
    assert {("churn/mlci.yaml", line, "failure") for line in gate_lines} <= placed
    assert ("churn/mlci.yaml", line_of(config, "- metric: log_loss"), "failure") not in placed  # it passed
    (status,) = github_server.statuses(head)  # the status is posted too: required checks may name it
    assert status["context"] == "mlci/churn" and status["state"] == "failure"
    assert f"check run: {run['html_url']}" in result.stdout


@pytest.mark.parametrize("kind", ["no checks permission", "personal token"])
def test_a_token_that_may_not_create_check_runs_falls_back_to_the_status_with_one_notice(
    project, tmp_path, github_server, kind
):
    path, _ = failing_document(project)
    event = tmp_path / "event.json"
    head = open_pull_request(event, github_server)["pull_request"]["head"]["sha"]
    token = github_server.user_token
    if kind == "no checks permission":
        token = "ghs_without_checks"
        github_server.add_token(
            token,
            "github-actions[bot]",
            type="Bot",
            installation=True,
            permissions={"pull-requests": "write", "statuses": "write"},
        )
    result = project.run(
        "report", "--input", path.name, "--post", env=actions_env(tmp_path, github_server, event, token)
    )
    assert result.returncode == 0, result.text
    assert github_server.check_runs() == []
    (refused,) = github_server.requests_for("POST", "/check-runs")
    assert refused.status == 403
    (status,) = github_server.statuses(head)
    assert status["state"] == "failure"
    notices = [line for line in result.text.splitlines() if "no check run" in line]
    why = "`checks: write`" if kind == "no checks permission" else "only a GitHub App may"
    assert len(notices) == 1 and why in notices[0] and "the commit status carries the verdict" in notices[0]
    assert "::warning" not in notices[0] and "::error" not in result.text


def test_more_than_50_annotations_are_sent_50_a_request(github_server: GitHubServer):
    sha = "c" * 40
    github_server.add_commit(sha)
    notes = [CheckAnnotation("mlci.yaml", i + 1, f"gate {i} failed") for i in range(120)]
    with GitHubClient(github_server.url, github_server.token, github_server.repository) as client:
        run = client.report_check_run(sha, "mlci/churn", "failure", "FAIL: many", "summary", notes)
    (stored,) = github_server.check_runs(sha)
    assert stored["id"] == run.id and stored["conclusion"] == "failure"
    assert [a["start_line"] for a in stored["annotations"]] == list(range(1, 121))
    sent = github_server.requests_for("POST", "/check-runs") + github_server.requests_for("PATCH", "/check-runs/")
    assert [len(r.body["output"]["annotations"]) for r in sent] == [50, 50, 20]
    # Each PATCH repeats the output's title and summary (GitHub requires both with annotations).
    assert all(r.body["output"]["summary"] == "summary" for r in sent)


def test_the_server_refuses_check_runs_as_github_does(github_server: GitHubServer):
    sha = "d" * 40
    github_server.add_commit(sha)
    token = "ghs_statuses_only"
    github_server.add_token(
        token, "github-actions[bot]", type="Bot", installation=True, permissions={"statuses": "write"}
    )
    body = {"name": "mlci/churn", "head_sha": sha, "status": "completed", "conclusion": "success"}
    with GitHubClient(github_server.url, token, github_server.repository, retries=0) as client:
        from mlci.errors import ReadOnlyToken

        with pytest.raises(ReadOnlyToken) as refused:
            client.report_check_run(sha, "mlci/churn", "success", "t", "s")
    assert refused.value.permission == "checks: write"
    too_many = {
        **body,
        "output": {
            "title": "t",
            "summary": "s",
            "annotations": [
                {"path": "a", "start_line": 1, "end_line": 1, "annotation_level": "failure", "message": "m"}
            ]
            * 51,
        },
    }
    with GitHubClient(github_server.url, github_server.token, github_server.repository, retries=0) as client:
        from mlci.errors import GitHubError

        with pytest.raises(GitHubError) as invalid:
            client._request("POST", f"/repos/{github_server.repository}/check-runs", json_body=too_many)
    assert invalid.value.status == 422
    assert any("annotations" in v for v in github_server.take_violations())
    assert json.dumps(github_server.check_runs()) == "[]"
