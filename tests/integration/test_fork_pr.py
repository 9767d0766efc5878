"""A pull request from a fork: no secrets, a read-only token, and still a real check.

GitHub gives a fork's pull_request job no secrets and a read-only GITHUB_TOKEN. The check
reads the baseline anonymously from `registry.public_uri` (here a SeaweedFS whose anonymous
identity may only read and list, as a bucket policy would allow), stores nothing, and says so
in the report; with no public copy it says it had no baseline it could read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.actions import actions_env, open_pull_request
from tests.support.cli import mlci_env
from tests.support.github_server import GitHubServer
from tests.support.project import ProjectCopy
from tests.support.s3_server import SeaweedFS


@pytest.fixture(scope="module")
def public_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs-public"), public_read=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def fork_project(project: ProjectCopy) -> ProjectCopy:
    """The project as pr-check.yml runs it: the registry and its public copy named by the job's variables."""
    return project.with_registry(
        uri="${MLCI_REGISTRY:-.mlci/registry}",
        public_uri="${MLCI_PUBLIC_REGISTRY:-}",
        endpoint_url="${S3_ENDPOINT_URL:-}",
        addressing_style="path",
    )


def fork_event(path: Path, server: GitHubServer) -> str:
    """Write a pull_request event whose head lives in mallory's fork; return the head sha."""
    event = open_pull_request(path, server)
    event["pull_request"]["head"]["repo"] = {"full_name": "mallory/churn", "fork": True}
    path.write_text(json.dumps(event))
    return str(event["pull_request"]["head"]["sha"])


def without_credentials(env: dict[str, str]) -> dict[str, str]:
    """Return `env` as a fork's job sees it: no AWS credentials anywhere boto3 looks."""
    env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    return {
        **env,
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
        "AWS_CONFIG_FILE": "/nonexistent/config",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def keys(server: SeaweedFS, bucket: str) -> dict[str, str]:
    listing = server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: o["ETag"] for o in listing}


def test_a_fork_pr_compares_with_the_public_copy_and_writes_nothing(project, tmp_path, public_s3, github_server):
    project = fork_project(project)
    bucket = public_s3.make_bucket()
    uri = f"s3://{bucket}/registry"
    admin = mlci_env(**public_s3.env, MLCI_REGISTRY=uri, S3_ENDPOINT_URL=public_s3.endpoint_url)
    trained = project.run("--json", "train", "-o", str(tmp_path / "bundle"), env=admin)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    pushed = project.run("--json", "push", str(tmp_path / "bundle"), "--alias", "production", env=admin)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    production = json.loads(pushed.stdout)["version"]
    before = keys(public_s3, bucket)

    # The fork's job: no AWS_* at all, the registry variables, a read-only token.
    event = tmp_path / "event.json"
    head = fork_event(event, github_server)
    env = actions_env(tmp_path, github_server, event, token=github_server.readonly_token)
    env = without_credentials(env)
    env.update(MLCI_REGISTRY=uri, MLCI_PUBLIC_REGISTRY=uri, S3_ENDPOINT_URL=public_s3.endpoint_url)
    result = project.run("check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr

    doc = json.loads((project / "comparison.json").read_text())
    assert doc["verdict"] == "pass" and doc["git"]["fork"] is True
    assert doc["baseline"]["label"] == "production" and doc["baseline"]["version"] == production
    assert doc["candidate"]["alias"] is None and doc["candidate"]["uri"] is None
    # Nothing was written: not a version, an alias, an event or a cache entry.
    assert keys(public_s3, bucket) == before
    # GitHub refused the read-only token; the report is in the step summary, and the warning says why.
    assert github_server.comments(42) == [] and github_server.statuses(head) == []
    assert "a pull request from a fork gets a read-only token" in result.stdout
    summary = (tmp_path / "summary.md").read_text()
    assert "## ✅ mlci · churn: passed" in summary
    assert "A pull request from a fork: GitHub gives its job no secrets and a read-only token" in summary
    assert "the baseline was read from `registry.public_uri`" in summary
    assert "| Candidate |" in summary and "| not stored |" in summary

    # Without credentials mlci never writes, even when asked to: one line, exit 2.
    refused = project.run("push", str(tmp_path / "bundle"), "--alias", "pr-42", env=env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"no AWS credentials: mlci reads the S3 registry {uri} anonymously and does not write to it" in (
        refused.stderr
    )
    assert "Traceback" not in refused.stderr and keys(public_s3, bucket) == before


def test_a_fork_pr_without_a_public_copy_says_it_had_no_baseline(project, tmp_path, github_server):
    project = fork_project(project)
    event = tmp_path / "event.json"
    fork_event(event, github_server)
    env = without_credentials(actions_env(tmp_path, github_server, event, token=github_server.readonly_token))
    # The private registry is somewhere nothing answers: the fork's check must not even try it.
    env.update(MLCI_REGISTRY="s3://private-models/registry", S3_ENDPOINT_URL="http://127.0.0.1:9")
    result = project.run("check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads((project / "comparison.json").read_text())
    assert doc["verdict"] == "bootstrap" and doc["baseline"] is None
    assert doc["no_baseline"] == "a pull request from a fork reads no registry: registry.public_uri is not set"
    report = (project / "report.md").read_text()
    assert "## 🆕 mlci · churn: not compared (no baseline could be read)" in report
    assert "**no baseline it could read**: set `registry.public_uri`" in report
    assert "stored nowhere" in result.stdout
