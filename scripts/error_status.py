"""Set the commit status mlci/<model> to `error` when a check's job died before or around mlci.

Run by action.yml's `command: error-status` from an `if: failure() || cancelled()` step. It uses
Python's standard library only: the job may have failed before mlci was installed (the AWS step,
the install, a cancel, the timeout), and a required mlci/<model> left `pending` blocks the PR for
good. It reads the model's name from mlci.yaml, the reported commit from the event (the PR's head,
the merge queue's head, else GITHUB_SHA) and the reason from MLCI_REASON (`step=outcome` words).
It prints one line and exits 0 whatever happens: the job has failed already, and says why.
"""

from __future__ import annotations

import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

STEPS = {"aws": "the AWS credentials step", "mlci": "the mlci step", "job": "the job"}


def model_name(config: Path) -> str | None:
    """Return `model.name` of mlci.yaml, read without a YAML library (a block mapping, as mlci init writes it)."""
    try:
        text = config.read_text(encoding="utf-8")
    except OSError:
        return None
    block = re.search(r"(?m)^model:[ \t]*\n((?:[ \t]+.*\n?|[ \t]*\n)*)", text)
    inline = re.search(r"(?m)^model:\s*\{[^}]*\bname:\s*['\"]?([A-Za-z0-9_.-]+)", text)
    if block:
        indent = re.match(r"[ \t]+", block.group(1))
        pattern = r"(?m)^([ \t]+)name:[ \t]*['\"]?([A-Za-z0-9_.-]+)['\"]?[ \t]*(?:#.*)?$"
        for spaces, name in re.findall(pattern, block.group(1)):
            if indent and spaces == indent.group(0):  # model.name itself, not a `name:` nested deeper
                return str(name)
    return inline.group(1) if inline else None


def reason(words: str) -> str:
    """Return `aws=failure mlci=skipped job=failure` in words."""
    outcomes = dict(part.split("=", 1) for part in words.split() if "=" in part)
    failed = [STEPS.get(k, k) for k, v in outcomes.items() if v in ("failure", "cancelled") and k != "job"]
    if outcomes.get("job") == "cancelled" or "cancelled" in outcomes.values():
        return "the run was cancelled (or timed out) before mlci reported"
    if failed:
        return f"{failed[0]} failed before mlci reported; see the run's log"
    return "the job failed before mlci reported; see the run's log"


def head_sha(env: dict[str, str]) -> str | None:
    """Return the commit the check reports on."""
    try:
        event = json.loads(Path(env.get("GITHUB_EVENT_PATH", "")).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        event = {}
    pull = event.get("pull_request") if isinstance(event, dict) else None
    group = event.get("merge_group") if isinstance(event, dict) else None
    for found in ((pull or {}).get("head", {}).get("sha"), (group or {}).get("head_sha"), env.get("GITHUB_SHA")):
        if isinstance(found, str) and re.fullmatch(r"[0-9a-f]{40}", found):
            return found
    return None


def main(env: dict[str, str]) -> str:
    """Post the status; return the line to print."""
    token, repository = env.get("GITHUB_TOKEN", ""), env.get("GITHUB_REPOSITORY", "")
    config = Path(env.get("MLCI_CONFIG") or "mlci.yaml")
    name, sha = model_name(config), head_sha(env)
    if not (token and repository and sha and name):
        return f"mlci: no error status set (token, repository, commit or model.name in {config} missing)"
    why = reason(env.get("MLCI_REASON", ""))
    body = {"state": "error", "context": f"mlci/{name}", "description": why[:140]}
    if env.get("GITHUB_RUN_ID"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        body["target_url"] = f"{server}/{repository}/actions/runs/{env['GITHUB_RUN_ID']}"
    api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    request = urllib.request.Request(
        f"{api}/repos/{repository}/statuses/{sha}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (the Actions API URL)
            answer.read()
    except (urllib.error.URLError, OSError) as e:
        code = getattr(e, "code", None)
        return f"mlci: could not set mlci/{name} to error on {sha[:12]} (HTTP {code or e}); {why}"
    return f"mlci: mlci/{name} set to error on {sha[:12]}: {why}"


if __name__ == "__main__":
    print(main(dict(os.environ)))
    sys.exit(0)
