"""The GitHub client against our GitHub API server, plus the Actions context and workflow commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlci.cli.output import exit_code
from mlci.errors import ReadOnlyToken, ServiceError
from mlci.github.client import GitHubClient
from mlci.github.context import GitHubContext
from mlci.github.workflow import add_mask, annotation, append_summary, mask_secret, set_output
from tests.support.actions import read_github_output
from tests.support.github_server import GitHubServer

MARKER = "<!-- mlci:churn -->"
BOT = "github-actions[bot]"


def client_for(server: GitHubServer, token: str | None = None, **kwargs: object) -> GitHubClient:
    # The client's waits (backoff, rate limits) are recorded, not slept: the tests assert on
    # how long the client chose to wait, and the suite does not spend that time.
    options: dict = {"backoff": 0.01, "timeout": 5.0, "sleep": lambda seconds: None, **kwargs}
    return GitHubClient(server.url, token or server.token, server.repository, **options)


@pytest.fixture
def waits() -> list[float]:
    """The seconds the `gh` client asked to sleep, in order."""
    return []


@pytest.fixture
def gh(github_server: GitHubServer, waits: list[float]) -> Iterator[GitHubClient]:
    def sleep(seconds: float) -> None:  # the server's rate limit sees the time pass; no one waits
        waits.append(seconds)
        github_server.advance(seconds)

    with client_for(github_server, sleep=sleep) as client:
        yield client


def marked(issue: list[dict]) -> list[dict]:
    return [c for c in issue if MARKER in c["body"]]


# -- sticky PR comment -----------------------------------------------------------------


def test_second_upsert_edits_the_same_comment(github_server: GitHubServer, gh: GitHubClient) -> None:
    github_server.add_pull(7)

    first = gh.upsert_comment(7, MARKER, f"{MARKER}\nverdict: pass")
    second = gh.upsert_comment(7, MARKER, f"{MARKER}\nverdict: fail")

    assert first.action == "created"
    assert second.action == "updated"
    assert second.id == first.id
    assert first.url.endswith(f"/pull/7#issuecomment-{first.id}")
    assert len(github_server.requests_for("POST")) == 1
    assert len(github_server.requests_for("PATCH")) == 1
    comments = github_server.comments(7)
    assert len(marked(comments)) == 1
    assert comments[0]["body"] == f"{MARKER}\nverdict: fail"
    assert comments[0]["user"]["login"] == BOT


def test_body_without_marker_gets_it_prepended(github_server: GitHubServer, gh: GitHubClient) -> None:
    github_server.add_pull(3)
    gh.upsert_comment(3, MARKER, "report")
    assert github_server.comments(3)[0]["body"] == f"{MARKER}\nreport"


def test_finds_its_comment_behind_250_others(github_server: GitHubServer, gh: GitHubClient) -> None:
    github_server.add_pull(9)
    for i in range(250):
        github_server.add_comment(9, f"looks good {i}", user="reviewer")
    ours = github_server.add_comment(9, f"{MARKER}\nold report", user=BOT)

    result = gh.upsert_comment(9, MARKER, f"{MARKER}\nnew report")

    assert result.action == "updated"
    assert result.id == ours["id"]
    assert github_server.requests_for("POST") == []
    pages = [r.query.get("page", "1") for r in github_server.requests_for("GET", "/issues/9/comments")]
    assert pages == ["1", "2", "3"]
    assert all(r.query["per_page"] == "100" for r in github_server.requests_for("GET", "/issues/9/comments"))
    assert len(github_server.comments(9)) == 251


def test_human_comment_quoting_the_marker_is_untouched(github_server: GitHubServer, gh: GitHubClient) -> None:
    github_server.add_pull(4)
    human = github_server.add_comment(4, f"why does the bot write {MARKER}?", user="octocat")

    result = gh.upsert_comment(4, MARKER, f"{MARKER}\nreport")

    assert result.action == "created"
    assert result.id != human["id"]
    comments = {c["id"]: c for c in github_server.comments(4)}
    assert comments[human["id"]]["body"] == f"why does the bot write {MARKER}?"
    assert comments[human["id"]]["updated_at"] == human["updated_at"]
    assert github_server.requests_for("PATCH") == []


def test_personal_token_matches_its_own_login(github_server: GitHubServer) -> None:
    github_server.add_pull(5)
    github_server.add_comment(5, f"{MARKER}\nbot's", user=BOT)
    with client_for(github_server, github_server.user_token) as client:
        assert client.authenticated_login() == "octocat"
        result = client.upsert_comment(5, MARKER, f"{MARKER}\nmine")
    # The PAT user is octocat, so the bot's comment is not "ours".
    assert result.action == "created"
    assert [c["user"]["login"] for c in github_server.comments(5)] == [BOT, "octocat"]


@pytest.mark.parametrize("applied", [False, True], ids=["lost-before-write", "lost-after-write"])
def test_502_twice_then_success_posts_exactly_one_comment(
    github_server: GitHubServer, gh: GitHubClient, waits: list[float], applied: bool
) -> None:
    github_server.add_pull(11)
    github_server.fail_next(2, 502, method="POST", after=applied)

    result = gh.upsert_comment(11, MARKER, f"{MARKER}\nreport")

    assert result.action == "created"
    comments = github_server.comments(11)
    assert len(comments) == 1
    assert comments[0]["id"] == result.id
    # Lost before the write: the POST is re-sent after exponential backoff. Lost after it: the
    # outcome is unknown, so the client looks for its comment instead of waiting to re-send.
    assert waits == ([] if applied else [0.01, 0.02])


def test_rate_limit_resetting_soon_is_waited_out(
    github_server: GitHubServer, gh: GitHubClient, waits: list[float]
) -> None:
    github_server.add_pull(12)
    github_server.rate_limit_next(reset_in=2.0)

    result = gh.upsert_comment(12, MARKER, f"{MARKER}\nreport")

    assert result.action == "created"
    assert len(github_server.comments(12)) == 1
    # One wait until the reset (whole seconds in the header) plus the client's 1 s of slack.
    assert len(waits) == 1 and 1.0 < waits[0] <= 4.0, waits
    limited = [r for r in github_server.requests if r.status == 403]
    assert len(limited) == 1


def test_rate_limit_resetting_in_an_hour_fails_fast(
    github_server: GitHubServer, gh: GitHubClient, waits: list[float]
) -> None:
    github_server.add_pull(13)
    github_server.rate_limit_next(reset_in=3600)

    with pytest.raises(ServiceError) as info:
        gh.upsert_comment(13, MARKER, f"{MARKER}\nreport")

    text = str(info.value)
    assert "GitHub rate limit exhausted until" in text
    assert "Z (in 360" in text
    assert "mlci waits at most 60 s — re-run later" in text
    assert exit_code(info.value) == 4
    assert waits == []  # it did not wait at all
    assert github_server.comments(13) == []


def test_secondary_rate_limit_honours_retry_after(
    github_server: GitHubServer, gh: GitHubClient, waits: list[float]
) -> None:
    github_server.add_pull(14)
    github_server.rate_limit_next(reset_in=1.0, retry_after=1.0)
    gh.upsert_comment(14, MARKER, f"{MARKER}\nreport")
    assert waits == [1.0]  # Retry-After wins over the reset time
    assert len(github_server.comments(14)) == 1


@pytest.mark.parametrize("retry_after", ["soon", "inf", "Fri, 99 Foo 2026 25:61:00 GMT"])
def test_a_retry_after_that_is_no_number_or_date_counts_as_no_hint(
    github_server: GitHubServer, gh: GitHubClient, waits: list[float], retry_after: str
) -> None:
    github_server.add_pull(16)
    github_server.rate_limit_next(reset_in=3600, retry_after=retry_after)

    with pytest.raises(ServiceError) as info:
        gh.upsert_comment(16, MARKER, f"{MARKER}\nreport")

    # A limit without a usable hint: GitHub asks for at least a minute, and the client waits
    # at most max_wait (60 s) in all, so it waits once and then gives up with exit code 4.
    assert waits == [60.0]
    assert exit_code(info.value) == 4
    assert str(info.value).startswith("GitHub rate limit exhausted until ")
    assert str(info.value).endswith("(in 60 s); mlci waits at most 60 s — re-run later")
    assert github_server.comments(16) == []


def test_read_only_token_raises_read_only_token(github_server: GitHubServer) -> None:
    github_server.add_pull(15)
    with client_for(github_server, github_server.readonly_token) as client, pytest.raises(ReadOnlyToken) as info:
        client.upsert_comment(15, MARKER, f"{MARKER}\nreport")
    assert isinstance(info.value, ServiceError)
    assert "Resource not accessible by integration" in str(info.value)
    assert github_server.comments(15) == []


def test_token_never_appears_in_errors(github_server: GitHubServer) -> None:
    token = github_server.token
    # A proxy that echoes the credentials it saw: the client must still not repeat them.
    github_server.fail_next(100, 500, message=f"upstream refused Bearer {token}")
    client = client_for(github_server, retries=2)
    with pytest.raises(ServiceError) as failing:
        client.commit_message("a" * 40)
    github_server.clear_faults()

    missing = GitHubClient(github_server.url, token, "octo-org/missing", backoff=0.01)
    with pytest.raises(ServiceError) as not_found:
        missing.commit_message("a" * 40)
    github_server.fail_next(1, 401, message=f"Bad credentials: {token}")
    with pytest.raises(ServiceError) as rejected:
        client.commit_message("a" * 40)

    assert "GitHub API GET /repos/octo-org/ml-repo/commits/" in str(failing.value)
    assert "after 3 attempts" in str(failing.value)
    assert "404" in str(not_found.value)
    assert "401: Bad credentials: ***" in str(rejected.value)
    for exc in (failing.value, not_found.value, rejected.value):
        assert token not in str(exc)
        assert token not in repr(exc)
        assert all(token not in str(arg) for arg in exc.args)
        assert token not in "\n".join(exc.lines())
    assert token not in repr(client)
    assert token not in repr(GitHubContext.from_env({"GITHUB_TOKEN": token}))


def test_dropped_connection_and_slow_answer_are_retried(github_server: GitHubServer) -> None:
    github_server.add_commit("c" * 40, "Fix the scaler")
    github_server.drop_next(1)
    github_server.delay_next(1.0)
    with client_for(github_server, timeout=0.3) as client:
        assert client.commit_message("c" * 40) == "Fix the scaler"
    assert len(github_server.requests_for("GET", "/commits/")) >= 3


def test_enterprise_api_prefix_works(github_server: GitHubServer) -> None:
    github_server.add_commit("d" * 40, "GHES commit")
    client = GitHubClient(f"{github_server.url}/api/v3", github_server.token, github_server.repository)
    assert client.commit_message("d" * 40) == "GHES commit"


# -- statuses, deployments, commits ----------------------------------------------------


def test_status_is_recorded_with_truncated_description(github_server: GitHubServer, gh: GitHubClient) -> None:
    sha = "e" * 40
    github_server.add_commit(sha, "candidate")

    status_id = gh.create_status(sha, "failure", "mlci/churn", "x" * 200, "https://ci.example/run/1")

    [status] = github_server.statuses(sha)
    assert status["id"] == status_id
    assert status["state"] == "failure"
    assert status["context"] == "mlci/churn"
    assert status["target_url"] == "https://ci.example/run/1"
    assert len(status["description"]) == 140
    assert status["creator"]["login"] == BOT


def test_deployment_and_its_statuses_are_recorded(github_server: GitHubServer, gh: GitHubClient) -> None:
    sha = "f" * 40
    github_server.add_commit(sha, "release")

    prod = gh.create_deployment(sha, "production", {"version": "abc123"}, "deploy abc123")
    staging = gh.create_deployment("v1.2.0", "staging", None, "stage")
    gh.create_deployment_status(
        prod, "success", environment_url="https://models.example/churn", log_url="https://ci/run/2", description="ok"
    )

    creates = [r for r in github_server.requests_for("POST") if r.path.endswith("/deployments")]
    [request] = [r for r in creates if r.body["environment"] == "production"]
    assert request.body["auto_merge"] is False
    assert request.body["required_contexts"] == []
    assert request.body["transient_environment"] is False
    assert request.body["production_environment"] is True
    by_id = {d["id"]: d for d in github_server.deployments()}
    assert by_id[prod]["sha"] == sha
    assert by_id[prod]["payload"]["version"] == "abc123"
    assert by_id[prod]["production_environment"] is True
    assert by_id[staging]["production_environment"] is False
    assert by_id[staging]["ref"] == "v1.2.0"
    [status] = github_server.deployment_statuses(prod)
    assert status["state"] == "success"
    assert status["environment_url"] == "https://models.example/churn"
    assert status["log_url"] == "https://ci/run/2"
    assert status["environment"] == "production"


def test_deployment_post_lost_after_write_is_not_duplicated(github_server: GitHubServer, gh: GitHubClient) -> None:
    github_server.fail_next(1, 502, method="POST", after=True)
    deployment_id = gh.create_deployment("main", "staging", {"version": "v1"}, "stage v1")
    assert [d["id"] for d in github_server.deployments()] == [deployment_id]


def test_pulls_for_commit_lists_merged_first_and_commit_message(github_server: GitHubServer, gh: GitHubClient) -> None:
    sha = "1" * 40
    github_server.add_pull(3, head_sha="2" * 40, title="still open")
    github_server.add_pull(5, head_sha="3" * 40, merge_commit_sha="4" * 40, title="merged", merged=True)
    github_server.add_commit(sha, "Squash: better features (#5)\n\nbody", pulls=[3, 5])

    assert gh.pulls_for_commit(sha) == [5, 3]
    assert gh.pulls_for_commit("4" * 40) == [5]
    assert gh.commit_message(sha) == "Squash: better features (#5)\n\nbody"
    assert gh.commit_message("4" * 40).startswith("Merge pull request #5")


def _with_marked_comment(server: GitHubServer) -> dict:
    server.add_pull(7)
    return server.add_comment(7, f"{MARKER}\nold", user=BOT)


WRONG_TYPES = [
    # (arrange, method, field, value, call, the path and the problem the error names)
    (_with_marked_comment, "GET", "user.login", 7, lambda c: c.upsert_comment(7, MARKER, "r"),
     "GET /repos/octo-org/ml-repo/issues/7/comments: in GitHub's answer, `[0].user.login` is a number, not a string"),
    (_with_marked_comment, "PATCH", "id", "1", lambda c: c.upsert_comment(7, MARKER, "r"),
     "PATCH /repos/octo-org/ml-repo/issues/comments/{id}: in GitHub's answer, `id` is a string, not an integer"),
    (lambda s: s.add_commit("e" * 40), "POST", "id", None, lambda c: c.create_status("e" * 40, "success", "mlci/churn"),
     f"POST /repos/octo-org/ml-repo/statuses/{'e' * 40}: in GitHub's answer, `id` is null, not an integer"),
    (lambda s: None, "POST", "payload", 5, lambda c: c.create_deployment("main", "staging"),
     "POST /repos/octo-org/ml-repo/deployments: in GitHub's answer, `payload` is a number, not an object or a string"),
    (lambda s: s.add_pull(5, merge_commit_sha="4" * 40, merged=True), "GET", "merged_at", True,
     lambda c: c.pulls_for_commit("4" * 40),
     f"GET /repos/octo-org/ml-repo/commits/{'4' * 40}/pulls: in GitHub's answer, `[0].merged_at` is a boolean, not a string"),
    (lambda s: s.add_commit("c" * 40), "GET", "commit.message", ["x"], lambda c: c.commit_message("c" * 40),
     f"GET /repos/octo-org/ml-repo/commits/{'c' * 40}: in GitHub's answer, `commit.message` is an array, not a string"),
    (lambda s: s.add_pull(8), "GET", "head", "main", lambda c: c.pull_request(8),
     "GET /repos/octo-org/ml-repo/pulls/8: in GitHub's answer, `head` is a string, not an object"),
    (lambda s: s.add_issue("Drift", "<!-- d -->\nx", user=BOT, labels=["mlci"]), "GET", "title", 3,
     lambda c: c.upsert_issue("<!-- d -->", "Drift", "y"),
     "GET /repos/octo-org/ml-repo/issues: in GitHub's answer, `[0].title` is a number, not a string"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("arrange", "method", "field", "value", "call", "expected"),
    WRONG_TYPES,
    ids=["comment-user", "edited-comment", "status", "deployment", "pulls-of-commit", "commit", "pull", "issue"],
)
def test_a_wrong_typed_field_in_an_answer_is_exit_4_naming_it(
    github_server: GitHubServer, gh: GitHubClient, arrange, method, field, value, call, expected
) -> None:
    arranged = arrange(github_server)
    github_server.corrupt_next(field, value, method=method)

    with pytest.raises(ServiceError) as info:
        call(gh)

    assert exit_code(info.value) == 4
    assert info.value.message == "GitHub API " + (
        expected.format(**arranged) if isinstance(arranged, dict) else expected
    )
    assert "does not allow that answer" in str(info.value)


# -- tracking issues -------------------------------------------------------------------


def test_upsert_issue_creates_updates_then_leaves_unchanged(github_server: GitHubServer, gh: GitHubClient) -> None:
    marker = "<!-- mlci:drift:churn -->"
    github_server.add_pull(1)  # a PR carrying the label must never be taken for the issue

    created = gh.upsert_issue(marker, "Drift on churn", f"{marker}\nage drifted")
    updated = gh.upsert_issue(marker, "Drift on churn", f"{marker}\nage and plan drifted")
    unchanged = gh.upsert_issue(marker, "Drift on churn", f"{marker}\nage and plan drifted")

    assert [created.action, updated.action, unchanged.action] == ["created", "updated", "unchanged"]
    assert created.number == updated.number == unchanged.number
    [issue] = github_server.issues()
    assert issue["body"] == f"{marker}\nage and plan drifted"
    assert [label["name"] for label in issue["labels"]] == ["mlci"]
    assert [label["name"] for label in github_server.labels()] == ["mlci"]
    assert len(github_server.requests_for("POST", "/labels")) == 1
    assert len(github_server.requests_for("POST", "/issues")) == 1


def test_upsert_issue_finds_a_closed_issue_and_tolerates_existing_label(
    github_server: GitHubServer, gh: GitHubClient
) -> None:
    gh.upsert_issue("<!-- a -->", "A", "<!-- a -->\none")
    second = gh.upsert_issue("<!-- b -->", "B", "<!-- b -->\ntwo")  # label POST answers 422 already_exists
    assert second.action == "created"
    number = second.number
    gh._request("PATCH", f"/repos/{github_server.repository}/issues/{number}", json_body={"state": "closed"})
    again = gh.upsert_issue("<!-- b -->", "B", "<!-- b -->\nthree")
    assert (again.number, again.action) == (number, "updated")
    assert len(github_server.issues()) == 2


def test_add_issue_comment_returns_its_address(github_server: GitHubServer, gh: GitHubClient) -> None:
    number = github_server.add_issue("Drift")
    github_server.fail_next(1, 502, method="POST", after=True)
    url = gh.add_issue_comment(number, "retrained: v2 is better")
    [comment] = github_server.comments(number)
    assert url == comment["html_url"]
    assert url.endswith(f"/issues/{number}#issuecomment-{comment['id']}")


# -- Actions context -------------------------------------------------------------------


def test_context_from_a_pull_request_event(tmp_path: Path) -> None:
    event = {
        "number": 42,
        "pull_request": {
            "number": 42,
            "title": "Add tenure feature",
            "head": {"sha": "a" * 40, "ref": "feature/tenure", "repo": {"full_name": "someone/ml-repo"}},
            "base": {"ref": "main", "repo": {"full_name": "octo-org/ml-repo"}},
        },
    }
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    ctx = GitHubContext.from_env(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(path),
            "GITHUB_REPOSITORY": "octo-org/ml-repo",
            "GITHUB_SHA": "b" * 40,
            "GITHUB_RUN_ID": "99",
            "GITHUB_TOKEN": "ghs_job",
            "MLCI_GITHUB_TOKEN": "ghp_user",
        }
    )
    assert ctx.in_actions
    assert ctx.pr_number == 42
    assert ctx.head_sha == "a" * 40
    assert ctx.pr_title == "Add tenure feature"
    assert ctx.head_ref == "feature/tenure"
    assert ctx.is_fork_pr
    assert ctx.run_url == "https://github.com/octo-org/ml-repo/actions/runs/99"
    assert ctx.api_url == "https://api.github.com"
    assert ctx.token == "ghp_user"


def test_context_from_a_push_and_from_a_bad_event_file(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"head_commit": {"message": "Merge pull request #7"}}))
    push = GitHubContext.from_env(
        {"GITHUB_EVENT_PATH": str(path), "GITHUB_SHA": "c" * 40, "GITHUB_REF": "refs/tags/v1.0.0"}
    )
    assert push.commit_message == "Merge pull request #7"
    assert push.head_sha == "c" * 40
    assert push.pr_number is None
    assert not push.is_fork_pr
    assert push.tag == "v1.0.0"
    assert not push.in_actions
    assert push.run_url is None

    path.write_text("{not json")
    broken = GitHubContext.from_env({"GITHUB_EVENT_PATH": str(path), "GITHUB_TOKEN": "t"})
    assert broken.event == {}
    assert broken.token == "t"
    assert GitHubContext.from_env({"GITHUB_EVENT_PATH": str(tmp_path / "missing.json")}).event == {}


# -- workflow commands -----------------------------------------------------------------


def test_set_output_multiline_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    out.write_text("")
    report = "## mlci\n\nverdict=fail\nEOF\n| a | b |\n"
    assert set_output("report", report, out)
    assert set_output("verdict", "fail", out)
    assert set_output("comment-url", "https://github.com/o/r/pull/1#issuecomment-2", out)

    parsed = read_github_output(out.read_text())
    assert parsed == {
        "report": report,
        "verdict": "fail",
        "comment-url": "https://github.com/o/r/pull/1#issuecomment-2",
    }
    assert "report<<ghadelimiter_" in out.read_text()
    assert not set_output("x", "y", None)


def test_annotation_escaping() -> None:
    line = annotation("error", "gate failed: 50%\nauc dropped", title="Gate: auc, f1", file="src/a,b.py", line=3)
    assert line == "::error file=src/a%2Cb.py,line=3,title=Gate%3A auc%2C f1::gate failed: 50%25%0Aauc dropped"
    assert annotation("notice", "done") == "::notice::done"
    with pytest.raises(ValueError):
        annotation("debug", "x")  # type: ignore[arg-type]


def test_masks_and_summary(tmp_path: Path) -> None:
    assert add_mask("s3cr3t") == "::add-mask::s3cr3t"
    assert add_mask("line1\nline2") == "::add-mask::line1\n::add-mask::line2"
    assert mask_secret("token ghs_abc and ghs_abcdef", ["ghs_abc", "ghs_abcdef", ""]) == "token *** and ***"
    summary = tmp_path / "summary.md"
    assert append_summary("# one", summary)
    assert append_summary("two\n", summary)
    assert summary.read_text() == "# one\ntwo\n"
    assert not append_summary("x", None)
