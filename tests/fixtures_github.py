"""Pytest fixtures for the GitHub API test server (register with `pytest_plugins`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.github_server import GitHubServer


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
