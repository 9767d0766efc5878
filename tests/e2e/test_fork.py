"""The shipped pr-check.yml, unchanged, for a pull request from a fork (act, stand-ins for remote actions).

A fork's job gets no secrets and a read-only GITHUB_TOKEN: the run below passes act no secret
but that token, and the repository variables a maintainer sets. The configure-aws-credentials
stand-in fails whenever it runs (as the real action does without credentials), so a green job
shows the workflow skipped it; mlci then reads production anonymously from MLCI_PUBLIC_REGISTRY.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Act, HostCli, Repo, git, keys, pr_event, shipped_checkout
from tests.support.github_server import GitHubServer
from tests.support.paths import ROOT
from tests.support.s3_server import SeaweedFS

pytestmark = pytest.mark.slow


def test_the_shipped_pr_check_checks_a_fork_pr_without_secrets_and_writes_nothing(
    act: Act, repo: Repo, host_cli: HostCli, github_server: GitHubServer, s3_server: SeaweedFS, tmp_path
):
    production = host_cli.train_and_push("production")
    before = keys(s3_server, repo.bucket)

    # The fork's checkout: the example project at the repository root, as pr-check.yml expects,
    # its registry read through the variables the workflow passes.
    fork = shipped_checkout(repo, tmp_path / "fork-checkout")
    uri = f"s3://{repo.bucket}/registry"
    sha = git(repo.root, "rev-parse", "HEAD")
    github_server.add_pull(9, head_sha=sha, title="Fork contribution", head_ref="patch-1")
    event = pr_event("opened", 9, sha, title="Fork contribution", head_ref="patch-1", head_repo="mallory/ml-repo")
    run = act(
        ROOT / "workflows" / "pr-check.yml",
        "pull_request",
        event,
        token=github_server.readonly_token,
        secrets={},  # a fork's job: no secret but the read-only GITHUB_TOKEN
        variables={
            "MLCI_REGISTRY": uri,
            "MLCI_PUBLIC_REGISTRY": uri,
            "S3_ENDPOINT_URL": s3_server.endpoint_url,
            "AWS_REGION": "us-east-1",
        },
        src=fork,
    )
    assert run.code == 0, run.log[-4000:]
    assert "Credentials could not be loaded" not in run.log  # the AWS step was skipped, not failed
    # The report: compared with production, read without credentials, stored nowhere.
    assert "mlci · churn: passed" in run.summary
    assert f"vs production {production[:16]}" in run.summary
    assert "A pull request from a fork: GitHub gives its job no secrets and a read-only token" in run.summary
    assert "the baseline was read from `registry.public_uri`" in run.summary
    artifact = tmp_path / "act" / "run-1" / "artifacts" / "mlci-report"
    assert (artifact / "report.md").is_file() and (artifact / "comparison.json").is_file()
    # Nothing reached the registry or GitHub but reads; the warning says why there is no comment.
    assert keys(s3_server, repo.bucket) == before
    assert github_server.comments(9) == [] and github_server.statuses(sha) == []
    assert "a pull request from a fork gets a read-only token" in run.log
    act.assert_no_secret_in_logs()
