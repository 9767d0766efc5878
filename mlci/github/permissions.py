"""Which fine-grained permission each GitHub REST call of mlci needs, and which calls each command makes.

The table is GitHub's published permission data (@octokit/app-permissions, vendored with
GitHub's REST description by scripts/vendor_github.py; tests/test_permissions.py checks this
table against it), written here because the package cannot read test fixtures at run time.
A call lists every permission GitHub accepts for it (issue comments: `issues` or
`pull-requests`); any one of them suffices, and `write` includes `read`.
Names are spelled as a workflow's `permissions:` keys (`pull-requests`, not `pull_requests`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Call:
    """One REST operation mlci sends and the permissions that each grant it."""

    method: str
    path: str  # the template of GitHub's description, e.g. /repos/{owner}/{repo}/statuses/{sha}
    accepted: tuple[str, ...]  # "statuses: write"; empty: no permission grants it (GET /user)

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


_R = "/repos/{owner}/{repo}"
CALLS: tuple[Call, ...] = (
    # Personal tokens only: GitHub Apps (GITHUB_TOKEN included) are refused; mlci then falls back.
    Call("GET", "/user", ()),
    Call("GET", f"{_R}/issues", ("issues: read",)),
    Call("POST", f"{_R}/issues", ("issues: write",)),
    Call("GET", f"{_R}/issues/{{issue_number}}", ("issues: read",)),
    Call("PATCH", f"{_R}/issues/{{issue_number}}", ("issues: write", "pull-requests: write")),
    Call("GET", f"{_R}/issues/{{issue_number}}/comments", ("issues: read", "pull-requests: read")),
    Call("POST", f"{_R}/issues/{{issue_number}}/comments", ("issues: write", "pull-requests: write")),
    Call("GET", f"{_R}/issues/comments/{{comment_id}}", ("issues: read", "pull-requests: read")),
    Call("PATCH", f"{_R}/issues/comments/{{comment_id}}", ("issues: write", "pull-requests: write")),
    Call("DELETE", f"{_R}/issues/comments/{{comment_id}}", ("issues: write", "pull-requests: write")),
    Call("GET", f"{_R}/labels", ("issues: read", "pull-requests: read")),
    Call("POST", f"{_R}/labels", ("issues: write", "pull-requests: write")),
    Call("POST", f"{_R}/statuses/{{sha}}", ("statuses: write",)),
    Call("GET", f"{_R}/commits/{{ref}}/statuses", ("statuses: read",)),
    # Only GitHub Apps (the job's GITHUB_TOKEN is one) may create check runs; mlci falls back to the status.
    Call("POST", f"{_R}/check-runs", ("checks: write",)),
    Call("PATCH", f"{_R}/check-runs/{{check_run_id}}", ("checks: write",)),
    # Missing from the scraped data; GitHub's endpoint page names Pull requests (read).
    Call("GET", f"{_R}/commits/{{commit_sha}}/pulls", ("pull-requests: read",)),
    Call("GET", f"{_R}/commits/{{ref}}", ("contents: read",)),
    Call("GET", f"{_R}/pulls/{{pull_number}}", ("pull-requests: read",)),
    Call("GET", f"{_R}/deployments", ("deployments: read",)),
    Call("POST", f"{_R}/deployments", ("deployments: write",)),
    Call("GET", f"{_R}/deployments/{{deployment_id}}", ("deployments: read",)),
    Call("GET", f"{_R}/deployments/{{deployment_id}}/statuses", ("deployments: read",)),
    Call("POST", f"{_R}/deployments/{{deployment_id}}/statuses", ("deployments: write",)),
)

# What each mlci command may call on GitHub, by the event it runs on. The sticky PR comment is
# listed under `pull-requests` and the tracking issue under `issues`: the workflows grant those.
_COMMENT = (
    f"GET {_R}/issues/{{issue_number}}/comments",
    f"POST {_R}/issues/{{issue_number}}/comments",
    f"PATCH {_R}/issues/comments/{{comment_id}}",
)
_STATUS = (f"POST {_R}/statuses/{{sha}}",)
# The check run `mlci/<model>` beside the status: its summary and annotations (mlci.report.reporters.CheckRunReport).
_CHECK_RUN = (f"POST {_R}/check-runs", f"PATCH {_R}/check-runs/{{check_run_id}}")
_DEPLOYMENT = (
    f"GET {_R}/deployments",
    f"POST {_R}/deployments",
    f"POST {_R}/deployments/{{deployment_id}}/statuses",
)
_PR_OF_COMMIT = (f"GET {_R}/commits/{{commit_sha}}/pulls", f"GET {_R}/commits/{{ref}}")
_ISSUE = (
    f"GET {_R}/issues",
    f"POST {_R}/issues",
    f"PATCH {_R}/issues/{{issue_number}}",
    f"POST {_R}/labels",
    f"GET {_R}/issues/{{issue_number}}/comments",
    f"POST {_R}/issues/{{issue_number}}/comments",
)
COMMAND_CALLS: dict[str, tuple[str, ...]] = {
    # GET pulls/{n}: is this run's head still the PR's head (a stale re-run posts nothing)?
    "check": ("GET /user", f"GET {_R}/pulls/{{pull_number}}", *_COMMENT, *_STATUS, *_CHECK_RUN),
    # A merge queue has no PR to comment on: only the status and the check run on the queue's head commit.
    "check@merge_group": (*_STATUS, *_CHECK_RUN),
    # The failure step of pr-check.yml (scripts/error_status.py): the status alone.
    "error-status": _STATUS,
    "report --post": ("GET /user", *_COMMENT, *_STATUS, *_CHECK_RUN),
    "promote --from-pr": (*_PR_OF_COMMIT, *_DEPLOYMENT),
    "deploy": _DEPLOYMENT,
    "rollback": _DEPLOYMENT,
    "retrain": ("GET /user", *_ISSUE),
    "retrain --promote": ("GET /user", *_ISSUE, *_DEPLOYMENT),
}

# Which permission a workflow should grant for a call that several permissions accept.
_PREFERRED = {"check": "pull-requests", "report --post": "pull-requests", "retrain": "issues"}


def call(key: str) -> Call:
    """Return the table's entry for "METHOD /template"."""
    for entry in CALLS:
        if entry.key == key:
            return entry
    raise KeyError(key)


def needed(command: str) -> dict[str, str]:
    """Return the `permissions:` a job running `command` must grant ({"statuses": "write", ...})."""
    preferred = _PREFERRED.get(command.split(" ")[0].split("@")[0])
    grants: dict[str, str] = {}
    for key in COMMAND_CALLS[command]:
        accepted = call(key).accepted
        if not accepted:
            continue
        chosen = next((a for a in accepted if preferred and a.startswith(preferred + ":")), accepted[0])
        name, _, access = chosen.partition(": ")
        if grants.get(name) != "write":
            grants[name] = access
    return grants


def _regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


def permission_for(method: str, path: str) -> str | None:
    """Return the first permission that grants a request (`statuses: write`), or None when unknown."""
    path = path.split("?", 1)[0]
    if path.startswith("/api/v3/"):
        path = path[len("/api/v3") :]
    literal = sorted(CALLS, key=lambda c: c.path.count("{"))
    for entry in literal:
        if entry.method == method.upper() and _regex(entry.path).match(path):
            return entry.accepted[0] if entry.accepted else None
    return None
