"""Pytest fixtures for the GitHub API test server (register with `pytest_plugins`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.github_server import GitHubServer


@pytest.fixture
def github_server() -> Iterator[GitHubServer]:
    """Yield a started GitHub API server for one repository; it stops after the test."""
    with GitHubServer() as server:
        yield server
