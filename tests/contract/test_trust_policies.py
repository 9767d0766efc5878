"""The OIDC trust policies of docs/security.md accept exactly the shipped workflows' jobs of each role.

Each job's `sub` claim is derived from its workflow, as GitHub forms it: `environment:<name>` for
a job with an environment, else `pull_request` for a pull_request run and the ref for everything
else (a merge queue's `refs/heads/gh-readonly-queue/<base>/pr-<n>-<sha>`, a branch, a tag). The
role a job assumes is the variable its configure-aws-credentials step reads. The policies are
the JSON blocks of the page, evaluated as IAM does (StringEquals exact, StringLike with `*`/`?`).
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

import yaml

from tests.support.paths import ROOT

REPO = "acme/models"
AUD = "sts.amazonaws.com"
SUB = "token.actions.githubusercontent.com:sub"
WORKFLOWS = sorted((ROOT / "workflows").glob("*.yml"))


def documented() -> dict[str, dict[str, Any]]:
    """Return {role variable: trust policy} from docs/security.md, OWNER/REPO filled in."""
    text = (ROOT / "docs" / "security.md").read_text()
    found = re.findall(r"Trust policy of the [^(]+\(`(MLCI_\w+)`\):\n\n```json\n(.*?)```", text, flags=re.S)
    return {var: json.loads(block.replace("OWNER/REPO", REPO)) for var, block in found}


def _values(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def accepts(policy: dict[str, Any], sub: str, aud: str = AUD) -> bool:
    """Return whether `policy` lets a GitHub OIDC token with these claims assume the role."""
    claims = {SUB: sub, "token.actions.githubusercontent.com:aud": aud}
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow" or "sts:AssumeRoleWithWebIdentity" not in _values(statement["Action"]):
            continue
        if not statement["Principal"]["Federated"].endswith("oidc-provider/token.actions.githubusercontent.com"):
            continue
        conditions = statement.get("Condition", {})
        ok = all(
            claims.get(key) in _values(wanted) for key, wanted in conditions.get("StringEquals", {}).items()
        ) and all(
            any(fnmatch.fnmatchcase(claims.get(key, ""), w) for w in _values(wanted))
            for key, wanted in conditions.get("StringLike", {}).items()
        )
        if ok and SUB in {**conditions.get("StringEquals", {}), **conditions.get("StringLike", {})}:
            return True
    return False


def triggers(data: dict[Any, Any]) -> dict[str, Any]:
    on = data.get(True, data.get("on"))  # YAML 1.1 reads `on:` as True
    return on if isinstance(on, dict) else {name: None for name in _values(on)}


def subjects(data: dict[Any, Any], job: dict[str, Any]) -> set[str]:
    """Return every `sub` claim the job can present."""
    env = job.get("environment")
    name = env.get("name") if isinstance(env, dict) else env
    on = triggers(data)
    if name:
        if "${{" in str(name):  # rollback: the environment an input chooses
            (input_name,) = re.findall(r"inputs\.(\w+)", name)
            names = on["workflow_dispatch"]["inputs"][input_name]["options"]
        else:
            names = [name]
        return {f"repo:{REPO}:environment:{n}" for n in names}
    found: set[str] = set()
    for event, spec in on.items():
        if event == "pull_request":
            found.add(f"repo:{REPO}:pull_request")
        elif event == "merge_group":
            found.add(f"repo:{REPO}:ref:refs/heads/gh-readonly-queue/main/pr-7-{'a' * 40}")
        elif event == "push":
            found |= {f"repo:{REPO}:ref:refs/heads/{b}" for b in (spec or {}).get("branches", [])}
            found |= {f"repo:{REPO}:ref:refs/tags/{t.replace('*', '1.2.3')}" for t in (spec or {}).get("tags", [])}
        else:  # schedule, workflow_dispatch: the default branch
            found.add(f"repo:{REPO}:ref:refs/heads/main")
    return found


def jobs_by_role() -> dict[str, set[tuple[str, str]]]:
    """Return {role variable: {(workflow:job, sub)}} for every job of the shipped workflows that assumes a role."""
    roles: dict[str, set[tuple[str, str]]] = {}
    for path in WORKFLOWS:
        data = yaml.safe_load(path.read_text())
        for job_id, job in data["jobs"].items():
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("aws-actions/configure-aws-credentials@"):
                    (var,) = re.findall(r"vars\.(MLCI_\w+_ROLE_ARN)", step["with"]["role-to-assume"])
                    roles.setdefault(var, set()).update((f"{path.name}:{job_id}", s) for s in subjects(data, job))
    return roles


def test_every_shipped_workflow_assumes_a_documented_role():
    roles, policies = jobs_by_role(), documented()
    covered = {where.split(":")[0] for jobs in roles.values() for where, _ in jobs}
    assert covered == {p.name for p in WORKFLOWS}
    assert set(roles) == set(policies) == {"MLCI_PR_ROLE_ARN", "MLCI_DEPLOY_ROLE_ARN"}


def test_each_documented_trust_policy_accepts_its_jobs_and_no_other():
    roles, policies = jobs_by_role(), documented()
    for var, jobs in roles.items():
        for where, sub in sorted(jobs):
            assert accepts(policies[var], sub), f"{var}'s trust policy refuses {where} ({sub})"
            for other, policy in policies.items():
                if other != var:
                    assert not accepts(policy, sub), f"{other}'s trust policy accepts {where} ({sub})"
    # The subjects the issue names: promotion runs in staging, deploys in production, PRs as pull_request.
    assert ("promote-on-merge.yml:promote", f"repo:{REPO}:environment:staging") in roles["MLCI_DEPLOY_ROLE_ARN"]
    assert ("deploy-on-tag.yml:deploy", f"repo:{REPO}:environment:production") in roles["MLCI_DEPLOY_ROLE_ARN"]
    assert {s for _, s in roles["MLCI_PR_ROLE_ARN"]} >= {f"repo:{REPO}:pull_request"}


def test_the_policies_refuse_every_other_job():
    policies = documented()
    strangers = [
        f"repo:{REPO}:ref:refs/heads/feature",  # a push to any branch
        f"repo:{REPO}:environment:dev",
        f"repo:{REPO}:ref:refs/heads/gh-readonly-queue/main/not-a-pr",
        "repo:mallory/models:pull_request",
        "repo:mallory/models:environment:production",
        f"repo:{REPO}:pull_request_target",
    ]
    for var, policy in policies.items():
        for sub in strangers:
            assert not accepts(policy, sub), f"{var} accepts {sub}"
        assert not accepts(policy, f"repo:{REPO}:pull_request", aud="https://example.org")


def test_the_evaluation_here_tells_equals_from_like():
    like = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"},
                "Condition": {"StringEquals": {SUB: f"repo:{REPO}:*"}},
            }
        ]
    }
    assert not accepts(like, f"repo:{REPO}:pull_request")  # StringEquals takes `*` literally
    like["Statement"][0]["Condition"] = {"StringLike": {SUB: f"repo:{REPO}:*"}}
    assert accepts(like, f"repo:{REPO}:pull_request")
