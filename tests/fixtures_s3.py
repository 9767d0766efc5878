"""Pytest fixtures for a real SeaweedFS S3 server (register with `pytest_plugins`).

`s3_server` is one server for the whole session (it takes seconds to start);
`s3_bucket` gives each test a fresh bucket and puts the server's AWS_* variables in the
environment, so code under test finds credentials through boto3's standard chain exactly
as it would in CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.s3_server import SeaweedFS


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
    """Return a fresh bucket on the session server, with AWS_* set for boto3's default chain."""
    # A previous test may have stopped or killed the server on purpose.
    if not s3_server.running:
        s3_server.start()
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return s3_server.make_bucket()
