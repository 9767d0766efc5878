"""A small GitHub REST client: sticky PR comments, statuses, deployments, issues.

Every request has a timeout and bounded retries; rate limits are waited out only when the
wait fits the client's budget. POSTs that create things are never blindly retried: after a
failure whose outcome is unknown, the client looks for what it meant to create first.
The token never appears in an exception, a log line or a repr.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import math
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import requests
from pydantic import ValidationError

from mlci import __version__
from mlci._internal.nesting import NestingError, load_json
from mlci.errors import ConfigError, GitHubError, ReadOnlyToken
from mlci.github.context import GitHubContext
from mlci.github.permissions import permission_for
from mlci.github.responses import (
    Accepted,
    Account,
    Answer,
    CheckRun,
    Comment,
    Commit,
    Created,
    Deployment,
    Issue,
    PullOfCommit,
    PullRequest,
    problem,
)
from mlci.github.workflow import mask_secret

# GitHub answers 403 with these when the token lacks a permission (an installation token such as
# GITHUB_TOKEN or an App's; a fine-grained personal token).
READ_ONLY_MESSAGES = ("Resource not accessible by integration", "Resource not accessible by personal access token")
STATUS_STATES = ("error", "failure", "pending", "success")
CHECK_CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out")
# GitHub's limits on a check run's output: 65535 characters of summary, 50 annotations per request.
CHECK_SUMMARY_LIMIT = 65535
CHECK_ANNOTATIONS_PER_REQUEST = 50
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
# How recent an identical comment must be to count as the one our failed POST created.
_RECENT_DUPLICATE = timedelta(minutes=10)
# A wait GitHub asks for is shown up to this long ("in 3600 s"); a longer one is no real answer.
_LONGEST_WAIT = 366 * 24 * 3600.0

A = TypeVar("A", bound=Answer)


# Errors


class _OutcomeUnknown(GitHubError):
    """A non-idempotent request failed in a way that may or may not have applied it."""


# Results


@dataclass(frozen=True)
class CommentResult:
    """The sticky comment after an upsert."""

    id: int
    url: str
    action: Literal["created", "updated"]


@dataclass(frozen=True)
class CheckAnnotation:
    """One annotation of a check run: a file of the repository, its lines, a level and a message."""

    path: str  # relative to the repository's root, with `/`
    start_line: int
    message: str
    level: Literal["notice", "warning", "failure"] = "failure"
    title: str | None = None
    end_line: int | None = None

    def json(self) -> dict[str, Any]:
        """Return the annotation as the Checks API takes it."""
        data: dict[str, Any] = {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line or self.start_line,
            "annotation_level": self.level,
            "message": _truncate(self.message, 64 * 1024),
        }
        if self.title:
            data["title"] = _truncate(self.title, 255)
        return data


@dataclass(frozen=True)
class IssueResult:
    """The tracking issue after an upsert."""

    number: int
    url: str
    action: Literal["created", "updated", "unchanged"]


class GitHubClient:
    """Calls the GitHub REST API of one repository with one token."""

    def __init__(
        self,
        api_url: str,
        token: str,
        repository: str,
        *,
        timeout: float = 10.0,
        retries: int = 4,
        deadline: float = 30.0,
        max_response_bytes: int = 32 * 1024 * 1024,
        backoff: float = 0.5,
        max_wait: float = 60.0,
        user_agent: str = f"mlci/{__version__}",
        bot_login: str | None = None,
        max_pages: int = 50,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token:
            raise ConfigError("no GitHub token: set GITHUB_TOKEN (or MLCI_GITHUB_TOKEN)")
        if repository.count("/") != 1 or not all(repository.split("/")):
            raise ConfigError(f"GitHub repository must be 'owner/name', not {repository!r}")
        self.api_url = api_url.rstrip("/")
        self.repository = repository
        self.timeout = timeout
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_wait = max_wait
        self.bot_login = bot_login
        self.max_pages = max_pages
        self._wait = sleep  # tests pass a recorder: the retry path's waits are asserted, not slept
        self._token = token
        self._rate_limit_waited = 0.0
        self._login: str | None = None
        self._login_known = False
        self._api_origin = urlsplit(self.api_url)[:2]
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": user_agent,
                "Authorization": f"Bearer {token}",
            }
        )

    @classmethod
    def from_context(cls, ctx: GitHubContext, **kwargs: Any) -> GitHubClient:
        """Return a client for the run's repository, API address and token."""
        if not ctx.token:
            raise ConfigError("no GitHub token: set GITHUB_TOKEN (or MLCI_GITHUB_TOKEN) in the step's env")
        if not ctx.repository:
            raise ConfigError("GITHUB_REPOSITORY is not set; mlci cannot tell which repository to call")
        kwargs.setdefault("bot_login", ctx.bot_login)
        return cls(ctx.api_url, ctx.token, ctx.repository, **kwargs)

    def __repr__(self) -> str:
        return f"GitHubClient(api_url={self.api_url!r}, repository={self.repository!r})"

    def close(self) -> None:
        """Release the pooled connections."""
        self._session.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return mask_secret(text, [self._token])

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            # Pagination links come from the server; never send the token to another host.
            if urlsplit(path)[:2] != self._api_origin:
                raise GitHubError(f"GitHub API sent a link to another host: {self._scrub(path)}")
            return path
        return f"{self.api_url}{path if path.startswith('/') else '/' + path}"

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._wait(seconds)

    def _backoff_delay(self, attempt: int) -> float:
        return float(self.backoff * (2 ** (attempt - 1)))

    def _rate_limit_delay(self, response: requests.Response) -> float | None:
        """Return how long GitHub asks us to wait, or None when this is no rate limit."""
        if response.status_code not in (403, 429):
            return None
        headers = response.headers
        retry_after = headers.get("Retry-After")
        if retry_after is not None:
            wait = _retry_after(retry_after)
            if wait is not None:
                return wait
            # A Retry-After that is neither seconds nor an HTTP date ("soon") still says this
            # is a limit; it gives no hint how long, so it is treated as one without headers.
        if headers.get("X-RateLimit-Remaining") == "0" and headers.get("X-RateLimit-Reset"):
            try:
                reset = float(headers["X-RateLimit-Reset"])
            except ValueError:
                reset = math.nan
            if not math.isfinite(reset):
                reset = time.time() + 60.0
            # One second of slack for clock skew between the runner and GitHub.
            return min(max(0.0, reset - time.time()) + 1.0, _LONGEST_WAIT)
        if response.status_code == 429 or retry_after is not None or "rate limit" in _message_of(response).lower():
            # A secondary limit without headers: GitHub asks for at least a minute.
            return 60.0
        return None

    def _rate_limit_error(self, delay: float) -> GitHubError:
        until = datetime.now(timezone.utc) + timedelta(seconds=delay)
        return GitHubError(
            f"GitHub rate limit exhausted until {until:%H:%M:%S}Z (in {round(delay)} s); "
            f"mlci waits at most {self.max_wait:g} s — re-run later",
            status=429,
        )

    def _error(self, method: str, path: str, response: requests.Response) -> GitHubError:
        status = response.status_code
        message = _message_of(response) or response.reason or "no message"
        details = _error_details(response)
        where = f"GitHub API {method} {_path_of(path)}"
        if status == 403 and message.startswith(READ_ONLY_MESSAGES):
            permission = _accepted_permission(response) or permission_for(method, _path_of(path)) or "a permission"
            return ReadOnlyToken(
                self._scrub(f"{where} returned 403: {message}"),
                permission=permission,
                hint=f"the token lacks `{permission}`: a pull request from a fork gets a read-only token; "
                f"otherwise add `{permission}` to the workflow's `permissions:`",
            )
        hint = {
            401: "check GITHUB_TOKEN / MLCI_GITHUB_TOKEN",
            404: f"check that {self.repository} exists and the token can see it",
        }.get(status)
        text = f"{where} returned {status}: {message}{details}"
        return GitHubError(self._scrub(text), status=status, hint=hint)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        idempotent: bool = True,
    ) -> requests.Response:
        """Send one API call with timeouts, backoff and rate-limit waits; return the 2xx response."""
        url = self._url(path)
        problem = "no attempt made"
        status: int | None = None
        for attempt in range(1, self.retries + 2):
            try:
                response = self._send(method, url, params, json_body)
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"{type(exc).__name__}: {exc}"
                status = None
            else:
                if 300 <= response.status_code < 400:
                    # Never followed: a redirect would carry the token elsewhere and turn a POST into a GET.
                    from mlci._internal.redaction import redact

                    where = redact(self._scrub(response.headers.get("Location", "") or "nowhere"))
                    raise GitHubError(
                        self._scrub(
                            f"GitHub API {method} {_path_of(path)} answered {response.status_code} "
                            f"(a redirect to {where}); mlci does not follow redirects"
                        ),
                        status=response.status_code,
                        hint="check GITHUB_API_URL and the repository name (was it renamed?)",
                    )
                if response.status_code < 400:
                    return response
                delay = self._rate_limit_delay(response)
                if delay is not None:
                    # A rate-limited request was not applied, so even a POST may be re-sent.
                    if delay > self.max_wait - self._rate_limit_waited:
                        raise self._rate_limit_error(delay)
                    if attempt > self.retries:
                        problem, status = "still rate limited", response.status_code
                        break
                    self._rate_limit_waited += delay
                    self._sleep(delay)
                    continue
                if response.status_code < 500:
                    raise self._error(method, path, response)
                status = response.status_code
                problem = f"{status} {response.reason or ''}".strip()
                message = _message_of(response)
                if message:
                    problem += f": {message}"
            if not idempotent:
                raise _OutcomeUnknown(
                    self._scrub(f"GitHub API {method} {_path_of(path)} failed: {problem}"), status=status
                )
            if attempt <= self.retries:
                self._sleep(self._backoff_delay(attempt))
        raise GitHubError(
            self._scrub(f"GitHub API {method} {_path_of(path)} failed after {self.retries + 1} attempts: {problem}"),
            status=status,
            hint="GitHub may be having an outage; re-run the job later",
        )

    def _send(self, method: str, url: str, params: Mapping[str, Any] | None, json_body: Any) -> requests.Response:
        """Send one HTTP request and read its whole answer within `deadline` and `max_response_bytes`.

        requests' timeout bounds each socket read, not the request: a server trickling a byte
        every few seconds never trips it. So the exchange runs on a daemon thread that reads the
        body in pieces (checking the deadline and the size cap between them), and the caller
        waits at most `deadline`. A thread stuck in a trickled header is abandoned (daemon: it
        cannot keep the process alive) and its connection closed once the body starts.
        """
        result: dict[str, Any] = {}
        stop = threading.Event()

        def exchange() -> None:
            try:
                response = self._session.request(
                    method, url, params=params, json=json_body, timeout=self.timeout, stream=True, allow_redirects=False
                )
                result["response"] = response
                chunks: list[bytes] = []
                size = 0
                for chunk in response.raw.stream(64 * 1024, decode_content=True):
                    size += len(chunk)
                    if size > self.max_response_bytes:
                        result["too_large"] = size
                        break
                    if stop.is_set():
                        break
                    chunks.append(chunk)
                response._content = b"".join(chunks)  # what .json() and .text read
                response.close()
            except BaseException as exc:  # handed to the caller's thread
                result["error"] = exc
            finally:
                result["done"] = True

        worker = threading.Thread(target=exchange, name="mlci-github-request", daemon=True)
        worker.start()
        worker.join(self.deadline)
        if worker.is_alive():
            stop.set()
            # Shut the socket down rather than close the response: close() would wait for the
            # worker's read, which holds the reader's lock for as long as the server trickles.
            sock = getattr(getattr(result.get("response") and result["response"].raw, "connection", None), "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            raise GitHubError(
                self._scrub(
                    f"GitHub API {method} {_path_of(url)} gave no complete answer within {self.deadline:g} s; "
                    "mlci stopped waiting"
                ),
                hint="GitHub or the network is too slow; re-run the job later",
            )
        if "error" in result:
            raise result["error"]
        if "too_large" in result:
            raise GitHubError(
                self._scrub(
                    f"GitHub API {method} {_path_of(url)} answered more than "
                    f"{self.max_response_bytes / 2**20:g} MiB; mlci stopped reading"
                ),
                status=result["response"].status_code,
            )
        response: requests.Response = result["response"]
        return response

    def _json(self, response: requests.Response) -> Any:
        where = f"GitHub API {response.request.method} {_path_of(response.url)}"
        try:
            return load_json(response.content)
        except NestingError as exc:
            raise GitHubError(f"{where} returned {exc}", status=response.status_code) from None
        except ValueError as exc:
            raise GitHubError(f"{where} returned a body that is not JSON", status=response.status_code) from exc

    def _answer(self, model: type[A], data: Any, where: str, at: tuple[str | int, ...] = ()) -> A:
        """Return `data` (a decoded answer of the call `where`) as `model`; GitHubError naming a wrong field."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise GitHubError(
                self._scrub(f"{where}: in GitHub's answer, {problem(exc, at)}"),
                hint="GitHub's API description does not allow that answer (a proxy, or a change at GitHub?); "
                "re-run later, and report it if it persists",
            ) from None

    def _call(
        self, model: type[A], method: str, path: str, *, json_body: Any = None, params: Mapping[str, Any] | None = None
    ) -> A:
        """Send one idempotent call and return its answer as `model`."""
        response = self._request(method, path, params=params, json_body=json_body)
        return self._answer(model, self._json(response), f"GitHub API {method} {_path_of(path)}")

    def _create_once(
        self,
        path: str,
        body: Mapping[str, Any],
        find: Callable[[], A | None],
        parse: Callable[[Any, str], A],
    ) -> A:
        """POST `body` and return its answer read by `parse`; after a failure of unknown outcome, what `find` sees."""
        last: _OutcomeUnknown | None = None
        for attempt in range(1, self.retries + 2):
            try:
                created = self._json(self._request("POST", path, json_body=body, idempotent=False))
                return parse(created, f"GitHub API POST {_path_of(path)}")
            except _OutcomeUnknown as exc:
                last = exc
            found = find()
            if found is not None:
                return found
            if attempt <= self.retries:
                self._sleep(self._backoff_delay(attempt))
        assert last is not None
        raise GitHubError(
            f"{last.message} (after {self.retries + 1} attempts)",
            status=last.status,
            hint="GitHub may be having an outage; re-run the job later",
        )

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """Return the decoded JSON of a GET."""
        return self._json(self._request("GET", path, params=params))

    def paginate(self, path: str, model: type[A], params: Mapping[str, Any] | None = None) -> Iterator[A]:
        """Yield every item of a list endpoint as `model`, following `Link: rel="next"` (bounded)."""
        query: dict[str, Any] = {"per_page": 100, **(params or {})}
        url: str = path
        where = f"GitHub API GET {_path_of(path)}"
        for _page in range(self.max_pages):
            response = self._request("GET", url, params=query)
            items = self._json(response)
            if not isinstance(items, list):
                raise GitHubError(f"{where} did not return a list")
            yield from (self._answer(model, item, where, (i,)) for i, item in enumerate(items))
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return
            # The next link already carries every query parameter.
            url, query = next_url, {}
        raise GitHubError(f"{where} has more than {self.max_pages} pages; mlci stopped reading")

    # -- identity ----------------------------------------------------------------------

    def authenticated_login(self) -> str | None:
        """Return the token's user login, or None when GitHub will not say (installation tokens)."""
        if not self._login_known:
            try:
                login: str | None = self._call(Account, "GET", "/user").login
            except GitHubError as exc:
                # GITHUB_TOKEN and GitHub App installation tokens get 403 on GET /user.
                if exc.status not in (401, 403, 404):
                    raise
                login = None
            self._login = login or None
            self._login_known = True
        return self._login

    def _is_own(self, item: Comment | Issue) -> bool:
        """Return True when mlci wrote `item` with this token's identity (callers check the marker).

        A personal token answers GET /user with its login. An installation token (the job's
        GITHUB_TOKEN writes as github-actions[bot], a GitHub App as <slug>[bot]) cannot ask, so
        any bot author counts, unless `bot_login` pins one. A human's comment is never ours
        without a personal token of that human, even when it carries the marker.
        """
        user = item.user
        if user is None:
            return False
        if self.bot_login:
            return user.login == self.bot_login
        login = self.authenticated_login()
        if login is not None:
            return user.login == login
        return user.type == "Bot"

    # -- sticky comments ---------------------------------------------------------------

    def _repo_path(self, suffix: str) -> str:
        return f"/repos/{self.repository}{suffix}"

    def find_comment(self, issue_number: int, marker: str) -> Comment | None:
        """Return our own oldest comment on the issue/PR that contains `marker`, else None."""
        for comment in self.paginate(self._repo_path(f"/issues/{issue_number}/comments"), Comment):
            if marker in (comment.body or "") and self._is_own(comment):
                return comment
        return None

    def upsert_comment(self, issue_number: int, marker: str, body: str) -> CommentResult:
        """Edit our comment carrying `marker` on the issue/PR, or create it; return where it is."""
        if not marker:
            raise ValueError("a sticky comment needs a non-empty marker")
        if not body.startswith(marker):
            body = f"{marker}\n{body}"
        existing = self.find_comment(issue_number, marker)
        if existing is not None:
            path = self._repo_path(f"/issues/comments/{existing.id}")
            updated = self._call(Comment, "PATCH", path, json_body={"body": body})
            return CommentResult(updated.id, updated.html_url, "updated")
        created = self._create_once(
            self._repo_path(f"/issues/{issue_number}/comments"),
            {"body": body},
            lambda: self.find_comment(issue_number, marker),
            functools.partial(self._answer, Comment),
        )
        return CommentResult(created.id, created.html_url, "created")

    def add_issue_comment(self, number: int, body: str) -> str:
        """Post a comment on an issue or PR; return its web address."""
        started = datetime.now(timezone.utc)

        def find() -> Comment | None:
            newest: Comment | None = None
            for comment in self.paginate(self._repo_path(f"/issues/{number}/comments"), Comment):
                if comment.body == body and self._is_own(comment):
                    newest = comment
            if newest is None:
                return None
            created_at = _parse_time(newest.created_at)
            recent = created_at is not None and created_at >= started - _RECENT_DUPLICATE
            return newest if recent else None

        path = self._repo_path(f"/issues/{number}/comments")
        created = self._create_once(path, {"body": body}, find, functools.partial(self._answer, Comment))
        return created.html_url

    # -- statuses and deployments ------------------------------------------------------

    def create_status(
        self,
        sha: str,
        state: str,
        context: str,
        description: str = "",
        target_url: str | None = None,
    ) -> int:
        """Set a commit status (idempotent per context: the latest wins); return its id."""
        if state not in STATUS_STATES:
            raise ValueError(f"commit status state must be one of {', '.join(STATUS_STATES)}, not {state!r}")
        body: dict[str, Any] = {"state": state, "context": context, "description": _truncate(description, 140)}
        if target_url:
            body["target_url"] = target_url
        return self._call(Created, "POST", self._repo_path(f"/statuses/{sha}"), json_body=body).id

    def report_check_run(
        self,
        sha: str,
        name: str,
        conclusion: str,
        title: str,
        summary: str,
        annotations: list[CheckAnnotation] | None = None,
        details_url: str | None = None,
    ) -> CheckRun:
        """Create the completed check run `name` on `sha` with its output and annotations; return it.

        GitHub takes at most 50 annotations per request and appends each request's to the run's:
        the first 50 go with the creation, each further 50 in a PATCH of the same output. The run
        is created completed (never left `in_progress`: a job that dies then leaves no check that
        waits forever; the commit status says `pending` meanwhile). A 403 (a token without
        `checks: write`, or not a GitHub App's) is raised for the caller to fall back to statuses.
        """
        if conclusion not in CHECK_CONCLUSIONS:
            raise ValueError(f"check run conclusion must be one of {', '.join(CHECK_CONCLUSIONS)}, not {conclusion!r}")
        notes = list(annotations or [])
        pages = [
            notes[i : i + CHECK_ANNOTATIONS_PER_REQUEST] for i in range(0, len(notes), CHECK_ANNOTATIONS_PER_REQUEST)
        ]
        output: dict[str, Any] = {"title": _truncate(title, 1000), "summary": _truncate(summary, CHECK_SUMMARY_LIMIT)}
        body: dict[str, Any] = {
            "name": name,
            "head_sha": sha,
            "status": "completed",
            "conclusion": conclusion,
            "output": {**output, "annotations": [a.json() for a in pages[0]] if pages else []},
        }
        if details_url:
            body["details_url"] = details_url
        # A POST whose answer was lost is sent again: GitHub shows the newest run of a name, so a
        # duplicate carries the same verdict (the Checks API has no idempotency key to look for).
        run = self._create_once(
            self._repo_path("/check-runs"), body, lambda: None, functools.partial(self._answer, CheckRun)
        )
        for page in pages[1:]:
            path = self._repo_path(f"/check-runs/{run.id}")
            run = self._call(
                CheckRun, "PATCH", path, json_body={"output": {**output, "annotations": [a.json() for a in page]}}
            )
        return run

    def create_deployment(
        self,
        ref: str,
        environment: str,
        payload: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> int:
        """Record a GitHub deployment of `ref` to `environment`; return its id."""
        request_id = uuid.uuid4().hex
        # The request id in the payload lets a retry find the deployment a failed POST made.
        full_payload = {**(payload or {}), "mlci_request_id": request_id}
        body = {
            "ref": ref,
            "task": "deploy",
            "environment": environment,
            "payload": full_payload,
            "description": _truncate(description, 140),
            "auto_merge": False,
            "required_contexts": [],
            "transient_environment": False,
            "production_environment": environment == "production",
        }

        def find() -> Deployment | None:
            params = {"ref": ref, "environment": environment, "per_page": 30}
            path = self._repo_path("/deployments")
            listed = self.get(path, params=params)
            if not isinstance(listed, list):
                raise GitHubError(f"GitHub API GET {path} did not return a list")
            for i, item in enumerate(listed):
                deployment = self._answer(Deployment, item, f"GitHub API GET {path}", (i,))
                if _payload_of(deployment).get("mlci_request_id") == request_id:
                    return deployment
            return None

        def parse(created: Any, where: str) -> Deployment:
            if isinstance(created, dict) and "id" not in created:
                # 202: GitHub answered with a message instead of a deployment (auto-merge).
                accepted = self._answer(Accepted, created, where)
                raise GitHubError(f"GitHub did not create the deployment: {accepted.message or 'no message'}")
            return self._answer(Deployment, created, where)

        return self._create_once(self._repo_path("/deployments"), body, find, parse).id

    def create_deployment_status(
        self,
        deployment_id: int,
        state: str,
        *,
        environment_url: str | None = None,
        log_url: str | None = None,
        description: str = "",
        environment: str | None = None,
    ) -> int:
        """Record a deployment's state (a duplicate is harmless: the latest wins); return its id."""
        if state not in DEPLOYMENT_STATES:
            raise ValueError(f"deployment state must be one of {', '.join(DEPLOYMENT_STATES)}, not {state!r}")
        body: dict[str, Any] = {"state": state, "description": _truncate(description, 140)}
        if environment_url:
            body["environment_url"] = environment_url
        if log_url:
            body["log_url"] = log_url
        if environment:
            body["environment"] = environment
        path = self._repo_path(f"/deployments/{deployment_id}/statuses")
        return self._call(Created, "POST", path, json_body=body).id

    # -- commits and pull requests -----------------------------------------------------

    def pulls_for_commit(self, sha: str) -> list[int]:
        """Return the numbers of the PRs associated with a commit, merged ones first."""
        pulls = list(self.paginate(self._repo_path(f"/commits/{sha}/pulls"), PullOfCommit))
        merged = [p.number for p in pulls if p.merged_at]
        others = [p.number for p in pulls if not p.merged_at]
        return merged + others

    def commit_message(self, sha: str) -> str:
        """Return a commit's full message."""
        return self._call(Commit, "GET", self._repo_path(f"/commits/{sha}")).commit.message

    def pull_request(self, number: int) -> PullRequest:
        """Return GitHub's record of pull request `number`: merged or not, its head commit and repository."""
        return self._call(PullRequest, "GET", self._repo_path(f"/pulls/{number}"))

    # -- tracking issues ---------------------------------------------------------------

    def find_issue(self, marker: str, labels: list[str]) -> Issue | None:
        """Return our own issue (open or closed) whose body holds `marker`, else None."""
        params = {"state": "all", "labels": ",".join(labels)} if labels else {"state": "all"}
        for issue in self.paginate(self._repo_path("/issues"), Issue, params):
            if issue.pull_request is not None:
                continue
            if marker in (issue.body or "") and self._is_own(issue):
                return issue
        return None

    def ensure_label(self, name: str, color: str = "5319e7", description: str = "") -> None:
        """Create a label unless it already exists."""
        body = {"name": name, "color": color, "description": description or "Managed by mlci"}
        try:
            self._request("POST", self._repo_path("/labels"), json_body=body)
        except GitHubError as exc:
            if exc.status == 422 and "already_exists" in exc.message:
                return
            raise

    def upsert_issue(self, marker: str, title: str, body: str, labels: list[str] | None = None) -> IssueResult:
        """Edit our issue carrying `marker`, or open it; return its number, address and what changed."""
        labels = ["mlci"] if labels is None else list(labels)
        if not marker:
            raise ValueError("a tracking issue needs a non-empty marker")
        if not body.startswith(marker):
            body = f"{marker}\n{body}"
        existing = self.find_issue(marker, labels)
        if existing is not None:
            if existing.body == body and existing.title == title:
                return IssueResult(existing.number, existing.html_url, "unchanged")
            path = self._repo_path(f"/issues/{existing.number}")
            updated = self._call(Issue, "PATCH", path, json_body={"title": title, "body": body})
            return IssueResult(existing.number, updated.html_url, "updated")
        for label in labels:
            self.ensure_label(label)
        created = self._create_once(
            self._repo_path("/issues"),
            {"title": title, "body": body, "labels": labels},
            lambda: self.find_issue(marker, labels),
            functools.partial(self._answer, Issue),
        )
        return IssueResult(created.number, created.html_url, "created")


def _payload_of(deployment: Deployment) -> dict[str, Any]:
    """Return a deployment's payload as a mapping: GitHub allows an object or a JSON text (or any text)."""
    payload: Any = deployment.payload
    if isinstance(payload, str):
        try:
            payload = load_json(payload) if payload.strip() else {}
        except ValueError:
            return {}
    return payload if isinstance(payload, dict) else {}


def _retry_after(value: str) -> float | None:
    """Return the seconds a Retry-After header asks for (delay-seconds or an HTTP date), or None when it is neither."""
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # RFC 9110's dates are GMT; "-0000" parses without a zone
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), _LONGEST_WAIT)


