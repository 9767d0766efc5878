"""What a GitHub Actions job hands mlci: its event file, its environment, the files it reads back.

Events are GitHub's own payloads (tests/e2e/events/, from GitHub's published webhook examples)
with the fields a test cares about filled in; the e2e runs send the same ones through `act`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.cli import mlci_env
from tests.support.github_server import GitHubServer
from tests.support.paths import EVENTS

REPOSITORY = "octo-org/ml-repo"  # the repository of the events and of the GitHub API test server


def load_event(name: str, **changes: Any) -> dict[str, Any]:
    """Return tests/e2e/events/NAME.json with top-level keys replaced by `changes`."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    event.update(changes)
    return event


def pr_event(
    action: str,
    number: int,
    head_sha: str,
    *,
    title: str = "Better churn model",
    head_ref: str = "feature/boost",
    head_repo: str = REPOSITORY,
) -> dict[str, Any]:
    """Return a pull_request event (tests/e2e/events/pull_request.json filled in)."""
    event = load_event("pull_request", action=action, number=number)
    pr = event["pull_request"]
    pr.update(number=number, title=title)
    pr["head"].update(sha=head_sha, ref=head_ref)
    pr["head"]["repo"].update(full_name=head_repo, fork=head_repo != REPOSITORY)
    return event


def write_pr_event(where: Path, number: int, head_sha: str, **fields: Any) -> Path:
    """Write the `opened` event of PR `number` at `head_sha` as where/pr-NUMBER.json; return its path."""
    path = where / f"pr-{number}.json"
    path.write_text(json.dumps(pr_event("opened", number, head_sha, **fields)))
    return path


def open_pull_request(
    path: Path, server: GitHubServer, number: int = 42, title: str = "Better churn model"
) -> dict[str, Any]:
    """Open PR `number` on the GitHub API test server and write its `opened` event at `path`; return the event."""
    pull = server.add_pull(number, title=title, head_ref="feature/boost")
    event = pr_event("opened", number, pull["head"]["sha"], title=title)
    path.write_text(json.dumps(event))
    return event


def actions_env(tmp: Path, server: GitHubServer, event: Path, token: str | None = None) -> dict[str, str]:
    """Return the environment of a pull_request job for `event` (its outputs file and summary in `tmp`)."""
    env = mlci_env(
        GITHUB_ACTIONS="true",
        GITHUB_EVENT_NAME="pull_request",
        GITHUB_EVENT_PATH=str(event),
        GITHUB_SHA="0" * 40,
        GITHUB_RUN_ID="777",
        GITHUB_ACTOR="octocat",
        GITHUB_OUTPUT=str(tmp / "output.txt"),
        GITHUB_STEP_SUMMARY=str(tmp / "summary.md"),
        **server.env(token),
    )
    (tmp / "output.txt").touch()
    return env


def read_github_output(text: str) -> dict[str, str]:
    """Parse a GITHUB_OUTPUT file the way the runner does (name=value and name<<DELIM)."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value: list[str] = []
            while lines[i] != delimiter:
                value.append(lines[i])
                i += 1
            i += 1
            outputs[name] = "\n".join(value)
        else:
            name, value_text = line.split("=", 1)
            outputs[name] = value_text
    return outputs
