"""The GitHub Actions run mlci is in: event, repository, commit, token and file-command paths."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci._internal.nesting import load_json

DEFAULT_API_URL = "https://api.github.com"
# Where a token comes from, first match wins: a user-supplied one (a PAT or an App's) over the job's.
TOKEN_VARIABLES = ("MLCI_GITHUB_TOKEN", "GITHUB_TOKEN")
# Every variable that may hold a token: the action's input too. None of them is ever printed.
SECRET_VARIABLES = (*TOKEN_VARIABLES, "INPUT_GITHUB-TOKEN")


def running_in_actions(env: Mapping[str, str]) -> bool:
    """Return whether `env` is a GitHub Actions step's environment."""
    return env.get("GITHUB_ACTIONS", "").lower() == "true"


DEFAULT_SERVER_URL = "https://github.com"
# A merge queue's temporary branch: gh-readonly-queue/<base branch>/pr-<number>-<head sha of the PR>.
QUEUE_BRANCH = re.compile(r"^(?:refs/heads/)?gh-readonly-queue/.+/pr-([0-9]+)-[0-9a-f]{40}$")
# The login GitHub gives Dependabot's pull requests (its runs get Dependabot secrets, not Actions').
DEPENDABOT = "dependabot[bot]"


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _read_event(path: str | None) -> dict[str, Any]:
    # A missing or malformed event file is normal outside Actions (and under some runners);
    # the properties below then fall back to the plain environment variables.
    if not path:
        return {}
    try:
        data = load_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return _as_dict(data)


