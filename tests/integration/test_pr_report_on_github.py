"""Reports reaching GitHub from the CLI: against the GitHub API server on 127.0.0.1."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from tests.support.actions import actions_env, open_pull_request, read_github_output
from tests.support.cli import mlci_env
from tests.support.paths import ROOT

HOSTILE_COLUMN = "@org/team <img src=x> | x"
HOSTILE_VALUE = "```\nrm -rf / `id`"


def test_check_in_a_pull_request_posts_comment_status_and_outputs(project, tmp_path, github_server):
    event = tmp_path / "event.json"
    open_pull_request(event, github_server)
    env = actions_env(tmp_path, github_server, event)
    # The real entry point: in a fresh process the mask is the first line, before any lazy import can print.
    result = project.process("check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr

    (comment,) = github_server.comments(42)
    assert comment["body"].startswith("<!-- mlci:churn -->")
    assert "roc_auc" in comment["body"]
    head = json.loads(event.read_text())["pull_request"]["head"]["sha"]
    status, pending = github_server.statuses(head)  # newest first: the check went pending as it started
    assert pending["state"] == "pending" and pending["context"] == status["context"]
    assert status["context"] == "mlci/churn" and status["state"] == "success"
    assert status["target_url"].endswith("/actions/runs/777") and len(status["description"]) <= 140
    outputs = read_github_output((tmp_path / "output.txt").read_text())
    assert outputs["verdict"] == "bootstrap"
    assert outputs["comment-url"] == comment["html_url"]
    assert Path(outputs["report-path"]).exists()
    assert re.fullmatch(r"[0-9a-f]{16}", outputs["version"])
    assert "mlci · churn" in (tmp_path / "summary.md").read_text()
    # The candidate is stored under the PR's alias.
    alias = json.loads((project / ".mlci/registry/churn/aliases/pr-42.json").read_text())
    assert alias["version"] == outputs["version"]
    # Its manifest names the PR's head commit, and GitHub's temporary merge commit beside it.
    manifest = json.loads((project / f".mlci/registry/churn/versions/{alias['version']}/manifest.json").read_text())
    assert manifest["git_sha"] == head and manifest["git_merge_sha"] == "0" * 40
    # The token never reaches the output; the mask command is the only line that carries it.
    printed = result.stdout + result.stderr
    assert printed.startswith(f"::add-mask::{github_server.token}\n")
    assert printed.count(github_server.token) == 1


def break_emails(project: Path, rows: int = 19) -> None:
    """Make `rows` test rows break the suite's email expectation; email is no feature, so the model is unchanged."""
    path = project / "data" / "test.csv"
    frame = pd.read_csv(path)
    frame.loc[: rows - 1, "email"] = "not an email"
    frame.to_csv(path, index=False)


