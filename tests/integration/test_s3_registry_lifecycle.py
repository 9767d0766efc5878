"""Registry on a real S3 server (SeaweedFS): check, promote, deploy, rollback, history, races, crashes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.github_server import GitHubServer
from tests.support.project import ProjectCopy
from tests.support.s3_server import SeaweedFS

pytestmark = pytest.mark.slow

OTHER = ("sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": 60, "learning_rate": 0.1, "max_depth": 3})
FAILING = ("sklearn.tree.DecisionTreeClassifier", {"max_depth": 12})


@pytest.fixture
def bundles(trained) -> dict[str, Path]:
    """Three trained bundles (good, other, failing), trained once a session: pushing them is the cheap part."""
    return {"good": trained(), "other": trained(*OTHER), "failing": trained(*FAILING)}


@pytest.fixture
def s3_project(project: ProjectCopy, s3_server: SeaweedFS, s3_bucket: str) -> ProjectCopy:
    """The example project with its registry in a fresh bucket of the session's SeaweedFS."""
    return project.on_s3(s3_server, s3_bucket)


@pytest.fixture
def env(s3_project: ProjectCopy) -> dict[str, str]:
    return s3_project.env


def published_manifest(client, bucket: str, env: str = "production") -> dict:
    """Return the manifest a serving system loads: the release deployments/<env>/CURRENT.json points at."""
    base = f"registry/churn/deployments/{env}/"
    pointer = json.loads(client.get_object(Bucket=bucket, Key=base + "CURRENT.json")["Body"].read())
    return dict(
        json.loads(client.get_object(Bucket=bucket, Key=base + pointer["prefix"] + "manifest.json")["Body"].read())
    )


def test_check_push_promote_deploy_rollback_history_round_trip_through_s3(
    s3_project, env, bundles, s3_server, s3_bucket
):
    first = s3_project.run("check")
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"s3://{s3_bucket}/registry/churn/versions/" in first.stdout
    again = s3_project.run("check")
    assert "train cache hit" in again.stdout and "already stored" in again.stdout

    assert s3_project.run("deploy", "candidate", "--env", "production").returncode == 0
    v1 = json.loads(s3_project.run("--json", "history").stdout)["aliases"][0]["version"]
    v2 = s3_project.push(bundles["other"], alias="pr-5")
    deployed = s3_project.run("deploy", "pr-5", "--env", "production")
    assert deployed.returncode == 0, deployed.stderr
    assert "smoke test passed" in deployed.stdout

    client = s3_server.client()
    assert published_manifest(client, s3_bucket)["version"] == v2

    back = s3_project.run("rollback", "--env", "production")
    assert back.returncode == 0, back.stderr
    history = json.loads(s3_project.run("--json", "history").stdout)
    production = next(a for a in history["aliases"] if a["alias"] == "production")
    assert production["version"] == v1 and production["previous"] == v2
    assert {v["version"] for v in history["versions"]} >= {v1, v2}
    actions = [e["action"] for e in history["events"]]
    assert actions.count("deploy") == 2 and actions.count("rollback") == 1 and "check" in actions
    assert published_manifest(client, s3_bucket)["version"] == v1


def test_four_concurrent_promotes_one_wins_three_exit_3(s3_project, env, bundles):
    before = s3_project.push(bundles["good"], alias="production")
    target = s3_project.push(bundles["other"])
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlci", "promote", target, "--to", "production", "--expect", before],
            cwd=s3_project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)  # four racers show the compare-and-swap; twenty only cost start-up time
    ]
    results = []
    for p in procs:
        _out, err = p.communicate(timeout=300)
        results.append((p.returncode, err))
    codes = [code for code, _ in results]
    assert codes.count(0) == 1 and codes.count(3) == 3, results
    assert all("production" in err and "Traceback" not in err for code, err in results if code == 3)
    history = json.loads(s3_project.run("--json", "history").stdout)
    production = next(a for a in history["aliases"] if a["alias"] == "production")
    assert production["version"] == target and production["previous"] == before
    moves = [e for e in history["events"] if e["action"] == "alias" and e["alias"] == "production"]
    assert [m["version"] for m in moves] == [before, target]


@pytest.fixture
def own_server(tmp_path):
    """A SeaweedFS of this test's own: killing it must not change the session server
    (a restarted SeaweedFS creates missing buckets on write, which other tests rely on not happening)."""
    server = SeaweedFS(tmp_path / "weed")
    server.start()
    try:
        yield server
    finally:
        server.stop(kill=True)


