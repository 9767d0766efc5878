"""A GitHub REST API server for the test suite (GitHub itself cannot be reached from tests).

It serves one repository on 127.0.0.1 with GitHub's real request and response shapes for
the endpoints mlci calls: issue/PR comments, issues, labels, commit statuses, check runs,
deployments and their statuses, commits and their pull requests, and `GET /user`. It paginates with
`Link` headers, sends rate-limit headers, authenticates bearer tokens, and can inject
faults (5xx, dropped connections, delays, rate limits) so retry behaviour is tested for real.

    with GitHubServer() as gh:
        gh.add_pull(7, head_sha="a" * 40)
        client = GitHubClient(gh.url, gh.token, gh.repository)

Both `/repos/...` and the GitHub Enterprise form `/api/v3/repos/...` are served.

It is at least as strict as GitHub (tests/github_spec.py holds GitHub's own description):
- every request is matched to an operation of the vendored REST description and validated
  against it (path and query parameters, JSON body: types, enums, required fields); a request
  that matches none, or does not validate, is answered like GitHub (404/422) and recorded in
  `violations`, which the `github_server` fixture turns into a failure of the test that sent it;
- every 2xx answer is given the fields the description requires (from its examples) and
  checked against the response schema, so the server cannot drift from GitHub's shapes;
- what GitHub enforces beyond the schema: 422 for a comment or issue body over 65,536
  characters, a title over 256 and a status description over 140; 409 for a deployment whose
  required contexts are not all `success`; 202 (auto-merge, no deployment) for a ref behind
  the default branch unless `auto_merge: false`; `payload` kept as sent (an object or a string);
  check runs only from GitHub Apps (a personal token gets 403 "You must authenticate via a GitHub
  App."), on a known commit, `completed` only with a `conclusion`, each request's annotations
  appended to the run's (at most 50 per request, as the description says);
- per-token fine-grained permissions from GitHub's published permission data (403 "Resource
  not accessible by integration"), and 403 on `GET /user` for installation tokens (the
  operation is not enabled for GitHub Apps in the description).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.support import github_spec

DOCS = "https://docs.github.com/rest"
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
STATUS_STATES = ("error", "failure", "pending", "success")
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")


@dataclass
class Account:
    """Who a token authenticates as."""

    login: str
    id: int
    type: str = "User"  # "User" or "Bot"
    read_only: bool = False
    # Installation tokens (the Actions GITHUB_TOKEN, a GitHub App's token) cannot read GET /user.
    installation: bool = False
    # Fine-grained permissions {"issues": "write", ...}; None: everything (a maintainer's PAT).
    # `metadata: read` is always granted, as GitHub does.
    permissions: dict[str, str] | None = None

    def grants(self, permission: str, access: str) -> bool:
        """Return True when this token holds `permission` at `access` (write implies read)."""
        if permission == "metadata" and access == "read":
            return True
        if self.permissions is None:
            return not (self.read_only and access == "write")
        held = self.permissions.get(permission.replace("_", "-"), "none")
        return held == "write" or (held == "read" and access == "read")

    def json(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "id": self.id,
            "node_id": f"U_{self.id}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{self.id}?v=4",
            "url": f"https://api.github.com/users/{self.login}",
            "html_url": f"https://github.com/{self.login}",
            "type": self.type,
            "site_admin": False,
        }


@dataclass
class RecordedRequest:
    """One request as the server saw it (the Authorization value is redacted)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class _Fault:
    kind: str  # "fail" | "drop" | "delay" | "corrupt"
    status: int = 502
    method: str | None = None
    after: bool = False
    seconds: float = 0.0
    message: str = "Server Error"
    field: str = ""  # "corrupt": the answer's field (dotted) set to `value`
    value: Any = None


@dataclass
class _Response:
    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class _Error(Exception):
    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.payload = {"message": message, "documentation_url": DOCS, "status": str(status), **extra}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_found() -> _Error:
    return _Error(404, "Not Found")


def _validation(resource: str, code: str, field_name: str) -> _Error:
    return _Error(422, "Validation Failed", errors=[{"resource": resource, "code": code, "field": field_name}])


