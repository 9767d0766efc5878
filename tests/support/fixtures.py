"""The suite's shared fixtures (registered by tests/conftest.py): projects, trained bundles, real servers.

- `project`: a private copy of examples/churn in the test's tmp_path (tests/support/project.py),
  which a test edits structurally and runs `mlci` in; `builds` keeps the states it brings
  projects to once a session (`.with_production()`).
- `trained`: bundles of the example trained once a session per (estimator, params).
- `mlci` / `mlci_process`: `mlci` in any directory, in this process or as a real process.
- `github_server`: the GitHub API test server, one per test (tests/support/github_server.py).
- `s3_server` / `s3_bucket`: one SeaweedFS for the session, a fresh bucket per test.
- `signing_keys`: key pairs and certificates for the signing tests, made once a session.
- `postgres` / `spark`: one PostgreSQL 15 server and one local SparkSession for the session.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Run, run_mlci, run_process
from tests.support.github_server import GitHubServer
from tests.support.paths import EXAMPLE
from tests.support.pg_server import PostgreSQL
from tests.support.project import Builds, ProjectCopy
from tests.support.s3_server import SeaweedFS
from tests.support.signing import make_keys

# -- projects and bundles -------------------------------------------------------------------


@pytest.fixture(scope="session")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    """The project states built once this session (per pytest-xdist worker)."""
    return Builds(tmp_path_factory.mktemp("builds"))


@pytest.fixture
def project(tmp_path: Path, builds: Builds) -> ProjectCopy:
    """Return a private copy of examples/churn (data, suite, mlci.yaml) at tmp_path/churn."""
    return ProjectCopy.of(EXAMPLE, tmp_path / "churn", builds=builds)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Return `bundle(estimator=None, params=None)`: the example trained with that model, once a session.

    Without an estimator the configured one is trained (with `params` when given). A bundle
    is shared by every test asking for the same model: copy it before changing it.
    """
    root = tmp_path_factory.mktemp("trained")
    bundles: dict[str, Path] = {}

    def bundle(estimator: str | None = None, params: dict[str, Any] | None = None) -> Path:
        key = json.dumps([estimator, params], sort_keys=True)
        if key not in bundles:
            where = root / f"model-{len(bundles)}"
            source = ProjectCopy.of(EXAMPLE, where / "churn")
            if estimator is not None:
                source.with_estimator(estimator, params)
            elif params is not None:
                source.with_params(params)
            bundles[key] = source.train(where / "bundle")
        return bundles[key]

    return bundle


@pytest.fixture
def mlci() -> Callable[..., Run]:
    """Return `run(*args, cwd, env=None)`: `mlci ARGS` in any directory, in this process (`run_mlci`).

    For a directory that is no project yet (`mlci init`); a project runs its own (`project.run`).
    """

    def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
        return run_mlci(cwd, *args, env=env)

    return run


@pytest.fixture
def mlci_process() -> Callable[..., Run]:
    """Return `run(*args, cwd, env=None, timeout=300)`: `python -m mlci ARGS` in any directory, as a real process."""

    def run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
        return run_process(cwd, *args, env=env, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Key pairs team.* and other.*, a CA (ca.*), and certificates it issued (tests/support/signing.py)."""
    return make_keys(tmp_path_factory.mktemp("keys"))


# -- the GitHub API test server -------------------------------------------------------------


@pytest.fixture
def github_server() -> Iterator[GitHubServer]:
    """Yield a started GitHub API server for one repository; it stops after the test.

    A request GitHub's description does not allow (or that GitHub would refuse for its limits),
    and an answer of the server that GitHub's description does not allow, fail the test that
    caused it, whatever the test itself asserted.
    """
    with GitHubServer() as server:
        yield server
        violations = server.take_violations()
    if violations:
        pytest.fail("requests GitHub would refuse, or answers GitHub would not give:\n- " + "\n- ".join(violations))


# -- SeaweedFS ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """Yield a started SeaweedFS; it stops at the end of the session."""
    server = SeaweedFS(Path(tmp_path_factory.mktemp("seaweedfs")))
    server.start()
    try:
        yield server
    finally:
        # Its data is thrown away with the session: no need to wait out weed's ~15 s graceful
        # shutdown (stop() waits 2 s for it before killing anyway).
        server.stop(kill=True)


@pytest.fixture
def s3_bucket(s3_server: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> str:
    """Return a fresh bucket on the session server, with AWS_* set for boto3's default chain.

    The variables are set in this process too, so code under test that runs here finds
    credentials through boto3's standard chain exactly as it would in CI.
    """
    # A previous test may have stopped or killed the server on purpose.
    if not s3_server.running:
        s3_server.start()
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return s3_server.make_bucket()


# -- engines: PostgreSQL and Spark ----------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgreSQL]:
    """Yield a started PostgreSQL server; it stops at the end of the session."""
    with PostgreSQL() as server:
        yield server


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """Yield a local[1] SparkSession; it stops at the end of the session.

    A JVM start is the expensive part, so every Spark test shares it (mlci's own
    `getOrCreate` joins it), with two shuffle partitions and no UI so small tables stay fast.
    """
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("mlci-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "1")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