def test_server_killed_mid_push_exits_4_leaves_no_version_and_a_retry_completes(s3_project, own_server, tmp_path):
    s3_server = own_server
    s3_bucket = own_server.make_bucket()
    env = s3_project.on_s3(s3_server, s3_bucket).env
    bundle = tmp_path / "big"
    bundle.mkdir()
    data = os.urandom(200 * 1024 * 1024)
    (bundle / "model.skops").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    manifest = {"model": "churn", "version": digest[:16], "sha256": digest, "files": {"model.skops": digest}}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    del data

    proc = subprocess.Popen(
        [sys.executable, "-m", "mlci", "push", str(bundle)],
        cwd=s3_project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    client = s3_server.client()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads"):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the push finished before the server could be killed"
    s3_server.stop(kill=True)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 4, out + err
    assert "S3" in err and "unreachable" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2

    s3_server.start()
    history = s3_project.run("--json", "history")
    assert history.returncode == 0, history.stderr
    assert digest[:16] not in [v["version"] for v in json.loads(history.stdout)["versions"]]
    retried = s3_project.run("--json", "push", str(bundle))
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["created"] is True
    stored = client.head_object(Bucket=s3_bucket, Key=f"registry/churn/versions/{digest[:16]}/model.skops")
    assert stored["ContentLength"] == 200 * 1024 * 1024


def test_a_deploy_failing_its_smoke_test_rolls_back_and_records_a_failed_deployment(
    s3_project, env, bundles, s3_server, s3_bucket, github_server: GitHubServer, tmp_path
):
    gh = {**env, **github_server.env(), "GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "99", "GITHUB_SHA": "a" * 40}
    github_server.add_commit("a" * 40, "release")
    v1 = s3_project.push(bundles["good"])
    ok = s3_project.run("deploy", v1, "--env", "production", env=gh)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # A version whose recorded predictions its model no longer gives (a changed library, a bad
    # export): its files are consistent, so only the smoke test of the staged copy can tell.
    broken = tmp_path / "broken"
    shutil.copytree(bundles["other"], broken)
    import pandas as pd

    rows = pd.read_parquet(broken / "smoke.parquet")
    rows["__mlci_prediction__"] += 0.5
    rows.to_parquet(broken / "smoke.parquet", index=False)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["files"]["smoke.parquet"] = hashlib.sha256((broken / "smoke.parquet").read_bytes()).hexdigest()
    (broken / "manifest.json").write_text(json.dumps(manifest))
    v2 = s3_project.push(broken)

    bad = s3_project.run("deploy", v2, "--env", "production", env=gh)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert v1 in bad.stderr and v2 in bad.stderr and "rolled back" in bad.stderr
    history = json.loads(s3_project.run("--json", "history").stdout)
    production = next(a for a in history["aliases"] if a["alias"] == "production")
    assert production["version"] == v1 and production["previous"] is None
    assert published_manifest(s3_server.client(), s3_bucket)["version"] == v1

    first, second = sorted(github_server.deployments(), key=lambda d: d["id"])
    assert first["environment"] == "production" and first["payload"]["version"] == v1
    assert [s["state"] for s in github_server.deployment_statuses(first["id"])] == ["success", "in_progress"]
    states = [s["state"] for s in github_server.deployment_statuses(second["id"])]
    assert states == ["failure", "in_progress"]
    assert github_server.deployment_statuses(second["id"])[0]["log_url"].endswith("/actions/runs/99")


def test_rollback_with_nothing_previous_is_exit_2(s3_project, env, bundles):
    s3_project.push(bundles["good"], alias="production")
    run = s3_project.run("rollback", "--env", "production")
    assert run.returncode == 2
    assert "nothing to roll back to" in run.stderr


@pytest.mark.parametrize("kind", ["merge", "squash", "rebase", "squash-message-only"])
def test_from_pr_auto_resolves_the_pr_of_the_pushed_commit(kind, s3_project, env, bundles, github_server, tmp_path):
    head = "8" * 40
    # What PR 8's check stored: its manifest names the PR and the head commit it trained.
    candidate = tmp_path / "candidate"
    shutil.copytree(bundles["other"], candidate)
    manifest = json.loads((candidate / "manifest.json").read_text())
    (candidate / "manifest.json").write_text(json.dumps({**manifest, "pr": 8, "git_sha": head}))
    version = s3_project.push(candidate, alias="pr-8")
    s3_project.push(bundles["good"], alias="staging")
    sha = hashlib.sha1(kind.encode()).hexdigest()
    message = "Improve the churn model"
    if kind == "merge":
        github_server.add_pull(8, head_sha=head, merge_commit_sha=sha, merged=True)
        message = "Merge pull request #8 from octo/feature"
    elif kind == "squash":
        github_server.add_pull(8, head_sha=head, merge_commit_sha=sha, merged=True)
        message = "Improve the churn model (#8)"
    elif kind == "rebase":
        github_server.add_pull(8, head_sha=head, merged=True)
        github_server.add_commit(sha, message, pulls=[8])
    else:  # the API knows no PR for the commit: the squash message is the fallback
        github_server.add_pull(8, head_sha=head, merged=True)
        github_server.add_commit(sha, "Improve the churn model (#8)\n\n* details")
    event = tmp_path / "push.json"
    event.write_text(
        json.dumps({"ref": "refs/heads/main", "after": sha, "head_commit": {"id": sha, "message": message}})
    )
    gh = {**env, **github_server.env(), "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push",
          "GITHUB_EVENT_PATH": str(event), "GITHUB_SHA": sha}  # fmt: skip
    run = s3_project.run("promote", "--from-pr", "auto", "--to", "staging", env=gh)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PR #8" in run.stdout
    history = json.loads(s3_project.run("--json", "history", "--alias", "staging").stdout)
    assert history["aliases"][0]["version"] == version
    # The promotion is the one deployment of staging on the Environments page, naming the version.
    (deployment,) = github_server.deployments()
    assert deployment["environment"] == "staging" and deployment["payload"]["version"] == version
    assert [s["state"] for s in github_server.deployment_statuses(deployment["id"])] == ["success", "in_progress"]
    if kind == "merge":
        # A re-run moves nothing and records nothing.
        again = s3_project.run("promote", "--from-pr", "auto", "--to", "staging", env=gh)
        assert again.returncode == 0, again.stdout + again.stderr
        assert len(github_server.deployments()) == 1 and "no GitHub deployment recorded" in again.stdout


def test_from_pr_refuses_a_fork_pr_whatever_its_alias_names(s3_project, env, bundles, github_server, tmp_path):
    # A fork's check stores nothing, so pr-9 can only have been planted by another PR's job: its
    # manifest claims PR 9 and the fork's public head sha, which GitHub's record would confirm.
    head = "9" * 40
    github_server.add_pull(9, head_sha=head, merged=True, user="mallory", fork=True)
    planted = tmp_path / "planted"
    shutil.copytree(bundles["good"], planted)
    manifest = json.loads((planted / "manifest.json").read_text())
    (planted / "manifest.json").write_text(json.dumps({**manifest, "pr": 9, "git_sha": head}))
    s3_project.push(planted, alias="pr-9")
    gh = {**env, **github_server.env(), "GITHUB_ACTIONS": "true"}
    run = s3_project.run("promote", "--from-pr", "9", "--to", "staging", env=gh)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "PR #9 came from mallory/ml-repo, not octo-org/ml-repo: a fork's check stores no candidate" in run.stderr
    assert "re-run the check from a branch of this repository" in run.stderr
    aliases = json.loads(s3_project.run("--json", "history").stdout)["aliases"]
    assert [a["alias"] for a in aliases] == ["pr-9"]


def test_from_pr_refuses_a_failed_or_missing_candidate_unless_allowed(s3_project, env, bundles):
    pr = {**env, "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(s3_project / "pr.json")}
    (s3_project / "pr.json").write_text(json.dumps({"number": 3, "pull_request": {"number": 3}}))
    assert s3_project.run("check", env=pr).returncode == 0
    assert s3_project.run("promote", "pr-3", "--to", "production").returncode == 0
    s3_project.with_estimator(*FAILING)
    assert s3_project.run("check", env=pr).returncode == 1

    refused = s3_project.run("promote", "--from-pr", "3", "--to", "staging")
    assert refused.returncode == 1
    assert "failed its gates when re-evaluated against production in this job (roc_auc " in refused.stderr
    assert "--allow-failed" in refused.stderr
    deploy = s3_project.run("deploy", "pr-3", "--env", "production")
    assert deploy.returncode == 1 and "failed its gates at its last check (roc_auc " in deploy.stderr, deploy.stderr
    assert "not deploying it to 'production'" in deploy.stderr
    missing = s3_project.run("promote", "--from-pr", "4", "--to", "staging")
    assert missing.returncode == 1 and "PR #4 has no stored candidate" in missing.stderr

    allowed = s3_project.run("promote", "--from-pr", "3", "--to", "staging", "--allow-failed")
    assert allowed.returncode == 0, allowed.stderr
    events = json.loads(s3_project.run("--json", "history", "--alias", "staging").stdout)["events"]
    assert "--allow-failed" in events[-1]["reason"]


def test_data_tables_at_s3_uris_load_through_the_same_client(s3_project, env, s3_server, s3_bucket):
    client = s3_server.client()
    for name in ("train", "test"):
        client.upload_file(str(s3_project / "data" / f"{name}.csv"), s3_bucket, f"data/{name}.csv")
    s3_project.with_("data.train", f"s3://{s3_bucket}/data/train.csv").with_(
        "data.test", f"s3://{s3_bucket}/data/test.csv"
    )
    shutil.rmtree(s3_project / "data")

    validated = s3_project.run("--json", "validate")
    assert validated.returncode == 0, validated.stderr
    tables = [r["table"] for r in json.loads(validated.stdout)["results"]]
    assert tables == [f"s3://{s3_bucket}/data/train.csv", f"s3://{s3_bucket}/data/test.csv"]
    checked = s3_project.run("--json", "check")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["data"]["rows"] == {"train": 3000, "test": 1000}

    missing = s3_project.run("validate", "--data", f"s3://{s3_bucket}/data/2026-01-01.csv")
    assert missing.returncode == 2
    assert f"s3://{s3_bucket}/data/2026-01-01.csv: no such object" in missing.stderr