def _accepted_permission(response: requests.Response) -> str | None:
    """Return the permissions GitHub's X-Accepted-GitHub-Permissions accepts ("a: write or b: write")."""
    # "issues=write; pull_requests=write": semicolons separate the sets GitHub accepts.
    header = response.headers.get("X-Accepted-GitHub-Permissions", "")
    accepted = []
    for grant in header.split(";"):
        name, _, access = grant.strip().partition("=")
        if name and access:
            accepted.append(f"{name.strip().replace('_', '-')}: {access.strip()}")
    return " or ".join(accepted) or None


def _decoded(response: requests.Response) -> Any:
    """Return an answer's JSON, or None when it is not JSON (or nests too deep to read)."""
    try:
        return load_json(response.content)
    except ValueError:
        return None


def _message_of(response: requests.Response) -> str:
    data = _decoded(response)
    message = data.get("message") if isinstance(data, dict) else None
    return str(message) if message else ""


def _error_details(response: requests.Response) -> str:
    """Return GitHub's validation details (`errors: [{code, field, message}]`) as a suffix."""
    data = _decoded(response)
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list) or not errors:
        return ""
    parts = []
    for error in errors:
        if isinstance(error, dict):
            bits = [str(error[k]) for k in ("field", "code", "message") if error.get(k)]
            parts.append(" ".join(bits))
        else:
            parts.append(str(error))
    return " (" + "; ".join(parts) + ")"


def _path_of(url: str) -> str:
    return urlsplit(url).path if url.startswith(("http://", "https://")) else url


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
