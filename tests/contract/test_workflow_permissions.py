"""Every shipped workflow grants exactly the permissions its steps need, derived from GitHub's data.

mlci/github/permissions.py maps each REST call mlci makes to the fine-grained permission GitHub
publishes for it (tests/test_github_real.py checks the table against the vendored data) and
each command to its calls; the other steps add theirs (actions/checkout reads contents, OIDC
role assumption needs id-token). The e2e runs then give the job's token exactly the workflow's
permissions, so a missing one fails there as it would on GitHub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlci.github import permissions
from tests.support.paths import ROOT

SHIPPED = sorted((ROOT / "workflows").glob("*.yml"))
E2E = ROOT / "tests" / "e2e" / "workflows"
PUBLISHED = "mlci-dev/mlci@v1"


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return dict(data)


def triggers(data: dict[Any, Any]) -> set[str]:
    on = data["on"]
    return {on} if isinstance(on, str) else set(on)


def mlci_commands(data: dict[Any, Any]) -> list[str]:
    """Return the permissions.COMMAND_CALLS keys the workflow's mlci steps run."""
    commands = []
    for job in data["jobs"].values():
        for step in job.get("steps", []):
            if step.get("uses") not in (PUBLISHED, "./"):
                continue
            options = step.get("with", {})
            command, args = options.get("command", "check"), str(options.get("args", ""))
            if command == "check":
                commands.append("check")
                if "merge_group" in triggers(data):
                    commands.append("check@merge_group")
            elif command == "promote" and "--from-pr" in args:
                commands.append("promote --from-pr")
            elif command == "retrain":
                environment = job.get("environment", {})
                name = environment.get("name") if isinstance(environment, dict) else environment
                commands.append("retrain --promote" if name in ("staging", "production") else "retrain")
            else:
                commands.append(command)
    return commands


def other_steps(data: dict[Any, Any]) -> dict[str, str]:
    grants: dict[str, str] = {}
    for job in data["jobs"].values():
        for step in job.get("steps", []):
            uses = str(step.get("uses", ""))
            if uses.startswith("actions/checkout@"):
                grants["contents"] = "read"
            if uses.startswith("aws-actions/configure-aws-credentials@") and "role-to-assume" in step.get("with", {}):
                grants["id-token"] = "write"
    return grants


def derived(data: dict[Any, Any]) -> dict[str, str]:
    grants = other_steps(data)
    for command in mlci_commands(data):
        for name, access in permissions.needed(command).items():
            if grants.get(name) != "write":
                grants[name] = access
    return grants


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_each_shipped_workflow_grants_what_its_commands_call_and_nothing_more(path: Path):
    data = load(path)
    assert mlci_commands(data), f"{path.name} runs no mlci command"
    assert data["permissions"] == derived(data), path.name


def test_scheduled_retrain_promotes_to_staging_without_a_reviewer_at_night():
    data = load(ROOT / "workflows" / "scheduled-retrain.yml")
    assert data["permissions"]["deployments"] == "write"
    (job,) = data["jobs"].values()
    assert job["environment"] == {"name": "staging", "deployment": False}


@pytest.mark.parametrize("name", ["promote-on-merge.yml", "deploy-on-tag.yml", "rollback.yml"])
def test_jobs_that_move_an_environment_leave_the_one_deployment_to_mlci(name: str):
    (job,) = load(ROOT / "workflows" / name)["jobs"].values()
    assert job["environment"]["deployment"] is False


def test_pr_check_runs_in_the_merge_queue():
    data = load(ROOT / "workflows" / "pr-check.yml")
    assert {"pull_request", "merge_group"} <= triggers(data) and "pull_request_target" not in triggers(data)
    assert "merge_group" in triggers(load(E2E / "pr-check.yml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_e2e_copy_grants_the_same_permissions_minus_oidc(path: Path):
    copy = E2E / path.name
    if not copy.exists():
        pytest.skip(f"no e2e copy of {path.name}")
    expected = {k: v for k, v in load(path)["permissions"].items() if k != "id-token"}
    assert load(copy)["permissions"] == expected


def test_the_derivation_catches_a_missing_and_an_extra_grant():
    data = load(ROOT / "workflows" / "pr-check.yml")
    missing = {**data, "permissions": {k: v for k, v in data["permissions"].items() if k != "statuses"}}
    extra = {**data, "permissions": {**data["permissions"], "issues": "write"}}
    assert missing["permissions"] != derived(missing) and extra["permissions"] != derived(extra)