@dataclass(frozen=True)
class GitHubContext:
    """What the Actions runner tells a step about its run (all fields optional outside Actions)."""

    actions: bool = False
    event_name: str | None = None
    event: dict[str, Any] = field(default_factory=dict, repr=False)
    repository: str | None = None
    sha: str | None = None
    ref: str | None = None
    api_url: str = DEFAULT_API_URL
    server_url: str = DEFAULT_SERVER_URL
    run_id: str | None = None
    actor: str | None = None
    output_path: str | None = None
    summary_path: str | None = None
    env_head_ref: str | None = None
    workspace: str | None = None  # the checkout (GITHUB_WORKSPACE), where annotations' paths start
    # Pins the login of mlci's own comments and issues (MLCI_GITHUB_LOGIN, e.g. "acme-mlci[bot]");
    # unset, a personal token's login or any bot author counts (GitHubClient._is_own).
    bot_login: str | None = None
    # The token must never reach a log line, so it is kept out of repr.
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHubContext:
        """Return the context described by the runner's environment variables."""

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value else None

        return cls(
            actions=running_in_actions(env),
            event_name=get("GITHUB_EVENT_NAME"),
            event=_read_event(get("GITHUB_EVENT_PATH")),
            repository=get("GITHUB_REPOSITORY"),
            sha=get("GITHUB_SHA"),
            ref=get("GITHUB_REF"),
            api_url=(get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
            server_url=(get("GITHUB_SERVER_URL") or DEFAULT_SERVER_URL).rstrip("/"),
            run_id=get("GITHUB_RUN_ID"),
            actor=get("GITHUB_ACTOR"),
            output_path=get("GITHUB_OUTPUT"),
            summary_path=get("GITHUB_STEP_SUMMARY"),
            env_head_ref=get("GITHUB_HEAD_REF"),
            workspace=get("GITHUB_WORKSPACE"),
            bot_login=get("MLCI_GITHUB_LOGIN"),
            token=next((token for name in TOKEN_VARIABLES if (token := get(name))), None),
        )

    @property
    def in_actions(self) -> bool:
        """Return True when running inside a GitHub Actions job."""
        return self.actions

    @property
    def _pull_request(self) -> dict[str, Any]:
        return _as_dict(self.event.get("pull_request"))

    @property
    def pr_number(self) -> int | None:
        """Return the pull request a run is about: the event's, or the one a merge queue's branch names, else None."""
        number = self._event_pr_number
        return number if number is not None else self.queue_pr_number

    @property
    def queue_pr_number(self) -> int | None:
        """Return the PR a merge queue's check is for, from its branch `gh-readonly-queue/<base>/pr-<n>-<sha>`."""
        if not self.is_merge_group:
            return None
        ref = _as_dict(self.event.get("merge_group")).get("head_ref") or self.ref or ""
        found = QUEUE_BRANCH.match(ref) if isinstance(ref, str) else None
        return int(found.group(1)) if found else None

    @property
    def _event_pr_number(self) -> int | None:
        number = self._pull_request.get("number")
        if number is None:
            number = self.event.get("number")
        if isinstance(number, bool):
            return None
        if isinstance(number, int):
            return number
        if isinstance(number, str) and number.isdigit():
            return int(number)
        return None

    @property
    def head_sha(self) -> str | None:
        """Return the commit a check reports on: the PR's head (GITHUB_SHA is a test merge on PRs),
        the merge queue's head commit, else GITHUB_SHA."""
        sha = _as_dict(self._pull_request.get("head")).get("sha")
        if not (isinstance(sha, str) and sha):
            sha = _as_dict(self.event.get("merge_group")).get("head_sha")
        return sha if isinstance(sha, str) and sha else self.sha

    @property
    def merge_sha(self) -> str | None:
        """Return the temporary merge commit a pull_request job checked out (GITHUB_SHA), else None."""
        if self._pull_request and self.sha and self.sha != self.head_sha:
            return self.sha
        return None

    @property
    def is_merge_group(self) -> bool:
        """Return True for a merge queue's check (event merge_group)."""
        return self.event_name == "merge_group" or bool(_as_dict(self.event.get("merge_group")))

    @property
    def run_url(self) -> str | None:
        """Return the web address of this workflow run, or None outside Actions."""
        if not (self.repository and self.run_id):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @property
    def pr_title(self) -> str | None:
        """Return the pull request's title, or None."""
        title = self._pull_request.get("title")
        return title if isinstance(title, str) else None

    @property
    def head_ref(self) -> str | None:
        """Return the PR's source branch name, or None."""
        ref = _as_dict(self._pull_request.get("head")).get("ref")
        return ref if isinstance(ref, str) and ref else self.env_head_ref

    @property
    def is_dependabot_pr(self) -> bool:
        """Return True for a pull request Dependabot opened: its run gets no Actions secrets (a fork's treatment)."""
        author = _as_dict(self._pull_request.get("user")).get("login")
        return bool(self._pull_request) and DEPENDABOT in (self.actor, author)

    @property
    def is_pull_request_target(self) -> bool:
        """Return True for a pull_request_target run: it holds write secrets and builds the base, not the PR."""
        return self.event_name == "pull_request_target"

    @property
    def is_fork_pr(self) -> bool:
        """Return True for a PR whose head lives in another repository (its token is read-only)."""
        pr = self._pull_request
        if not pr:
            return False
        head = _as_dict(pr.get("head"))
        if "repo" not in head:
            return False  # a payload that does not say (GitHub always does): not known to be a fork
        head_repo = head["repo"]
        base_repo = _as_dict(_as_dict(pr.get("base")).get("repo"))
        if head_repo is None:
            # GitHub sends null when the fork was deleted; treat it as foreign.
            return True
        head_name = _as_dict(head_repo).get("full_name")
        base_name = base_repo.get("full_name") or self.repository
        if head_name and base_name:
            return bool(head_name != base_name)
        return bool(_as_dict(head_repo).get("fork", False))

    @property
    def commit_message(self) -> str | None:
        """Return the pushed head commit's message (push events), else None."""
        message = _as_dict(self.event.get("head_commit")).get("message")
        return message if isinstance(message, str) else None

    @property
    def ref_name(self) -> str | None:
        """Return the short branch or tag name of GITHUB_REF (`main`, `v1.2.0`), else None."""
        if not self.ref:
            return None
        for prefix in ("refs/heads/", "refs/tags/"):
            if self.ref.startswith(prefix):
                return self.ref[len(prefix) :]
        return self.ref

    @property
    def tag(self) -> str | None:
        """Return the tag name when the run was triggered by a tag, else None."""
        if self.ref and self.ref.startswith("refs/tags/"):
            return self.ref[len("refs/tags/") :]
        return None

    @property
    def secrets(self) -> list[str]:
        """Return the values that must be scrubbed from any text mlci prints."""
        return [self.token] if self.token else []
