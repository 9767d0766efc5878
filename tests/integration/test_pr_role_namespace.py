"""Every job that runs with the PR role writes only what docs/security.md's PR-role policy allows.

The policy is read from the document itself (the JSON block a user pastes into IAM), and each
registry key a job wrote is matched against its `s3:PutObject` resources the way IAM matches
them (`*` spans `/`). The jobs: a same-repository pull_request, a merge queue's check (GitHub's
own merge_group webhook example, its queue branch naming the PR), a fork's PR and Dependabot's.
A re-run of an older push, once the PR has moved on, leaves the comment, the status and pr-<n>
as the newer run left them.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

from mlci.storage.local import LOCK_DIR
from tests.support.actions import actions_env, open_pull_request, pr_event
from tests.support.github_server import GitHubServer
from tests.support.github_spec import webhook_examples
from tests.support.paths import ROOT
from tests.support.project import ProjectCopy

BUCKET_PREFIX = "arn:aws:s3:::my-models/registry/"  # where the documented policy keeps the registry


def documented_policy(role: str) -> dict[str, Any]:
    """Return the IAM policy docs/security.md gives for `role` ("pr" or "trusted"): the JSON block after its heading line."""
    text = (ROOT / "docs" / "security.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    policies = [json.loads(block) for block in blocks if '"Statement"' in block and "s3:" in block]
    by_role = {"pr": policies[0], "trusted": policies[1]}
    return by_role[role]


def allowed_puts(policy: dict[str, Any]) -> list[str]:
    """Return the resources the policy lets its role s3:PutObject."""
    resources: list[str] = []
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Effect"] == "Allow" and "s3:PutObject" in actions:
            found = statement["Resource"]
            resources += found if isinstance(found, list) else [found]
    return resources


def keys(registry: Path) -> set[str]:
    """Return every object key under a local registry, as the S3 keys under the policy's prefix.

    The local store's lock files (.mlci-locks/) are its stand-in for S3's conditional writes: no object.
    """
    if not registry.exists():
        return set()
    found = (p.relative_to(registry).as_posix() for p in registry.rglob("*") if p.is_file())
    return {BUCKET_PREFIX + key for key in found if not key.startswith(f"{LOCK_DIR}/")}


def refused(written: set[str], policy: dict[str, Any]) -> list[str]:
    """Return the keys no PutObject resource of the policy matches (IAM's `*` matches any characters, `/` too)."""
    return sorted(k for k in written if not any(fnmatch.fnmatchcase(k, pattern) for pattern in allowed_puts(policy)))


def test_every_pr_role_job_writes_only_what_the_documented_policy_allows(
    project: ProjectCopy, tmp_path: Path, github_server: GitHubServer
):
    policy = documented_policy("pr")
    project.with_estimator("sklearn.tree.DecisionTreeClassifier", {"max_depth": 2})
    registry = project / ".mlci" / "registry"
    event = tmp_path / "event.json"
    written: dict[str, set[str]] = {}

    def job(name: str, payload: dict[str, Any], **env: str) -> None:
        before = keys(registry)
        event.write_text(json.dumps(payload))
        result = project.run("check", env={**actions_env(tmp_path, github_server, event), **env})
        assert result.returncode == 0, f"{name}: {result.text}"
        written[name] = keys(registry) - before

    # A pull request from a branch of this repository.
    pull = open_pull_request(event, github_server)
    head = pull["pull_request"]["head"]["sha"]
    job("pull_request", pull)
    assert any(k.endswith("/aliases/pr-42.json") for k in written["pull_request"])
    stored = json.loads((registry / "churn/aliases/pr-42.json").read_text())

    # The merge queue: GitHub's example payload, its queue branch naming PR 42.
    (group, *_) = webhook_examples("merge_group")
    queue_head = group["merge_group"]["head_sha"]
    group["merge_group"]["head_ref"] = f"refs/heads/gh-readonly-queue/main/pr-42-{head}"
    github_server.add_commit(queue_head, group["merge_group"]["head_commit"]["message"])
    job("merge_group", group, GITHUB_EVENT_NAME="merge_group", GITHUB_SHA=queue_head)
    assert written["merge_group"] and all("/events/pr-42/" in k for k in written["merge_group"])
    assert json.loads((registry / "churn/aliases/pr-42.json").read_text()) == stored  # the reviewed candidate stays
    queue_status, queue_pending = github_server.statuses(queue_head)
    assert (queue_pending["state"], queue_status["state"]) == ("pending", "success")
    (queue_run,) = github_server.check_runs(queue_head)  # the check run lands on the queue's head too
    assert queue_run["name"] == "mlci/churn" and queue_run["conclusion"] == "neutral"  # bootstrap: no production yet

    # A fork's PR and Dependabot's (same repository, but no Actions secrets): nothing written.
    fork = pr_event("opened", 43, github_server.add_pull(43, fork=True, user="mallory")["head"]["sha"])
    fork["pull_request"]["head"]["repo"] = {"full_name": "mallory/churn", "fork": True}
    job("fork", fork)
    bot = pr_event("opened", 44, github_server.add_pull(44, user="dependabot[bot]")["head"]["sha"])
    bot["pull_request"]["user"] = {"login": "dependabot[bot]", "type": "Bot"}
    job("dependabot", bot, GITHUB_ACTOR="dependabot[bot]")
    assert written["fork"] == set() and written["dependabot"] == set()

    for name, found in written.items():
        assert not refused(found, policy), f"{name} wrote keys the PR role may not write: {refused(found, policy)}"

    # A re-run of the first push after the PR moved on: the comment, the status and pr-42 stay as they were.
    (comment,) = github_server.comments(42)
    statuses = github_server.statuses(head)
    (check_run,) = github_server.check_runs(head)
    github_server.push_to_pull(42, "b" * 40)
    rerun = project.run("check", env=actions_env(tmp_path, github_server, _write(event, pull)))
    assert rerun.returncode == 0, rerun.text
    assert "PR #42's head is now bbbbbbbbbbbb" in rerun.text
    assert github_server.comments(42) == [comment] and github_server.statuses(head) == statuses
    assert github_server.check_runs(head) == [check_run]  # no second check run for the stale head
    assert json.loads((registry / "churn/aliases/pr-42.json").read_text()) == stored
    assert "mlci · churn" in (tmp_path / "summary.md").read_text()  # it still reports in its own step summary


def _write(path: Path, payload: dict[str, Any]) -> Path:
    path.write_text(json.dumps(payload))
    return path


def test_the_documented_policy_refuses_what_the_pr_role_must_not_write():
    policy = documented_policy("pr")
    forbidden = ["churn/aliases/production.json", "churn/aliases/staging.json", "churn/deployments/production/x"]
    forbidden += ["churn/events/2026-01-01T00-00-00-check.json"]  # the top level of events/
    assert refused({BUCKET_PREFIX + k for k in forbidden}, policy) == sorted(BUCKET_PREFIX + k for k in forbidden)
