"""drift and the scheduled retrain on the example, against the GitHub API server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from mlci.flows.demo import _set_estimator
from tests.support.cli import mlci_env, run_mlci
from tests.support.paths import EXAMPLE

pytestmark = pytest.mark.slow

# A model that ignores its features: the gates must stop it whatever the data looks like.
BAD = ("sklearn.dummy.DummyClassifier", "{strategy: prior}")


def run(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Return what `python -m mlci ARGS` gives as a process (most tests run it in-process: `run_mlci`)."""
    return subprocess.run(
        [sys.executable, "-m", "mlci", *args],
        cwd=project,
        env=env or mlci_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def generate(project: Path, rows: int, seed: int):
    sys.path.insert(0, str(project))
    try:
        from generate import make
    finally:
        sys.path.pop(0)
    return make(rows, seed)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory) -> Path:
    """The example with its model checked and deployed to production (built once)."""
    project = tmp_path_factory.mktemp("retrain") / "churn"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".mlci", "__pycache__"))
    assert run_mlci(project, "check").returncode == 0
    deployed = run_mlci(project, "deploy", "candidate", "--env", "production")
    assert deployed.returncode == 0, deployed.stderr
    return project


@pytest.fixture
def project(deployed, tmp_path) -> Path:
    dest = tmp_path / "churn"
    shutil.copytree(deployed, dest)
    return dest


def drifted(project: Path, rows: int = 3000, seed: int = 9, unseen: bool = False):
    """Fresh data that moved but still meets the expectation suite (unless `unseen`)."""
    frame = generate(project, rows, seed)
    rng = np.random.default_rng(seed)
    frame["monthly_charges"] = (frame["monthly_charges"] + frame["monthly_charges"].std()).round(2)
    frame["contract"] = np.where(rng.uniform(size=rows) < 0.9, "two-year", "month-to-month")
    if unseen:
        frame.loc[frame.index[:40], "plan"] = "enterprise"
    # Give the new world its own churn pattern, so a model retrained on it beats production.
    frame["churned"] = ((frame["contract"] == "month-to-month") | (frame["support_calls"].fillna(0) > 3)).astype(int)
    return frame


def test_drift_of_same_and_shifted_data_and_unseen_categories(project):
    generate(project, 2000, seed=5).to_csv(project / "same.csv", index=False)
    same = run_mlci(project, "--json", "drift", "--current", "same.csv")
    assert same.returncode == 0, same.stderr
    doc = json.loads(same.stdout)
    assert doc["status"] == "ok" and all(f["status"] == "ok" for f in doc["features"])

    drifted(project, unseen=True).to_csv(project / "shifted.csv", index=False)
    shifted = run_mlci(project, "drift", "--current", "shifted.csv")
    assert shifted.returncode == 1
    rows = shifted.stdout.splitlines()[2:]
    failing = {line.split()[0] for line in rows if " fail " in f" {line} "}
    assert {"monthly_charges", "contract"} <= failing
    plan = next(line for line in rows if line.startswith("plan "))
    assert "enterprise" in plan


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "fresh.csv: no such file"), ("tenure_months,plan,churned\n", "fresh.csv: the table has no rows")],
)
def test_missing_or_empty_fresh_data_is_exit_2(project, content, message):
    if content is not None:
        (project / "fresh.csv").write_text(content)
    for args in (["drift", "--current", "fresh.csv"],):
        result = run_mlci(project, *args)
        assert result.returncode == 2, result.stdout + result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
    text = (project / "mlci.yaml").read_text() + "\nretrain:\n  data: fresh.csv\n"
    (project / "mlci.yaml").write_text(text)
    result = run_mlci(project, "retrain")
    assert result.returncode == 2 and message in result.stderr


def test_retrain_promotes_only_passing_candidates_and_keeps_one_issue(project, github_server, tmp_path):
    today = datetime.now(timezone.utc).date().isoformat()
    (project / "fresh").mkdir()
    drifted(project).to_csv(project / "fresh" / f"{today}.csv", index=False)
    text = (project / "mlci.yaml").read_text() + "\nretrain:\n  data: fresh/{date}.csv\n  promote: staging\n"
    (project / "mlci.yaml").write_text(text)
    env = mlci_env(**github_server.env(), GITHUB_ACTIONS="true", GITHUB_RUN_ID="5", GITHUB_OUTPUT=str(tmp_path / "out"))
    (tmp_path / "out").touch()

    first = run_mlci(project, "retrain", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "verdict: PASS" in first.stdout and "promoted: staging" in first.stdout
    history = json.loads(run_mlci(project, "--json", "history").stdout)
    aliases = {a["alias"]: a["version"] for a in history["aliases"]}
    assert aliases["staging"] == aliases[f"retrain-{today}"] != aliases["production"]
    (issue,) = github_server.issues()
    assert [label["name"] for label in issue["labels"]] == ["mlci"]
    assert "<!-- mlci:retrain:churn -->" in issue["body"] and "drift: **fail**" in issue["body"]
    assert github_server.comments(issue["number"]) == []
    outputs = (tmp_path / "out").read_text()
    assert re.search(r"verdict<<\S+\npass\n", outputs) and re.search(r"drift<<\S+\nfail\n", outputs)

    again = run_mlci(project, "retrain", env=env)
    assert again.returncode == 0, again.stderr
    assert "tracking issue unchanged" in again.stdout
    assert len(github_server.issues()) == 1 and github_server.comments(issue["number"]) == []

    _set_estimator(project / "mlci.yaml", *BAD)
    worse = run_mlci(project, "retrain", env=env)
    assert worse.returncode == 0, worse.stderr
    assert "verdict: FAIL" in worse.stdout and "not promoting to staging" in worse.stdout
    history = json.loads(run_mlci(project, "--json", "history").stdout)
    assert {a["alias"]: a["version"] for a in history["aliases"]}["staging"] == aliases["staging"]
    (issue,) = github_server.issues()
    (comment,) = github_server.comments(issue["number"])
    assert "verdict **fail**" in comment["body"] and "/actions/runs/5" in comment["body"]


def test_a_github_error_on_the_tracking_issue_keeps_outputs_report_and_summary(project, github_server, tmp_path):
    today = datetime.now(timezone.utc).date().isoformat()
    (project / "fresh").mkdir()
    drifted(project).to_csv(project / "fresh" / f"{today}.csv", index=False)
    text = (project / "mlci.yaml").read_text() + "\nretrain:\n  data: fresh/{date}.csv\n  promote: staging\n"
    (project / "mlci.yaml").write_text(text)
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
    result = run(project, "retrain", env=env)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "could not update the tracking issue (the token lacks `issues: write" in result.stderr
    assert "promoted: staging" in result.stderr
    assert re.search(r"verdict<<\S+\npass\n", out.read_text()) and re.search(r"version<<\S+\n\w{16}\n", out.read_text())
    assert "mlci · churn" in summary.read_text() and (project / "report.md").exists()
    assert github_server.issues() == []