class GitHubServer:
    """An in-memory GitHub API for one repository, on a free port of 127.0.0.1."""

    def __init__(
        self,
        repository: str = "octo-org/ml-repo",
        *,
        html_url: str = "https://github.com",
        strict_commits: bool = True,
    ) -> None:
        self.repository = repository
        self.html_url = html_url
        # With strict_commits, statuses on a SHA the server does not know get GitHub's 422.
        self.strict_commits = strict_commits
        self.requests: list[RecordedRequest] = []
        # Requests GitHub would refuse (not described, invalid, over its limits), and answers
        # of this server that differ from the description: each fails the test (see fixture).
        self.violations: list[str] = []
        # Branches behind the default branch: a deployment of one auto-merges (202) unless told not to.
        self.behind: set[str] = set()
        self._lock = threading.RLock()
        self._ids = 1000
        self._accounts: dict[str, Account] = {}
        self._users: dict[str, Account] = {}
        self._issues: dict[int, dict[str, Any]] = {}
        self._comments: dict[int, dict[str, Any]] = {}
        self._pulls: dict[int, dict[str, Any]] = {}
        self._commits: dict[str, dict[str, Any]] = {}
        self._statuses: dict[str, list[dict[str, Any]]] = {}
        self._check_runs: dict[int, dict[str, Any]] = {}
        self._deployments: dict[int, dict[str, Any]] = {}
        self._deployment_statuses: dict[int, list[dict[str, Any]]] = {}
        self._labels: dict[str, dict[str, Any]] = {}
        # The release workflow's state: git refs ({"refs/tags/v1": sha}) and releases with their assets.
        self._refs: dict[str, str] = {}
        self._releases: dict[int, dict[str, Any]] = {}
        self._faults: list[_Fault] = []
        self._limited_until = 0.0
        self._limit_status = 403
        self._limit_retry_after: float | str | None = None
        self._used: dict[str, int] = {}
        self._window_reset = int(time.time()) + 3600
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

        # The job's GITHUB_TOKEN: writes as github-actions[bot], cannot read GET /user.
        self.token = "ghs_" + secrets.token_hex(18)
        self.add_token(self.token, "github-actions[bot]", type="Bot", installation=True, user_id=41898282)
        # A fork PR's GITHUB_TOKEN: same identity, read-only.
        self.readonly_token = "ghs_" + secrets.token_hex(18)
        self.add_token(
            self.readonly_token, "github-actions[bot]", type="Bot", installation=True, read_only=True, user_id=41898282
        )
        # A personal access token of a human maintainer.
        self.user_token = "ghp_" + secrets.token_hex(18)
        self.add_token(self.user_token, "octocat", type="User", user_id=583231)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> GitHubServer:
        """Bind a free port of 127.0.0.1 and serve in a background thread."""
        handler = type("_BoundHandler", (_Handler,), {"gh": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> GitHubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Return the API base address, e.g. http://127.0.0.1:PORT (use as GITHUB_API_URL)."""
        if self._httpd is None:
            raise RuntimeError("GitHubServer is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def env(self, token: str | None = None) -> dict[str, str]:
        """Return the environment variables a job would see for this server."""
        return {
            "GITHUB_API_URL": self.url,
            "GITHUB_SERVER_URL": self.html_url,
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_TOKEN": token or self.token,
        }

    # -- accounts ----------------------------------------------------------------------

    def add_token(
        self,
        token: str,
        login: str,
        *,
        type: str = "User",
        read_only: bool = False,
        installation: bool = False,
        user_id: int | None = None,
        permissions: dict[str, str] | None = None,
    ) -> Account:
        """Register a token and the account it authenticates as (`permissions` as in a workflow)."""
        with self._lock:
            known = self._users.get(login)
            account = Account(
                login=login,
                id=user_id or (known.id if known else self._next_id()),
                type=type,
                read_only=read_only,
                installation=installation,
                permissions=dict(permissions) if permissions is not None else None,
            )
            self._accounts[token] = account
            self._users.setdefault(login, account)
            return account

    def _user(self, user: str | Account | None) -> Account:
        if isinstance(user, Account):
            return user
        login = user or "octocat"
        with self._lock:
            if login not in self._users:
                kind = "Bot" if login.endswith("[bot]") else "User"
                self._users[login] = Account(login=login, id=self._next_id(), type=kind)
            return self._users[login]

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    # -- state helpers for tests -------------------------------------------------------

    def add_commit(self, sha: str, message: str = "commit", pulls: list[int] | None = None) -> dict[str, Any]:
        """Add a commit (optionally associated with PR numbers); return its API shape."""
        with self._lock:
            commit = {
                "sha": sha,
                "node_id": f"C_{sha[:12]}",
                "url": f"{self._api()}/repos/{self.repository}/commits/{sha}",
                "html_url": f"{self.html_url}/{self.repository}/commit/{sha}",
                "commit": {
                    "message": message,
                    "author": {"name": "Octo Cat", "email": "octocat@example.com", "date": _now()},
                    "committer": {"name": "GitHub", "email": "noreply@github.com", "date": _now()},
                },
                "parents": [],
                "_pulls": list(pulls or []),
            }
            self._commits[sha] = commit
            return _public(commit)

    def add_pull(
        self,
        number: int | None = None,
        head_sha: str | None = None,
        merge_commit_sha: str | None = None,
        title: str = "Improve the model",
        *,
        merged: bool = False,
        head_ref: str = "feature",
        base_ref: str = "main",
        user: str = "octocat",
        body: str = "",
        fork: bool = False,
    ) -> dict[str, Any]:
        """Add a pull request (and its issue, and its commits); return the pull's API shape."""
        with self._lock:
            number = number or self._next_number()
            head_sha = head_sha or hashlib.sha1(f"head-{number}".encode()).hexdigest()
            author = self._user(user)
            if head_sha not in self._commits:
                self.add_commit(head_sha, title)
            if merge_commit_sha and merge_commit_sha not in self._commits:
                self.add_commit(merge_commit_sha, f"Merge pull request #{number} from {head_ref}\n\n{title}")
            now = _now()
            repo = self.repository
            head_repo = f"{author.login}/{repo.split('/')[1]}" if fork else repo
            html = f"{self.html_url}/{repo}/pull/{number}"
            pull = {
                "id": self._next_id(),
                "node_id": f"PR_{number}",
                "number": number,
                "state": "closed" if merged else "open",
                "title": title,
                "body": body,
                "user": author.json(),
                "url": f"{self._api()}/repos/{repo}/pulls/{number}",
                "html_url": html,
                "head": {"ref": head_ref, "sha": head_sha, "repo": {"full_name": head_repo, "fork": fork}},
                "base": {"ref": base_ref, "sha": "0" * 40, "repo": {"full_name": repo, "fork": False}},
                "merged_at": now if merged else None,
                "merge_commit_sha": merge_commit_sha,
                "draft": False,
                "created_at": now,
                "updated_at": now,
            }
            self._pulls[number] = pull
            issue = self._new_issue(number, title, body, author, [])
            issue["pull_request"] = {
                "url": pull["url"],
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": pull["merged_at"],
            }
            issue["html_url"] = html
            if merged:
                issue["state"] = "closed"
                issue["closed_at"] = now
            return copy.deepcopy(pull)

    def push_to_pull(self, number: int, head_sha: str, message: str = "A newer push") -> None:
        """Move PR `number`'s head to a new commit (a `synchronize`)."""
        with self._lock:
            if head_sha not in self._commits:
                self.add_commit(head_sha, message)
            self._pulls[number]["head"]["sha"] = head_sha

    def add_issue(self, title: str, body: str = "", user: str = "octocat", labels: list[str] | None = None) -> int:
        """Add a plain issue; return its number."""
        with self._lock:
            issue = self._new_issue(self._next_number(), title, body, self._user(user), labels or [])
            return int(issue["number"])

    def add_comment(self, issue: int, body: str, user: str = "octocat") -> dict[str, Any]:
        """Add a comment to an issue or PR as `user`; return its API shape."""
        with self._lock:
            if issue not in self._issues:
                raise KeyError(f"no issue or pull request #{issue}")
            return copy.deepcopy(self._new_comment(issue, body, self._user(user)))

    def comments(self, issue: int) -> list[dict[str, Any]]:
        """Return the comments on an issue or PR, oldest first."""
        with self._lock:
            return [copy.deepcopy(c) for c in self._comments.values() if c["_issue"] == issue]

    def statuses(self, sha: str) -> list[dict[str, Any]]:
        """Return the commit statuses set on `sha`, newest first (as GitHub lists them)."""
        with self._lock:
            return [copy.deepcopy(s) for s in reversed(self._statuses.get(sha, []))]

    def check_runs(self, sha: str | None = None) -> list[dict[str, Any]]:
        """Return the check runs (of commit `sha`), oldest first, each with its `annotations` as GitHub keeps them."""
        with self._lock:
            return [
                {**_public(run), "annotations": copy.deepcopy(run["_annotations"])}
                for run in self._check_runs.values()
                if sha is None or run["head_sha"] == sha
            ]

    def deployments(self) -> list[dict[str, Any]]:
        """Return every deployment, newest first."""
        with self._lock:
            return [copy.deepcopy(d) for d in sorted(self._deployments.values(), key=lambda d: -d["id"])]

    def deployment_statuses(self, deployment_id: int) -> list[dict[str, Any]]:
        """Return a deployment's statuses, newest first."""
        with self._lock:
            return [copy.deepcopy(s) for s in reversed(self._deployment_statuses.get(deployment_id, []))]

    def issues(self) -> list[dict[str, Any]]:
        """Return the plain issues (not pull requests), oldest first."""
        with self._lock:
            return [_public(i) for i in self._issues.values() if "pull_request" not in i]

    def labels(self) -> list[dict[str, Any]]:
        """Return the repository's labels."""
        with self._lock:
            return [copy.deepcopy(label) for label in self._labels.values()]

    def add_ref(self, ref: str, sha: str) -> None:
        """Create or move a git ref (`refs/tags/v1`) to a commit, as a push would."""
        with self._lock:
            if sha not in self._commits:
                self.add_commit(sha)
            self._refs[ref] = sha

    def ref(self, ref: str) -> str | None:
        """Return the commit a git ref (`refs/tags/v1`) points at, or None."""
        with self._lock:
            return self._refs.get(ref)

    def releases(self) -> list[dict[str, Any]]:
        """Return the releases, oldest first, each with `assets` {name: bytes} of what was uploaded."""
        with self._lock:
            return [{**_public(r), "assets": dict(r["_assets"])} for r in self._releases.values()]

    def take_violations(self) -> list[str]:
        """Return the recorded violations and forget them (for tests that provoke one on purpose)."""
        with self._lock:
            found, self.violations = self.violations, []
            return found

    def _violate(self, text: str) -> None:
        with self._lock:
            self.violations.append(text)

    def requests_for(self, method: str, path_contains: str = "") -> list[RecordedRequest]:
        """Return the recorded requests of one method whose path contains a fragment."""
        with self._lock:
            return [r for r in self.requests if r.method == method and path_contains in r.path]

    # -- fault injection ---------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 502,
        *,
        method: str | None = None,
        after: bool = False,
        message: str = "Server Error",
    ) -> None:
        """Answer the next `n` requests (of `method`, if given) with `status` and `message`.

        With `after=True` the request is applied first and its answer lost, like a proxy
        timing out after GitHub committed the write.
        """
        with self._lock:
            self._faults.extend(
                _Fault("fail", status=status, method=method, after=after, message=message) for _ in range(n)
            )

    def drop_next(self, n: int = 1, *, method: str | None = None) -> None:
        """Close the connection of the next `n` requests without answering."""
        with self._lock:
            self._faults.extend(_Fault("drop", method=method) for _ in range(n))

    def delay_next(self, seconds: float, n: int = 1, *, method: str | None = None) -> None:
        """Hold the next `n` requests for `seconds` before handling them."""
        with self._lock:
            self._faults.extend(_Fault("delay", method=method, seconds=seconds) for _ in range(n))

    def corrupt_next(self, field_name: str, value: Any, n: int = 1, *, method: str | None = None) -> None:
        """Answer the next `n` successful requests (of `method`, if given) with `field_name` set to `value`.

        A fault like `fail_next`: the answer then breaks GitHub's description on purpose (a
        proxy's or a bug's, e.g. a comment whose `body` is a number), so it is not recorded as
        a violation. `field_name` is dotted (`user.login`); in a list it is set in every item.
        """
        with self._lock:
            self._faults.extend(_Fault("corrupt", method=method, field=field_name, value=value) for _ in range(n))

    def rate_limit_next(
        self, reset_in: float = 2.0, *, status: int = 403, retry_after: float | str | None = None
    ) -> None:
        """Rate-limit every request for the next `reset_in` seconds (primary limit headers).

        With `retry_after`, answer like a secondary limit: a `Retry-After` header instead (a
        number of seconds, or a text sent as it is, such as an HTTP date or a malformed `soon`).
        """
        with self._lock:
            self._limited_until = time.time() + reset_in
            self._limit_status = status
            self._limit_retry_after = retry_after

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass for the rate limit, as if a client had slept them (its clock is injected)."""
        with self._lock:
            self._limited_until -= seconds

    def clear_faults(self) -> None:
        """Forget every pending injected fault and end any rate limit."""
        with self._lock:
            self._faults.clear()
            self._limited_until = 0.0

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.method is None or fault.method == method:
                    return self._faults.pop(i)
            return None

    # -- request handling --------------------------------------------------------------

    def _api(self) -> str:
        return self.url if self._httpd is not None else "http://127.0.0.1"

    def _rate_headers(self, token: str | None) -> dict[str, str]:
        with self._lock:
            now = time.time()
            if now >= self._window_reset:
                self._window_reset = int(now) + 3600
                self._used.clear()
            account = self._accounts.get(token or "")
            limit = 1000 if account and account.installation else 5000
            key = token or ""
            self._used[key] = self._used.get(key, 0) + 1
            used = self._used[key]
            reset = self._window_reset
            if now < self._limited_until:
                used, reset = limit, math.ceil(self._limited_until)
            return {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": str(max(0, limit - used)),
                "X-RateLimit-Reset": str(reset),
                "X-RateLimit-Used": str(used),
                "X-RateLimit-Resource": "core",
            }

    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> _Response | None:
        """Answer one request; None means drop the connection."""
        parts = urlsplit(raw_path)
        path = parts.path
        if path.startswith("/api/v3"):
            path = path[len("/api/v3") :] or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        auth = headers.get("Authorization", "")
        token = auth.split(" ", 1)[1].strip() if " " in auth else None
        shown = dict(headers)
        if "Authorization" in shown:
            shown["Authorization"] = auth.split(" ", 1)[0] + " <redacted>"
        body: Any = None
        bad_json = False
        if raw_body and headers.get("Content-Type", "").startswith("application/octet-stream"):
            body = raw_body  # a release asset: its bytes, as uploaded
        elif raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                bad_json = True
        record = RecordedRequest(method, path, query, shown, body)
        with self._lock:
            self.requests.append(record)

        response = self._respond(method, path, query, token, body, bad_json, bool(raw_body))
        record.status = response.status if response else 0
        return response

    def _respond(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        token: str | None,
        body: Any,
        bad_json: bool,
        has_body: bool,
    ) -> _Response | None:
        fault = self._take_fault(method)
        while fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
            fault = self._take_fault(method)
        if fault is not None and fault.kind == "drop":
            return None
        rate = self._rate_headers(token)
        if fault is not None and fault.kind == "fail":
            if fault.after:
                self._route(method, path, query, token, body, bad_json, has_body)
            return _Response(fault.status, {"message": fault.message, "documentation_url": DOCS}, rate)
        if time.time() < self._limited_until:
            extra = dict(rate)
            if self._limit_retry_after is not None:
                retry_after = self._limit_retry_after
                extra["Retry-After"] = retry_after if isinstance(retry_after, str) else str(math.ceil(retry_after))
                extra["X-RateLimit-Remaining"] = "10"
                message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            else:
                message = "API rate limit exceeded for installation ID 1."
            payload = {
                "message": message,
                "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api",
                "status": str(self._limit_status),
            }
            return _Response(self._limit_status, payload, extra)
        response = self._route(method, path, query, token, body, bad_json, has_body)
        response.headers.update(rate)
        if fault is not None and fault.kind == "corrupt" and 200 <= response.status < 300:
            # After the answer was checked against the description: this one breaks it on purpose.
            items = response.payload if isinstance(response.payload, list) else [response.payload]
            for item in items:
                *parents, last = fault.field.split(".")
                for name in parents:
                    item = item.setdefault(name, {}) if isinstance(item, dict) else None
                if isinstance(item, dict):
                    item[last] = copy.deepcopy(fault.value)
        return response

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        token: str | None,
        body: Any,
        bad_json: bool,
        has_body: bool,
    ) -> _Response:
        try:
            account = self._accounts.get(token or "")
            if account is None:
                raise _Error(401, "Bad credentials" if token else "Requires authentication")
            if bad_json:
                self._violate(f"{method} {path}: the body is not JSON")
                raise _Error(400, "Problems parsing JSON")
            operation = github_spec.match(method, path)
            if operation is None:
                self._violate(f"{method} {path}: no operation of the vendored REST description matches")
                raise _not_found()
            problems = github_spec.validate_request(operation, query, body, has_body)
            if problems:
                self._violate(f"{operation.key} ({path}): " + "; ".join(problems))
                raise _Error(422, "Invalid request.\n\n" + "\n".join(problems))
            if account.installation and not operation.enabled_for_apps:
                raise _Error(403, "Resource not accessible by integration")
            self._authorize(account, operation)
            self._limits(operation, body if isinstance(body, dict) else {}, path)
            response = self._dispatch(account, method, path, query, body if isinstance(body, dict | bytes) else {})
        except _Error as exc:
            return _Response(exc.status, exc.payload, dict(exc.headers))
        if 200 <= response.status < 300 and response.payload is not None:
            response.payload = github_spec.shape_response(operation, response.status, response.payload)
            for problem in github_spec.validate_response(operation, response.status, response.payload):
                self._violate(f"the test server answered {operation.key} not as described: {problem}")
        return response

    def _limits(self, operation: github_spec.Operation, body: dict[str, Any], path: str) -> None:
        """Refuse what GitHub refuses beyond the schema (its 422 "Validation Failed" answers)."""
        resource, limits = _LIMITS.get(operation.key, ("", {}))
        for field_name, maximum in limits.items():
            value = body.get(field_name)
            if isinstance(value, str) and len(value) > maximum:
                self._violate(
                    f"{operation.key} ({path}): {field_name} has {len(value)} characters, GitHub allows {maximum}"
                )
                raise _Error(
                    422,
                    "Validation Failed",
                    errors=[
                        {
                            "resource": resource,
                            "code": "custom",
                            "field": field_name,
                            "message": f"{field_name} is too long (maximum is {maximum} characters)",
                        }
                    ],
                )

    def _authorize(self, account: Account, operation: github_spec.Operation) -> None:
        alternatives = github_spec.permissions_for(operation.key)
        if alternatives and not any(account.grants(g["permission"], g["access"]) for g in alternatives):
            # GitHub names the accepted permission sets in this header, separated by semicolons.
            accepted = "; ".join(f"{g['permission']}={g['access']}" for g in alternatives)
            message = "Resource not accessible by integration"
            if not account.installation:
                message = "Resource not accessible by personal access token"
            raise _Error(403, message, headers={"X-Accepted-GitHub-Permissions": accepted})

    def _dispatch(
        self, account: Account, method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> _Response:
        if path == "/user" and method == "GET":
            return _Response(200, account.json())
        prefix = f"/repos/{self.repository}"
        if not (path == prefix or path.startswith(prefix + "/")):
            raise _not_found()
        rest = path[len(prefix) :]
        for route_method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, rest)
            if match and route_method == method:
                with self._lock:
                    return handler(account, query, body, *match.groups())
        raise _not_found()

    def _routes(self) -> list[tuple[str, str, Callable[..., _Response]]]:
        return [
            ("GET", r"/issues", self._list_issues),
            ("POST", r"/issues", self._create_issue),
            ("GET", r"/issues/(\d+)", self._get_issue),
            ("PATCH", r"/issues/(\d+)", self._edit_issue),
            ("GET", r"/issues/(\d+)/comments", self._list_comments),
            ("POST", r"/issues/(\d+)/comments", self._create_comment),
            ("GET", r"/issues/comments/(\d+)", self._get_comment),
            ("PATCH", r"/issues/comments/(\d+)", self._edit_comment),
            ("DELETE", r"/issues/comments/(\d+)", self._delete_comment),
            ("GET", r"/labels", self._list_labels),
            ("POST", r"/labels", self._create_label),
            ("POST", r"/statuses/([0-9a-fA-F]+)", self._create_status),
            ("GET", r"/commits/([^/]+)/statuses", self._list_statuses),
            ("POST", r"/check-runs", self._create_check_run),
            ("PATCH", r"/check-runs/(\d+)", self._update_check_run),
            ("GET", r"/commits/([^/]+)/pulls", self._commit_pulls),
            ("GET", r"/commits/([^/]+)", self._get_commit),
            ("GET", r"/pulls/(\d+)", self._get_pull),
            ("GET", r"/deployments", self._list_deployments),
            ("POST", r"/deployments", self._create_deployment),
            ("GET", r"/deployments/(\d+)", self._get_deployment),
            ("GET", r"/deployments/(\d+)/statuses", self._list_deployment_statuses),
            ("POST", r"/deployments/(\d+)/statuses", self._create_deployment_status),
            # The release workflow's calls (.github/workflows/release.yml).
            ("GET", r"/git/ref/(.+)", self._get_ref),
            ("POST", r"/git/refs", self._create_ref),
            ("PATCH", r"/git/refs/(.+)", self._update_ref),
            ("POST", r"/releases", self._create_release),
            ("POST", r"/releases/(\d+)/assets", self._upload_asset),
        ]

    # -- pagination --------------------------------------------------------------------

    def _page(self, items: list[dict[str, Any]], query: dict[str, str], path: str) -> _Response:
        try:
            per_page = min(100, max(1, int(query.get("per_page", "30"))))
            page = max(1, int(query.get("page", "1")))
        except ValueError as exc:
            raise _Error(422, "Invalid request.") from exc
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]

        def link(n: int) -> str:
            params = {**query, "per_page": str(per_page), "page": str(n)}
            return f"<{self._api()}/repos/{self.repository}{path}?{urlencode(params)}>"

        links = []
        if page > 1:
            links += [f'{link(page - 1)}; rel="prev"']
        if page < last:
            links += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        if page > 1:
            links += [f'{link(1)}; rel="first"']
        headers = {"Link": ", ".join(links)} if links else {}
        return _Response(200, [_public(i) for i in chunk], headers)

    # -- issues and comments -----------------------------------------------------------

    def _next_number(self) -> int:
        return max([0, *self._issues]) + 1

    def _new_issue(
        self, number: int, title: str, body: str | None, author: Account, labels: list[str]
    ) -> dict[str, Any]:
        now = _now()
        api = f"{self._api()}/repos/{self.repository}/issues/{number}"
        issue = {
            "id": self._next_id(),
            "node_id": f"I_{number}",
            "url": api,
            "repository_url": f"{self._api()}/repos/{self.repository}",
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "html_url": f"{self.html_url}/{self.repository}/issues/{number}",
            "number": number,
            "state": "open",
            "state_reason": None,
            "title": title,
            "body": body,
            "user": author.json(),
            "labels": [self._label(name) for name in labels],
            "assignees": [],
            "locked": False,
            "comments": 0,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "author_association": "NONE" if author.type == "Bot" else "MEMBER",
        }
        self._issues[number] = issue
        return issue

    def _label(self, name: str, color: str = "ededed", description: str | None = None) -> dict[str, Any]:
        if name not in self._labels:
            self._labels[name] = {
                "id": self._next_id(),
                "node_id": f"LA_{name}",
                "url": f"{self._api()}/repos/{self.repository}/labels/{name}",
                "name": name,
                "color": color,
                "default": False,
                "description": description,
            }
        return copy.deepcopy(self._labels[name])

    def _issue(self, number: str) -> dict[str, Any]:
        issue = self._issues.get(int(number))
        if issue is None:
            raise _not_found()
        return issue

    def _list_issues(self, account: Account, query: dict[str, str], body: dict[str, Any]) -> _Response:
        state = query.get("state", "open")
        wanted = {name.strip() for name in query.get("labels", "").split(",") if name.strip()}
        items = [
            issue
            for issue in sorted(self._issues.values(), key=lambda i: -i["number"])
            if (state == "all" or issue["state"] == state) and wanted <= {label["name"] for label in issue["labels"]}
        ]
        return self._page(items, query, "/issues")

    def _create_issue(self, account: Account, query: dict[str, str], body: dict[str, Any]) -> _Response:
        title = body.get("title")
        if not title:
            raise _validation("Issue", "missing_field", "title")
        issue = self._new_issue(
            self._next_number(), str(title), body.get("body"), account, list(body.get("labels", []))
        )
        return _Response(201, _public(issue))

    def _get_issue(self, account: Account, query: dict[str, str], body: dict[str, Any], number: str) -> _Response:
        return _Response(200, _public(self._issue(number)))

    def _edit_issue(self, account: Account, query: dict[str, str], body: dict[str, Any], number: str) -> _Response:
        issue = self._issue(number)
        for key in ("title", "body"):
            if key in body:
                issue[key] = body[key]
        if body.get("state") in ("open", "closed"):
            issue["state"] = body["state"]
            issue["closed_at"] = _now() if body["state"] == "closed" else None
        if "labels" in body:
            issue["labels"] = [self._label(name) for name in body["labels"]]
        issue["updated_at"] = _now()
        return _Response(200, _public(issue))

    def _new_comment(self, number: int, text: str, author: Account) -> dict[str, Any]:
        comment_id = self._next_id()
        issue = self._issues[number]
        kind = "pull" if "pull_request" in issue else "issues"
        now = _now()
        comment = {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": f"{self._api()}/repos/{self.repository}/issues/comments/{comment_id}",
            "html_url": f"{self.html_url}/{self.repository}/{kind}/{number}#issuecomment-{comment_id}",
            "issue_url": issue["url"],
            "body": text,
            "user": author.json(),
            "created_at": now,
            "updated_at": now,
            "author_association": "NONE" if author.type == "Bot" else "MEMBER",
            "performed_via_github_app": None,
            "_issue": number,
        }
        self._comments[comment_id] = comment
        issue["comments"] += 1
        return comment

    def _list_comments(self, account: Account, query: dict[str, str], body: dict[str, Any], number: str) -> _Response:
        self._issue(number)
        items = [c for c in self._comments.values() if c["_issue"] == int(number)]
        return self._page(items, query, f"/issues/{number}/comments")

    def _create_comment(self, account: Account, query: dict[str, str], body: dict[str, Any], number: str) -> _Response:
        self._issue(number)
        text = body.get("body")
        if not isinstance(text, str) or not text:
            raise _validation("IssueComment", "missing_field", "body")
        return _Response(201, _public(self._new_comment(int(number), text, account)))

    def _comment(self, comment_id: str) -> dict[str, Any]:
        comment = self._comments.get(int(comment_id))
        if comment is None:
            raise _not_found()
        return comment

    def _get_comment(self, account: Account, query: dict[str, str], body: dict[str, Any], cid: str) -> _Response:
        return _Response(200, _public(self._comment(cid)))

    def _edit_comment(self, account: Account, query: dict[str, str], body: dict[str, Any], cid: str) -> _Response:
        comment = self._comment(cid)
        text = body.get("body")
        if not isinstance(text, str) or not text:
            raise _validation("IssueComment", "missing_field", "body")
        comment["body"] = text
        comment["updated_at"] = _now()
        return _Response(200, _public(comment))

    def _delete_comment(self, account: Account, query: dict[str, str], body: dict[str, Any], cid: str) -> _Response:
        comment = self._comment(cid)
        del self._comments[int(cid)]
        self._issues[comment["_issue"]]["comments"] -= 1
        return _Response(204)

    def _list_labels(self, account: Account, query: dict[str, str], body: dict[str, Any]) -> _Response:
        return self._page(list(self._labels.values()), query, "/labels")

    def _create_label(self, account: Account, query: dict[str, str], body: dict[str, Any]) -> _Response:
        name = body.get("name")
        if not name:
            raise _validation("Label", "missing_field", "name")
        if name in self._labels:
            raise _validation("Label", "already_exists", "name")
        color = str(body.get("color", "ededed")).lstrip("#")
        return _Response(201, self._label(str(name), color, body.get("description")))

    # -- commits, statuses, pulls ------------------------------------------------------

    def _commit(self, ref: str) -> dict[str, Any]:
        commit = self._commits.get(ref)
        if commit is None and len(ref) >= 7:
            matches = [c for sha, c in self._commits.items() if sha.startswith(ref)]
            commit = matches[0] if len(matches) == 1 else None
        if commit is None:
            raise _Error(422, f"No commit found for SHA: {ref}")
        return commit

    def _get_commit(self, account: Account, query: dict[str, str], body: dict[str, Any], ref: str) -> _Response:
        return _Response(200, _public(self._commit(ref)))

    def _commit_pulls(self, account: Account, query: dict[str, str], body: dict[str, Any], ref: str) -> _Response:
        commit = self._commit(ref)
        sha = commit["sha"]
        numbers = set(commit["_pulls"])
        numbers |= {n for n, p in self._pulls.items() if sha in (p["head"]["sha"], p["merge_commit_sha"])}
        items = [self._pulls[n] for n in sorted(numbers) if n in self._pulls]
        return self._page(items, query, f"/commits/{ref}/pulls")

    def _get_pull(self, account: Account, query: dict[str, str], body: dict[str, Any], number: str) -> _Response:
        pull = self._pulls.get(int(number))
        if pull is None:
            raise _not_found()
        return _Response(200, _public(pull))

    def _create_status(self, account: Account, query: dict[str, str], body: dict[str, Any], sha: str) -> _Response:
        if self.strict_commits:
            sha = self._commit(sha)["sha"]
        state = body.get("state")
        if state not in STATUS_STATES:
            raise _validation("Status", "custom", "state")
        status_id = self._next_id()
        now = _now()
        status = {
            "url": f"{self._api()}/repos/{self.repository}/statuses/{sha}",
            "avatar_url": None,
            "id": status_id,
            "node_id": f"SC_{status_id}",
            "state": state,
            "description": body.get("description"),
            "target_url": body.get("target_url"),
            "context": body.get("context") or "default",
            "created_at": now,
            "updated_at": now,
            "creator": account.json(),
        }
        self._statuses.setdefault(sha, []).append(status)
        return _Response(201, _public(status))

    def _list_statuses(self, account: Account, query: dict[str, str], body: dict[str, Any], ref: str) -> _Response:
        items = list(reversed(self._statuses.get(ref, [])))
        return self._page(items, query, f"/commits/{ref}/statuses")

    # -- check runs --------------------------------------------------------------------

    def _create_check_run(self, account: Account, query: dict[str, str], body: dict[str, Any]) -> _Response:
        if not account.installation:
            # GitHub: "To create a check run, you must use a GitHub App."
            raise _Error(403, "You must authenticate via a GitHub App.")
        sha = self._commit(str(body.get("head_sha", "")))["sha"]
        run_id = self._next_id()
        api = f"{self._api()}/repos/{self.repository}/check-runs/{run_id}"
        run: dict[str, Any] = {
            "id": run_id,
            "node_id": f"CR_{run_id}",
            "head_sha": sha,
            "external_id": body.get("external_id", ""),
            "url": api,
            "html_url": f"{self.html_url}/{self.repository}/runs/{run_id}",
            "details_url": body.get("details_url"),
            "name": body["name"],
            "status": "queued",
            "conclusion": None,
            "started_at": body.get("started_at") or _now(),
            "completed_at": None,
            "output": {"title": None, "summary": None, "text": None, "annotations_count": 0, "annotations_url": ""},
            "check_suite": {"id": 1},
            "app": None,
            "pull_requests": [],
            "_annotations": [],
        }
        self._apply_check_run(run, body)
        self._check_runs[run_id] = run
        return _Response(201, _public(run))

    def _update_check_run(self, account: Account, query: dict[str, str], body: dict[str, Any], rid: str) -> _Response:
        run = self._check_runs.get(int(rid))
        if run is None:
            raise _not_found()
        self._apply_check_run(run, body)
        return _Response(200, _public(run))

    def _apply_check_run(self, run: dict[str, Any], body: dict[str, Any]) -> None:
        status = body.get("status")
        conclusion = body.get("conclusion")
        if status == "completed" and not conclusion:
            raise _validation("CheckRun", "missing_field", "conclusion")
        if conclusion:
            # A conclusion completes the run, whatever `status` says.
            run["status"], run["conclusion"], run["completed_at"] = "completed", conclusion, _now()
        elif status:
            run["status"] = status
        for key in ("name", "details_url", "external_id"):
            if key in body:
                run[key] = body[key]
        output = body.get("output")
        if isinstance(output, dict):
            for key in ("title", "summary", "text"):
                if key in output:
                    run["output"][key] = output[key]
            # "Each time you update the check run, annotations are appended to the list of annotations
            # that already exist for the check run." (GitHub's REST documentation)
            run["_annotations"] += copy.deepcopy(output.get("annotations", []))
            run["output"]["annotations_count"] = len(run["_annotations"])
            run["output"]["annotations_url"] = f"{run['url']}/annotations"

    # -- deployments -------------------------------------------------------------------

    def _create_deployment(self, account: Account, query: dict[str, str], body: dict[str, Any]) -> _Response:
        ref = body.get("ref")
        if not ref:
            raise _validation("Deployment", "missing_field", "ref")
        environment = body.get("environment") or "production"
        sha = self._commits[ref]["sha"] if ref in self._commits else hashlib.sha1(str(ref).encode()).hexdigest()
        if ref in self.behind and body.get("auto_merge", True):
            # GitHub merges the default branch into the ref instead of deploying it.
            return _Response(202, {"message": f"Auto-merged main into {ref} on deployment."})
        latest: dict[str, str] = {}
        for status in self._statuses.get(sha, []):
            latest[status["context"]] = status["state"]
        required = body.get("required_contexts")
        wanted = list(latest) if required is None else list(required)
        failing = [c for c in wanted if latest.get(c) != "success"]
        if failing:
            raise _Error(
                409,
                f"Conflict: Commit status checks failed for {ref}.",
                errors=[
                    {
                        "contexts": [{"context": c, "state": latest.get(c, "missing")} for c in failing],
                        "resource": "Deployment",
                        "field": "required_contexts",
                    }
                ],
            )
        deployment_id = self._next_id()
        now = _now()
        api = f"{self._api()}/repos/{self.repository}/deployments/{deployment_id}"
        # Kept as sent: GitHub accepts an object or a string, and answers with the same.
        payload = body.get("payload", {})
        deployment = {
            "url": api,
            "id": deployment_id,
            "node_id": f"DE_{deployment_id}",
            "sha": sha,
            "ref": ref,
            "task": body.get("task", "deploy"),
            "payload": payload,
            "original_environment": environment,
            "environment": environment,
            "description": body.get("description"),
            "creator": account.json(),
            "created_at": now,
            "updated_at": now,
            "statuses_url": f"{api}/statuses",
            "repository_url": f"{self._api()}/repos/{self.repository}",
            "transient_environment": bool(body.get("transient_environment", False)),
            "production_environment": bool(body.get("production_environment", environment == "production")),
            "_request": copy.deepcopy(body),
        }
        self._deployments[deployment_id] = deployment
        return _Response(201, _public(deployment))

    def _list_deployments(self, account: Account, query: dict[str, str], body: dict[str, Any]) -> _Response:
        items = [
            d
            for d in sorted(self._deployments.values(), key=lambda d: -d["id"])
            if all(query.get(key) in (None, d[key]) for key in ("sha", "ref", "task", "environment"))
        ]
        return self._page(items, query, "/deployments")

    def _deployment(self, deployment_id: str) -> dict[str, Any]:
        deployment = self._deployments.get(int(deployment_id))
        if deployment is None:
            raise _not_found()
        return deployment

    def _get_deployment(self, account: Account, query: dict[str, str], body: dict[str, Any], did: str) -> _Response:
        return _Response(200, _public(self._deployment(did)))

    def _create_deployment_status(
        self, account: Account, query: dict[str, str], body: dict[str, Any], did: str
    ) -> _Response:
        deployment = self._deployment(did)
        state = body.get("state")
        if state not in DEPLOYMENT_STATES:
            raise _validation("DeploymentStatus", "custom", "state")
        status_id = self._next_id()
        now = _now()
        status = {
            "url": f"{deployment['url']}/statuses/{status_id}",
            "id": status_id,
            "node_id": f"DES_{status_id}",
            "state": state,
            "creator": account.json(),
            "description": body.get("description", ""),
            "environment": body.get("environment") or deployment["environment"],
            "target_url": body.get("target_url") or body.get("log_url") or "",
            "log_url": body.get("log_url") or body.get("target_url") or "",
            "environment_url": body.get("environment_url", ""),
            "created_at": now,
            "updated_at": now,
            "deployment_url": deployment["url"],
            "repository_url": deployment["repository_url"],
        }
        self._deployment_statuses.setdefault(deployment["id"], []).append(status)
        return _Response(201, _public(status))

    def _list_deployment_statuses(
        self, account: Account, query: dict[str, str], body: dict[str, Any], did: str
    ) -> _Response:
        deployment = self._deployment(did)
        items = list(reversed(self._deployment_statuses.get(deployment["id"], [])))
        return self._page(items, query, f"/deployments/{did}/statuses")

    # -- git refs and releases (the release workflow) ------------------------------------

    def _ref_json(self, ref: str) -> dict[str, Any]:
        sha = self._refs[ref]
        return {
            "ref": ref,
            "node_id": f"REF_{ref}",
            "url": f"{self._api()}/repos/{self.repository}/git/{ref}",
            "object": {"sha": sha, "type": "commit", "url": f"{self._api()}/repos/{self.repository}/git/commits/{sha}"},
        }

    def _get_ref(self, account: Account, query: dict[str, str], body: dict[str, Any], ref: str) -> _Response:
        if f"refs/{ref}" not in self._refs:
            raise _not_found()
        return _Response(200, self._ref_json(f"refs/{ref}"))

    def _known_object(self, sha: Any) -> str:
        if not isinstance(sha, str) or sha not in self._commits:
            raise _Error(422, "Object does not exist")
        return sha

    def _create_ref(self, account: Account, query: dict[str, str], body: dict[str, Any]) -> _Response:
        ref = str(body.get("ref", ""))
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise _Error(422, "Reference name must start with 'refs/' and have at least two slashes.")
        if ref in self._refs:
            raise _Error(422, "Reference already exists")
        self._refs[ref] = self._known_object(body.get("sha"))
        return _Response(201, self._ref_json(ref))

    def _update_ref(self, account: Account, query: dict[str, str], body: dict[str, Any], ref: str) -> _Response:
        if f"refs/{ref}" not in self._refs:
            raise _Error(422, "Reference does not exist")
        sha = self._known_object(body.get("sha"))
        # Commits here have no ancestry, so every move but to the same commit needs `force`, like a rewind on GitHub.
        if sha != self._refs[f"refs/{ref}"] and not body.get("force", False):
            raise _Error(422, "Update is not a fast forward")
        self._refs[f"refs/{ref}"] = sha
        return _Response(200, self._ref_json(f"refs/{ref}"))

    def _create_release(self, account: Account, query: dict[str, str], body: dict[str, Any]) -> _Response:
        tag = body.get("tag_name")
        if not tag:
            raise _validation("Release", "missing_field", "tag_name")
        if any(r["tag_name"] == tag for r in self._releases.values()):
            raise _validation("Release", "already_exists", "tag_name")
        release_id = self._next_id()
        api = f"{self._api()}/repos/{self.repository}/releases/{release_id}"
        now = _now()
        release = {
            "url": api,
            "html_url": f"{self.html_url}/{self.repository}/releases/tag/{tag}",
            "assets_url": f"{api}/assets",
            # GitHub answers https://uploads.github.com/...; here the uploads are served by this server.
            "upload_url": f"{api}/assets{{?name,label}}",
            "id": release_id,
            "node_id": f"RE_{release_id}",
            "tag_name": tag,
            "target_commitish": body.get("target_commitish") or "main",
            "name": body.get("name"),
            "body": "**Full Changelog**: generated" if body.get("generate_release_notes") else body.get("body"),
            "draft": bool(body.get("draft", False)),
            "prerelease": bool(body.get("prerelease", False)),
            "created_at": now,
            "published_at": now,
            "author": account.json(),
            "assets": [],
            "_assets": {},
        }
        self._releases[release_id] = release
        return _Response(201, _public(release))

    def _upload_asset(self, account: Account, query: dict[str, str], body: Any, rid: str) -> _Response:
        release = self._releases.get(int(rid))
        if release is None:
            raise _not_found()
        name = query.get("name", "")
        if name in release["_assets"]:
            raise _validation("ReleaseAsset", "already_exists", "name")
        data = body if isinstance(body, bytes) else b""
        release["_assets"][name] = data
        asset_id = self._next_id()
        now = _now()
        asset = {
            "url": f"{self._api()}/repos/{self.repository}/releases/assets/{asset_id}",
            "browser_download_url": f"{release['html_url'].replace('/tag/', '/download/')}/{name}",
            "id": asset_id,
            "node_id": f"RA_{asset_id}",
            "name": name,
            "label": query.get("label"),
            "state": "uploaded",
            "content_type": "application/octet-stream",
            "size": len(data),
            "download_count": 0,
            "created_at": now,
            "updated_at": now,
            "uploader": account.json(),
        }
        release["assets"].append(asset)
        return _Response(201, asset)


# GitHub's limits that its REST description does not state: {operation: (resource, {field: max})}.
_R = "/repos/{owner}/{repo}"
_LIMITS: dict[str, tuple[str, dict[str, int]]] = {
    f"POST {_R}/issues": ("Issue", {"body": 65536, "title": 256}),
    f"PATCH {_R}/issues/{{issue_number}}": ("Issue", {"body": 65536, "title": 256}),
    f"POST {_R}/issues/{{issue_number}}/comments": ("IssueComment", {"body": 65536}),
    f"PATCH {_R}/issues/comments/{{comment_id}}": ("IssueComment", {"body": 65536}),
    f"POST {_R}/statuses/{{sha}}": ("Status", {"description": 140}),
    f"POST {_R}/deployments/{{deployment_id}}/statuses": ("DeploymentStatus", {"description": 140}),
}


def _public(item: dict[str, Any]) -> dict[str, Any]:
    """Return a copy without the server's private bookkeeping keys (those starting with `_`)."""
    return {k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("_")}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out (delay_next) closes its socket; the late reply then fails.
        # That is expected here, so it is not printed as a traceback.
        pass


class _Handler(BaseHTTPRequestHandler):
    gh: GitHubServer
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections close after this, so stop() never waits on a client.
    timeout = 5

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {key: value for key, value in self.headers.items()}
        response = self.gh.handle(self.command, self.path, headers, raw)
        if response is None:
            self.close_connection = True
            return
        data = b"" if response.payload is None else json.dumps(response.payload).encode()
        self.send_response(response.status)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        self.send_header("X-GitHub-Request-Id", secrets.token_hex(8).upper())
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: the test records requests in GitHubServer.requests instead.
        pass
