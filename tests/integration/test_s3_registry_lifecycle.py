"""Registry on a real S3 server (SeaweedFS): check, promote, deploy, rollback, history, races, crashes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlci.flows.demo import _set_estimator
from tests.support.cli import mlci_env, run_mlci
from tests.support.github_server import GitHubServer
from tests.support.paths import EXAMPLE
from tests.support.s3_server import SeaweedFS

pytestmark = pytest.mark.slow

GOOD = ("sklearn.ensemble.HistGradientBoostingClassifier", "{max_iter: 100, learning_rate: 0.05, max_depth: 3}")
OTHER = ("sklearn.ensemble.HistGradientBoostingClassifier", "{max_iter: 60, learning_rate: 0.1, max_depth: 3}")
FAILING = ("sklearn.tree.DecisionTreeClassifier", "{max_depth: 12}")


def use_s3(project: Path, server, bucket: str) -> None:
    text = (project / "mlci.yaml").read_text()
    registry = (
        f"registry:\n  uri: s3://{bucket}/registry\n  endpoint_url: {server.endpoint_url}\n  addressing_style: path\n"
    )
    (project / "mlci.yaml").write_text(re.sub(r"(?ms)^registry:\n.*?(?=^\S|\Z)", registry, text))


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    """Three trained bundles (good, other, failing) made once: pushing them is the cheap part."""
    root = tmp_path_factory.mktemp("bundles")
    project = root / "churn"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".mlci", "__pycache__"))
    out = {}
    for name, estimator in (("good", GOOD), ("other", OTHER), ("failing", FAILING)):
        _set_estimator(project / "mlci.yaml", *estimator)
        run = run_mlci(project, "--json", "train", "-o", str(root / name), env=mlci_env())
        assert run.returncode == 0, run.stderr
        out[name] = root / name
    return out


@pytest.fixture
def project(tmp_path, s3_server, s3_bucket) -> Path:
    dest = tmp_path / "churn"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".mlci", "__pycache__"))
    use_s3(dest, s3_server, s3_bucket)
    return dest


@pytest.fixture
def env(s3_server) -> dict[str, str]:
    return mlci_env(**s3_server.env)


def published_manifest(client, bucket: str, env: str = "production") -> dict:
    """Return the manifest a serving system loads: the release deployments/<env>/CURRENT.json points at."""
    base = f"registry/churn/deployments/{env}/"
    pointer = json.loads(client.get_object(Bucket=bucket, Key=base + "CURRENT.json")["Body"].read())
    return dict(
        json.loads(client.get_object(Bucket=bucket, Key=base + pointer["prefix"] + "manifest.json")["Body"].read())
    )


def version_of(bundle: Path) -> str:
    return json.loads((bundle / "manifest.json").read_text())["version"]


def push(project: Path, bundle: Path, env: dict[str, str], alias: str | None = None) -> str:
    args = ["--json", "push", str(bundle)] + (["--alias", alias] if alias else [])
    run = run_mlci(project, *args, env=env)
    assert run.returncode == 0, run.stderr
    return str(json.loads(run.stdout)["version"])


def test_check_push_promote_deploy_rollback_history_round_trip_through_s3(project, env, bundles, s3_server, s3_bucket):
    first = run_mlci(project, "check", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"s3://{s3_bucket}/registry/churn/versions/" in first.stdout
    again = run_mlci(project, "check", env=env)
    assert "train cache hit" in again.stdout and "already stored" in again.stdout

    assert run_mlci(project, "deploy", "candidate", "--env", "production", env=env).returncode == 0
    v1 = json.loads(run_mlci(project, "--json", "history", env=env).stdout)["aliases"][0]["version"]
    v2 = push(project, bundles["other"], env, alias="pr-5")
    deployed = run_mlci(project, "deploy", "pr-5", "--env", "production", env=env)
    assert deployed.returncode == 0, deployed.stderr
    assert "smoke test passed" in deployed.stdout

    client = s3_server.client()
    assert published_manifest(client, s3_bucket)["version"] == v2

    back = run_mlci(project, "rollback", "--env", "production", env=env)
    assert back.returncode == 0, back.stderr
    history = json.loads(run_mlci(project, "--json", "history", env=env).stdout)
    production = next(a for a in history["aliases"] if a["alias"] == "production")
    assert production["version"] == v1 and production["previous"] == v2
    assert {v["version"] for v in history["versions"]} >= {v1, v2}
    actions = [e["action"] for e in history["events"]]
    assert actions.count("deploy") == 2 and actions.count("rollback") == 1 and "check" in actions
    assert published_manifest(client, s3_bucket)["version"] == v1


def test_four_concurrent_promotes_one_wins_three_exit_3(project, env, bundles):
    before = push(project, bundles["good"], env, alias="production")
    target = push(project, bundles["other"], env)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlci", "promote", target, "--to", "production", "--expect", before],
            cwd=project,
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
    history = json.loads(run_mlci(project, "--json", "history", env=env).stdout)
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


def test_server_killed_mid_push_exits_4_leaves_no_version_and_a_retry_completes(project, own_server, tmp_path):
    s3_server = own_server
    s3_bucket = own_server.make_bucket()
    use_s3(project, s3_server, s3_bucket)
    env = mlci_env(**s3_server.env)
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
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
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
    history = run_mlci(project, "--json", "history", env=env)
    assert history.returncode == 0, history.stderr
    assert digest[:16] not in [v["version"] for v in json.loads(history.stdout)["versions"]]
    retried = run_mlci(project, "--json", "push", str(bundle), env=env)
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["created"] is True
    stored = client.head_object(Bucket=s3_bucket, Key=f"registry/churn/versions/{digest[:16]}/model.skops")
    assert stored["ContentLength"] == 200 * 1024 * 1024


def test_a_deploy_failing_its_smoke_test_rolls_back_and_records_a_failed_deployment(
    project, env, bundles, s3_server, s3_bucket, github_server: GitHubServer, tmp_path
):
    gh = {**env, **github_server.env(), "GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "99", "GITHUB_SHA": "a" * 40}
    github_server.add_commit("a" * 40, "release")
    v1 = push(project, bundles["good"], env)
    ok = run_mlci(project, "deploy", v1, "--env", "production", env=gh)
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
    v2 = push(project, broken, env)

    bad = run_mlci(project, "deploy", v2, "--env", "production", env=gh)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert v1 in bad.stderr and v2 in bad.stderr and "rolled back" in bad.stderr
    history = json.loads(run_mlci(project, "--json", "history", env=env).stdout)
    production = next(a for a in history["aliases"] if a["alias"] == "production")
    assert production["version"] == v1 and production["previous"] is None
    assert published_manifest(s3_server.client(), s3_bucket)["version"] == v1

    first, second = sorted(github_server.deployments(), key=lambda d: d["id"])
    assert first["environment"] == "production" and first["payload"]["version"] == v1
    assert [s["state"] for s in github_server.deployment_statuses(first["id"])] == ["success", "in_progress"]
    states = [s["state"] for s in github_server.deployment_statuses(second["id"])]
    assert states == ["failure", "in_progress"]
    assert github_server.deployment_statuses(second["id"])[0]["log_url"].endswith("/actions/runs/99")


def test_rollback_with_nothing_previous_is_exit_2(project, env, bundles):
    push(project, bundles["good"], env, alias="production")
    run = run_mlci(project, "rollback", "--env", "production", env=env)
    assert run.returncode == 2
    assert "nothing to roll back to" in run.stderr


@pytest.mark.parametrize("kind", ["merge", "squash", "rebase", "squash-message-only"])
def test_from_pr_auto_resolves_the_pr_of_the_pushed_commit(kind, project, env, bundles, github_server, tmp_path):
    head = "8" * 40
    # What PR 8's check stored: its manifest names the PR and the head commit it trained.
    candidate = tmp_path / "candidate"
    shutil.copytree(bundles["other"], candidate)
    manifest = json.loads((candidate / "manifest.json").read_text())
    (candidate / "manifest.json").write_text(json.dumps({**manifest, "pr": 8, "git_sha": head}))
    version = push(project, candidate, env, alias="pr-8")
    push(project, bundles["good"], env, alias="staging")
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
    run = run_mlci(project, "promote", "--from-pr", "auto", "--to", "staging", env=gh)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PR #8" in run.stdout
    history = json.loads(run_mlci(project, "--json", "history", "--alias", "staging", env=env).stdout)
    assert history["aliases"][0]["version"] == version
    # The promotion is the one deployment of staging on the Environments page, naming the version.
    (deployment,) = github_server.deployments()
    assert deployment["environment"] == "staging" and deployment["payload"]["version"] == version
    assert [s["state"] for s in github_server.deployment_statuses(deployment["id"])] == ["success", "in_progress"]
    if kind == "merge":
        # A re-run moves nothing and records nothing.
        again = run_mlci(project, "promote", "--from-pr", "auto", "--to", "staging", env=gh)
        assert again.returncode == 0, again.stdout + again.stderr
        assert len(github_server.deployments()) == 1 and "no GitHub deployment recorded" in again.stdout


def test_from_pr_refuses_a_fork_pr_whatever_its_alias_names(project, env, bundles, github_server, tmp_path):
    # A fork's check stores nothing, so pr-9 can only have been planted by another PR's job: its
    # manifest claims PR 9 and the fork's public head sha, which GitHub's record would confirm.
    head = "9" * 40
    github_server.add_pull(9, head_sha=head, merged=True, user="mallory", fork=True)
    planted = tmp_path / "planted"
    shutil.copytree(bundles["good"], planted)
    manifest = json.loads((planted / "manifest.json").read_text())
    (planted / "manifest.json").write_text(json.dumps({**manifest, "pr": 9, "git_sha": head}))
    push(project, planted, env, alias="pr-9")
    gh = {**env, **github_server.env(), "GITHUB_ACTIONS": "true"}
    run = run_mlci(project, "promote", "--from-pr", "9", "--to", "staging", env=gh)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "PR #9 came from mallory/ml-repo, not octo-org/ml-repo: a fork's check stores no candidate" in run.stderr
    assert "re-run the check from a branch of this repository" in run.stderr
    aliases = json.loads(run_mlci(project, "--json", "history", env=env).stdout)["aliases"]
    assert [a["alias"] for a in aliases] == ["pr-9"]


def test_from_pr_refuses_a_failed_or_missing_candidate_unless_allowed(project, env, bundles):
    _set_estimator(project / "mlci.yaml", *GOOD)
    pr = {**env, "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(project / "pr.json")}
    (project / "pr.json").write_text(json.dumps({"number": 3, "pull_request": {"number": 3}}))
    assert run_mlci(project, "check", env=pr).returncode == 0
    assert run_mlci(project, "promote", "pr-3", "--to", "production", env=env).returncode == 0
    _set_estimator(project / "mlci.yaml", *FAILING)
    assert run_mlci(project, "check", env=pr).returncode == 1

    refused = run_mlci(project, "promote", "--from-pr", "3", "--to", "staging", env=env)
    assert refused.returncode == 1
    assert "failed its gates when re-evaluated against production in this job (roc_auc " in refused.stderr
    assert "--allow-failed" in refused.stderr
    deploy = run_mlci(project, "deploy", "pr-3", "--env", "production", env=env)
    assert deploy.returncode == 1 and "failed its gates at its last check (roc_auc " in deploy.stderr, deploy.stderr
    assert "not deploying it to 'production'" in deploy.stderr
    missing = run_mlci(project, "promote", "--from-pr", "4", "--to", "staging", env=env)
    assert missing.returncode == 1 and "PR #4 has no stored candidate" in missing.stderr

    allowed = run_mlci(project, "promote", "--from-pr", "3", "--to", "staging", "--allow-failed", env=env)
    assert allowed.returncode == 0, allowed.stderr
    events = json.loads(run_mlci(project, "--json", "history", "--alias", "staging", env=env).stdout)["events"]
    assert "--allow-failed" in events[-1]["reason"]


def test_data_tables_at_s3_uris_load_through_the_same_client(project, env, s3_server, s3_bucket):
    client = s3_server.client()
    for name in ("train", "test"):
        client.upload_file(str(project / "data" / f"{name}.csv"), s3_bucket, f"data/{name}.csv")
    text = (project / "mlci.yaml").read_text()
    text = text.replace("train: data/train.csv", f"train: s3://{s3_bucket}/data/train.csv")
    text = text.replace("test: data/test.csv", f"test: s3://{s3_bucket}/data/test.csv")
    (project / "mlci.yaml").write_text(text)
    shutil.rmtree(project / "data")

    validated = run_mlci(project, "--json", "validate", env=env)
    assert validated.returncode == 0, validated.stderr
    tables = [r["table"] for r in json.loads(validated.stdout)["results"]]
    assert tables == [f"s3://{s3_bucket}/data/train.csv", f"s3://{s3_bucket}/data/test.csv"]
    checked = run_mlci(project, "--json", "check", env=env)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["data"]["rows"] == {"train": 3000, "test": 1000}

    missing = run_mlci(project, "validate", "--data", f"s3://{s3_bucket}/data/2026-01-01.csv", env=env)
    assert missing.returncode == 2
    assert f"s3://{s3_bucket}/data/2026-01-01.csv: no such object" in missing.stderr
