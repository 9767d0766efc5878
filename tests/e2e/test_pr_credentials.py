"""The shipped pr-check.yml, unchanged, for the two PRs that must not use the PR role: Dependabot's, and static keys.

- Dependabot's pull request is same-repository, but its job gets Dependabot secrets, not Actions
  secrets: with the role variable set, the AWS step must still be skipped (it would fail with no
  OIDC credentials), and mlci reads production anonymously from MLCI_PUBLIC_REGISTRY and stores nothing.
- Static keys (R2, MinIO, no OIDC): MLCI_PR_ROLE_ARN left unset, AWS_ACCESS_KEY_ID /
  AWS_SECRET_ACCESS_KEY as Actions secrets: the AWS step is skipped and mlci writes with the keys.

The configure-aws-credentials stand-in fails whenever it runs, so a green job shows it was skipped.
Both runs share one production model and one checkout (one test: act runs are the costly tests);
a third run, the role set and the AWS step failing, shows the failure step's `error` status.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Act, HostCli, Repo, git, keys, pr_event, set_model, shipped_checkout
from tests.support.github_server import GitHubServer
from tests.support.paths import ROOT
from tests.support.s3_server import SeaweedFS

pytestmark = pytest.mark.slow

PR_CHECK = ROOT / "workflows" / "pr-check.yml"
DEPENDABOT = {"login": "dependabot[bot]", "id": 49699333, "node_id": "MDM6Qm90NDk2OTkzMzM=", "type": "Bot"}
ROLE = "arn:aws:iam::123456789012:role/mlci-pr"
AWS_STEP = "Run Main aws-actions/configure-aws-credentials"
ESTIMATOR = "sklearn.ensemble.HistGradientBoostingClassifier"  # the example project's


def dependabot_event(number: int, sha: str, title: str, branch: str) -> dict:
    """Return the `opened` event of a Dependabot PR: GitHub's payload with Dependabot as author and sender."""
    event = pr_event("opened", number, sha, title=title, head_ref=branch)
    for who in (event["pull_request"]["user"], event["sender"]):
        who.update(DEPENDABOT)
        who.update(
            url="https://api.github.com/users/dependabot%5Bbot%5D", html_url="https://github.com/apps/dependabot"
        )
    return event


def test_dependabot_passes_without_actions_secrets_static_keys_write_without_the_role_and_a_failed_aws_step_is_error(
    act: Act, repo: Repo, host_cli: HostCli, github_server: GitHubServer, s3_server: SeaweedFS, tmp_path
):
    production = host_cli.train_and_push("production")
    checkout = shipped_checkout(repo, tmp_path / "checkout")
    sha = git(repo.root, "rev-parse", "HEAD")
    uri = f"s3://{repo.bucket}/registry"
    endpoint = {"S3_ENDPOINT_URL": s3_server.endpoint_url, "AWS_REGION": "us-east-1"}
    before = keys(s3_server, repo.bucket)

    # Dependabot: the role variable is set (so only the Dependabot condition can skip the AWS
    # step), no Actions secret reaches the job, and its token has the workflow's permissions
    # (GitHub's `permissions:` key raises a Dependabot run's read-only default).
    title, branch = "Bump scikit-learn from 1.5.0 to 1.6.1", "dependabot/pip/scikit-learn-1.6.1"
    github_server.add_pull(21, head_sha=sha, title=title, head_ref=branch, user="dependabot[bot]")
    bot = act(
        PR_CHECK,
        "pull_request",
        dependabot_event(21, sha, title, branch),
        secrets={},
        variables={"MLCI_PR_ROLE_ARN": ROLE, "MLCI_REGISTRY": uri, "MLCI_PUBLIC_REGISTRY": uri, **endpoint},
        src=checkout,
        actor="dependabot[bot]",
    )
    assert bot.code == 0, bot.log[-4000:]
    assert AWS_STEP not in bot.log  # act logs every step it runs; a skipped one, not at all
    assert "ACTIONS_ID_TOKEN_REQUEST_URL" not in bot.log and "Credentials could not be loaded" not in bot.log
    assert "mlci · churn: passed" in bot.summary and f"vs production {production[:16]}" in bot.summary
    # The report says why nothing was stored and where the baseline came from.
    assert (
        "Dependabot's pull request: GitHub gives its job Dependabot secrets, not Actions secrets, so this check "
        "stored no candidate and wrote nothing to the registry; the baseline was read from `registry.public_uri`"
    ) in bot.summary
    assert "A pull request from a fork" not in bot.summary
    (comment,) = github_server.comments(21)
    assert "Dependabot's pull request: GitHub gives its job Dependabot secrets" in comment["body"]
    assert keys(s3_server, repo.bucket) == before  # nothing written

    # Static keys: no role variable, the keys as Actions secrets of a same-repository PR whose
    # model differs from production by a parameter (so its version is new, its scores the same).
    set_model(checkout / "mlci.yaml", ESTIMATOR, "{max_iter: 100, learning_rate: 0.05, max_depth: 3, random_state: 7}")
    github_server.add_pull(22, head_sha=sha, title="Tune the churn model", head_ref="tune")
    static = {k: v for k, v in s3_server.env.items() if k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    keyed = act(
        PR_CHECK,
        "pull_request",
        pr_event("opened", 22, sha, title="Tune the churn model", head_ref="tune"),
        secrets=static,
        variables={"MLCI_REGISTRY": uri, **endpoint},
        src=checkout,
    )
    assert keyed.code == 0, keyed.log[-4000:]
    assert AWS_STEP not in keyed.log
    assert "ACTIONS_ID_TOKEN_REQUEST_URL" not in keyed.log and "Credentials could not be loaded" not in keyed.log
    assert "mlci · churn: passed" in keyed.summary
    alias = json.loads(
        s3_server.client().get_object(Bucket=repo.bucket, Key="registry/churn/aliases/pr-22.json")["Body"].read()
    )
    candidate = alias["version"]
    assert candidate != production
    written = set(keys(s3_server, repo.bucket)) - set(before)
    assert f"registry/churn/versions/{candidate}/manifest.json" in written
    # Only inside the PR role's namespace (docs/security.md): the version, pr-22 and its events.
    prefixes = (
        f"registry/churn/versions/{candidate}/",
        "registry/churn/aliases/pr-22.json",
        "registry/churn/events/pr-22/",
    )
    assert all(key.startswith(prefixes) for key in written), sorted(written)

    # The role set for a same-repository PR whose OIDC exchange fails (the stand-in cannot reach
    # STS): the job dies in the AWS step, before mlci, and the failure step, which needs no AWS
    # credentials, leaves mlci/churn at `error` with the reason instead of nothing (a required
    # check would wait forever).
    died_sha = repo.commit("Another change")
    github_server.add_pull(23, head_sha=died_sha, title="Another change", head_ref="other")
    died = act(
        PR_CHECK,
        "pull_request",
        pr_event("opened", 23, died_sha, title="Another change", head_ref="other"),
        secrets={},
        variables={"MLCI_PR_ROLE_ARN": ROLE, "MLCI_REGISTRY": uri, **endpoint},
        src=checkout,
    )
    assert died.code != 0 and AWS_STEP in died.log
    (status,) = github_server.statuses(died_sha)
    assert status["context"] == "mlci/churn" and status["state"] == "error"
    assert status["description"] == "the AWS credentials step failed before mlci reported; see the run's log"
    assert github_server.comments(23) == []
    act.assert_no_secret_in_logs()
