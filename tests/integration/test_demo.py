"""`mlci demo`: the whole lifecycle on a fresh copy of the example, as `make demo` runs it."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_demo_runs_the_whole_lifecycle(mlci_process, tmp_path):
    run = mlci_process("demo", "--clean", cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    out = run.stdout
    assert out.count("$ mlci check") == 3
    assert "verdict: BOOTSTRAP" in out and "verdict: PASS" in out and "verdict: FAIL" in out
    assert "[exit 1]" in out and "unexpected" not in out
    assert "aliases:" in out and "events:" in out
