"""GitHub servers that misbehave: a trickle, a flood, a redirect, and answers GitHub's description does not allow.

Each ends in one line and exit 4 within mlci's bounds (its deadline, its size cap, its wait
for a rate limit): never a hang, never a followed redirect, never a leaked token.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from mlci.cli.output import exit_code
from mlci.errors import ServiceError
from mlci.github.client import GitHubClient
from tests.support.actions import actions_env, open_pull_request
from tests.support.cli import one_line
from tests.support.github_server import GitHubServer
from tests.support.project import ProjectCopy
from tests.support.tools import http_server


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[str]:
    """One HTTP server for the GitHub transport tests: trickles, floods, redirects."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/repos/o/r/trickle"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                for _ in range(1000):  # one byte every 0.2 s: each read "succeeds", the request never ends
                    if stopping.wait(0.2):
                        return
                    self.wfile.write(b" ")
                    self.wfile.flush()
            elif self.path.startswith("/repos/o/r/huge"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(3 * 1024**3))
                self.end_headers()
                block = b" " * (1024 * 1024)
                try:
                    for _ in range(3 * 1024):  # 3 GiB, made on the fly: neither side may hold it
                        self.wfile.write(block)
                        sent[0] += len(block)
                except OSError:
                    return
            else:
                self.do_POST()

        def do_POST(self) -> None:
            self.send_response(301)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere?token=s3cr3t")
            self.send_header("Content-Length", "0")
            self.end_headers()

    stopping = threading.Event()
    sent = [0]
    with http_server(Handler) as url:
        try:
            yield url
        finally:
            stopping.set()  # ends a trickle in progress before the server shuts down


def client(url: str, **kwargs: object):
    from mlci.github.client import GitHubClient

    return GitHubClient(url, "ghs_" + "x" * 36, "o/r", retries=0, **kwargs)  # type: ignore[arg-type]


def test_a_trickling_github_server_hits_the_total_deadline(hostile_server):
    with pytest.raises(ServiceError) as error:
        client(hostile_server, deadline=1.0, timeout=5.0).get("/repos/o/r/trickle")
    assert exit_code(error.value) == 4
    assert str(error.value).startswith("GitHub API GET /repos/o/r/trickle gave no complete answer within 1 s")


def test_a_3_gb_github_response_is_cut_at_the_size_cap_without_holding_it(hostile_server):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ServiceError) as error:
        client(hostile_server, max_response_bytes=8 * 1024 * 1024, deadline=60).get("/repos/o/r/huge")
    assert exit_code(error.value) == 4
    assert "GitHub API GET /repos/o/r/huge answered more than 8 MiB; mlci stopped reading" in str(error.value)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 512, f"peak memory grew by {grown_mib:.0f} MiB"


def test_a_redirect_is_not_followed_and_does_not_leak_its_token(hostile_server):
    with pytest.raises(ServiceError) as error:
        client(hostile_server).create_status("a" * 40, "success", "mlci/churn")
    assert exit_code(error.value) == 4
    message = str(error.value)
    assert message.startswith(f"GitHub API POST /repos/o/r/statuses/{'a' * 40} answered 301 (a redirect to")
    assert "s3cr3t" not in message and "mlci does not follow redirects" in message


# --- answers that break GitHub's description ------------------------------------------------


def write_document(project: ProjectCopy) -> None:
    """Write a comparison.json for `mlci report` (a check the data stopped: nothing to train)."""
    from mlci.contracts.document import report_document
    from mlci.github.context import GitHubContext

    doc = report_document(
        model="churn",
        comparison=None,
        validation=[],
        candidate=None,
        baseline=None,
        data=None,
        ctx=GitHubContext(),
        training="the data failed its expectations",
    )
    (project / "comparison.json").write_text(doc.to_json())


@pytest.fixture
def posting(project: ProjectCopy, tmp_path: Path, github_server: GitHubServer, monkeypatch) -> dict[str, str]:
    """Return the environment of `mlci report --post` in a PR job; the client's waits are recorded, not slept."""
    waits: list[float] = []
    monkeypatch.setattr(GitHubClient, "_sleep", lambda self, seconds: waits.append(seconds))
    write_document(project)
    event = tmp_path / "event.json"
    open_pull_request(event, github_server)
    return actions_env(tmp_path, github_server, event)


def test_a_rate_limit_with_retry_after_soon_is_exit_4_after_the_bounded_wait(project, posting, github_server):
    github_server.rate_limit_next(reset_in=3600, retry_after="soon")

    run = project.run("report", "--post", env=posting)

    assert run.returncode == 4, run.stderr
    line = one_line(run.stderr.replace(f"::add-mask::{github_server.token}", ""))
    assert line.startswith("GitHub rate limit exhausted until ")
    assert line.endswith("(in 60 s); mlci waits at most 60 s — re-run later")
    assert github_server.comments(42) == []


def test_a_comment_whose_body_is_a_number_is_exit_4_naming_the_field(project, posting, github_server):
    github_server.add_comment(42, "looks good", user="reviewer")
    github_server.corrupt_next("body", 12345, method="GET")

    run = project.run("report", "--post", env=posting)

    assert run.returncode == 4, run.stderr
    assert one_line(run.stderr.replace(f"::add-mask::{github_server.token}", "")) == (
        "GitHub API GET /repos/octo-org/ml-repo/issues/42/comments: in GitHub's answer, `[0].body` is a number, "
        "not a string (GitHub's API description does not allow that answer (a proxy, or a change at GitHub?); "
        "re-run later, and report it if it persists)"
    )
    assert [c["body"] for c in github_server.comments(42)] == ["looks good"]
