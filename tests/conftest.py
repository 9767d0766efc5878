"""The suite's root: it registers the shared fixtures of tests/support and prints the act timings.

Layout (docs/architecture.md, "Tests"): unit/ (one package's behaviour in this process, no
servers), integration/ (real servers and real processes), e2e/ (the action under `act`),
contract/ (the package's shape, its docs and workflows), support/ (what the tests stand on).
"""

from __future__ import annotations

from typing import Any

from tests.support.tools import ACT_SECONDS

pytest_plugins = ["tests.support.fixtures"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    timings = [
        (report.nodeid, *value)
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if report.when == "call"
        for name, value in getattr(report, "user_properties", [])
        if name == ACT_SECONDS
    ]
    if timings:
        terminalreporter.write_sep("-", "act runs (seconds)")
        for nodeid, run, seconds in timings:
            terminalreporter.write_line(f"{seconds:7.1f}  {nodeid} {run}")