def test_failing_data_stops_the_check_and_fails_everywhere_naming_data_validation(project, tmp_path, github_server):
    # Validation runs beside training: a broken critical expectation stops the fit,
    # so no candidate is evaluated or stored; the document still says why, everywhere.
    break_emails(project)
    event = tmp_path / "event.json"
    open_pull_request(event, github_server)
    env = actions_env(tmp_path, github_server, event)
    # A fresh process: it validates in the worker, beside the fit it must stop (a process that has
    # imported GX already, as this test session may have, validates before the fit instead).
    result = project.process("check", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    doc = json.loads((project / "comparison.json").read_text())
    assert doc["verdict"] == "fail" and doc["comparison"] is None and doc["candidate"] is None
    assert [(s["name"], s["status"]) for s in doc["stages"]] == [
        ("data validation", "fail"),
        ("training", "skipped"),
        ("gates", "skipped"),
    ]
    headline = "data validation failed: 1 of 15 expectations on data/test.csv"
    assert doc["headline"].startswith(headline)
    # The terminal lines: the verdict, and the failed expectation
    assert f"verdict: FAIL - {headline}" in result.stdout
    assert "the data broke its expectations" in result.stderr
    # report.md's first heading, and the posted comment
    report = (project / "report.md").read_text()
    assert report.splitlines()[1] == "## ❌ mlci · churn: failed: data validation"
    (comment,) = github_server.comments(42)
    assert comment["body"].splitlines()[1] == "## ❌ mlci · churn: failed: data validation"
    assert f"**{headline}" in comment["body"]
    assert "## ❌ mlci · churn: failed: data validation" in (tmp_path / "summary.md").read_text()
    # The commit status and the step's outputs
    head = json.loads(event.read_text())["pull_request"]["head"]["sha"]
    status, pending = github_server.statuses(head)  # newest first: the check went pending as it started
    assert pending["state"] == "pending" and pending["context"] == status["context"]
    assert status["state"] == "failure" and status["description"].startswith("data validation failed")
    assert read_github_output((tmp_path / "output.txt").read_text())["verdict"] == "fail"
    # No version was stored; the PR's check event says it failed, and in which stage.
    events = [json.loads(p.read_text()) for p in sorted((project / ".mlci/registry/churn/events").rglob("*.json"))]
    (event,) = [e for e in events if e["action"] == "check"]
    assert event["alias"] == "pr-42" and event["version"] is None
    assert event["extra"]["verdict"] == "fail" and event["extra"]["failed_stages"] == ["data validation"]
    assert not (project / ".mlci/registry/churn/aliases/pr-42.json").exists()
    # After the merge, promote refuses and names what failed.
    promote = project.run("promote", "--from-pr", "42", "--to", "staging", env=mlci_env())
    assert promote.returncode == 1, promote.stdout + promote.stderr
    assert f"PR #42 has no candidate to promote: its last check failed ({headline}" in promote.stderr
    # comparison.json validates against its published schema.
    from jsonschema import Draft202012Validator

    schema = json.loads((ROOT / "docs" / "comparison.schema.json").read_text())
    Draft202012Validator(schema).validate(doc)


def test_a_second_report_edits_the_same_comment(project, tmp_path, github_server):
    event = tmp_path / "event.json"
    open_pull_request(event, github_server)
    env = actions_env(tmp_path, github_server, event)
    assert project.run("check", env=env).returncode == 0
    project.with_("model.params.learning_rate", 0.1)
    second = project.run("check", env=env)
    assert second.returncode == 0, second.stderr
    assert "PR comment updated" in second.stdout
    assert len(github_server.requests_for("POST", "/issues/42/comments")) == 1
    assert len(github_server.requests_for("PATCH", "/issues/comments/")) == 1
    (comment,) = github_server.comments(42)
    assert comment["body"].startswith("<!-- mlci:churn -->")


def test_a_fork_token_warns_and_falls_back_to_the_step_summary(project, tmp_path, github_server):
    event = tmp_path / "event.json"
    open_pull_request(event, github_server)
    env = actions_env(tmp_path, github_server, event, token=github_server.readonly_token)
    result = project.run("check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "::warning title=mlci::" in result.stdout and "read-only" in result.stdout
    assert github_server.comments(42) == []
    assert "mlci · churn" in (tmp_path / "summary.md").read_text()
    assert github_server.readonly_token not in result.stdout.split("\n", 1)[1] + result.stderr


def test_hostile_names_in_data_and_event_render_harmlessly(project, tmp_path, github_server):
    for name in ("train", "test"):
        path = project / "data" / f"{name}.csv"
        frame = pd.read_csv(path).rename(columns={"region": HOSTILE_COLUMN})
        frame.loc[frame[HOSTILE_COLUMN] == "west", HOSTILE_COLUMN] = HOSTILE_VALUE
        frame.to_csv(path, index=False)
    data = project.config["data"]
    project.with_("data.slices", [HOSTILE_COLUMN if c == "region" else c for c in data["slices"]])
    project.with_("data.features", [HOSTILE_COLUMN if c == "region" else c for c in data["features"]])
    project.without("expectations")
    event = tmp_path / "event.json"
    open_pull_request(event, github_server, title="@org/team <script>x</script> | `pwn`")
    result = project.run("check", env=actions_env(tmp_path, github_server, event))
    assert result.returncode == 0, result.stdout + result.stderr
    (comment,) = github_server.comments(42)
    body = comment["body"]
    assert HOSTILE_COLUMN not in body and "@org/team" not in body
    assert "<img" not in body and "<script" not in body
    # Only the mermaid block opens a fence, and every fence closes.
    fences = [line for line in body.splitlines() if line.lstrip().startswith("```")]
    assert len(fences) % 2 == 0 and all(f.strip() in ("```mermaid", "```") for f in fences)
    # Table rows keep their column count.
    for table in re.findall(r"(?:^\|.*\|$\n?)+", body, flags=re.M):
        rows = table.strip().splitlines()
        widths = {len(re.findall(r"(?<!\\)\|", r)) for r in rows}
        assert len(widths) == 1, rows


def test_a_report_with_5000_slices_is_cut_under_the_comment_limit(project, tmp_path, github_server):
    import numpy as np

    from mlci.config.schema import load_config
    from mlci.contracts.document import CandidateRef, report_document
    from mlci.github.context import GitHubContext
    from mlci.stats.comparison import compare
    from mlci.stats.evaluation import Predictions

    config = load_config(project / "mlci.yaml", env={})
    rng = np.random.default_rng(3)
    n = 20000
    y = rng.integers(0, 2, n)
    p_base = np.clip(y * 0.3 + rng.uniform(0, 0.7, n), 0, 1)
    p_cand = np.clip(y * 0.35 + rng.uniform(0, 0.65, n), 0, 1)
    preds = [Predictions(labels=(p > 0.5).astype(int), proba=np.c_[1 - p, p], classes=[0, 1]) for p in (p_cand, p_base)]
    segment = np.array([f"segment-{i:05d}-with-a-long-descriptive-name" for i in rng.integers(0, 5000, n)])
    comparison = compare(
        y, preds[0], preds[1], task="classification", metrics=["roc_auc", "accuracy"], primary="roc_auc",
        gates=config.gates, statistics=config.metrics.statistics, slices={"segment": segment},
    )  # fmt: skip
    assert len(comparison.slices) >= 4900
    doc = report_document(
        model="churn",
        comparison=comparison,
        validation=[],
        candidate=CandidateRef(version="ab12ab12ab12ab12", alias="pr-42", uri="file:///registry/churn"),
        baseline=None,
        data=None,
        ctx=GitHubContext(),
    )
    (project / "comparison.json").write_text(doc.to_json())
    event = tmp_path / "event.json"
    open_pull_request(event, github_server)
    result = project.run("report", "--post", env=actions_env(tmp_path, github_server, event))
    assert result.returncode == 0, result.stderr
    (comment,) = github_server.comments(42)
    assert len(comment["body"]) < 65536
    assert "This report was shortened to fit 65,536 characters" in comment["body"]
    assert "The full report is in the job's step summary and the report.md artifact" in comment["body"]
    # The step summary says where the whole report is; report.md holds every slice.
    assert "The full report is in the report.md artifact" in (tmp_path / "summary.md").read_text()
    full = (project / "report.md").read_text()
    assert len(full) > 65536 and full.count("segment-0") >= 4900


def test_a_check_that_cannot_finish_sets_an_error_status(project, tmp_path, github_server):
    (project / "data" / "test.csv").write_text("a,b\n1,2\n")
    event = tmp_path / "event.json"
    open_pull_request(event, github_server)
    result = project.run("check", env=actions_env(tmp_path, github_server, event))
    assert result.returncode == 2
    assert "no column 'churned'" in result.stderr
    head = json.loads(event.read_text())["pull_request"]["head"]["sha"]
    status, pending = github_server.statuses(head)  # newest first: the check went pending as it started
    assert pending["state"] == "pending" and pending["context"] == status["context"]
    assert status["state"] == "error" and "no column 'churned'" in status["description"]
    assert github_server.comments(42) == []


def test_json_output_stays_pure_json_in_actions(project, tmp_path, github_server):
    event = tmp_path / "event.json"
    open_pull_request(event, github_server)
    result = project.run("--json", "check", "--no-post", env=actions_env(tmp_path, github_server, event))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "churn"
    assert result.stderr.startswith("::add-mask::")


def test_a_merge_queue_check_sets_the_status_on_the_queue_head(project, tmp_path, github_server):
    from tests.support.github_spec import webhook_examples

    (group, *_) = webhook_examples("merge_group")
    head = group["merge_group"]["head_sha"]
    github_server.add_commit(head, group["merge_group"]["head_commit"]["message"])
    event = tmp_path / "event.json"
    event.write_text(json.dumps(group))
    env = {**actions_env(tmp_path, github_server, event), "GITHUB_EVENT_NAME": "merge_group", "GITHUB_SHA": head}
    result = project.run("check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    status, pending = github_server.statuses(head)  # newest first: the check went pending as it started
    assert pending["state"] == "pending" and pending["context"] == status["context"]
    assert status["context"] == "mlci/churn" and status["state"] == "success"
    assert not github_server.requests_for("POST", "/comments")


def test_a_token_without_statuses_still_comments_and_names_the_missing_permission(project, tmp_path, github_server):
    event = tmp_path / "event.json"
    open_pull_request(event, github_server)
    token = "ghs_comment_only"
    github_server.add_token(
        token, "github-actions[bot]", type="Bot", installation=True, permissions={"pull-requests": "write"}
    )
    result = project.run("check", env=actions_env(tmp_path, github_server, event, token=token))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(github_server.comments(42)) == 1
    warning = next(line for line in result.stdout.splitlines() if line.startswith("::warning"))
    assert "no commit status" in warning and "statuses: write" in warning and "pull-requests" not in warning
