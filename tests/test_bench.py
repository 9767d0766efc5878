"""`make bench` at a tiny size, so the harness cannot rot between full runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.run import GROUPS
from tests.conftest import ROOT, mlci_env


@pytest.mark.slow
def test_tiny_bench_writes_every_row_with_its_ratio_target_and_verdict(tmp_path: Path) -> None:
    # The same module `make bench` runs, at the tiny size and into a temp dir, so the
    # committed benchmarks/results.json and docs/benchmarks.md are left alone. Every group but
    # `demo`, whose row only times `mlci demo`, which test_check.py runs and checks already.
    groups = [g for g in GROUPS if g != "demo"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--size",
            "tiny",
            "--output-dir",
            str(tmp_path),
            "--only",
            ",".join(groups),
        ],
        cwd=ROOT,
        env=mlci_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    doc = (tmp_path / "benchmarks.md").read_text()

    assert results["size"] == "tiny"
    assert results["machine"]["cores"]
    assert {r["group"] for r in results["rows"]} == set(groups)
    assert set(groups) == {
        "startup", "validate", "check", "significance", "slices", "mlflow", "storage", "drift", "engines"
    }  # fmt: skip
    for row in results["rows"]:
        assert {"ratio", "target", "met", "absolute", "status"} <= set(row), row
        assert row["status"] != "error", f"{row['id']}: {row['absolute']}"
        if row["status"] == "ok":
            assert isinstance(row["ratio"], (int, float)) and row["ratio"] > 0, row
        else:  # only MLflow (when its venv is absent) and Spark (a JVM at the tiny size) may be skipped
            assert row["id"] in ("mlflow", "engines_spark") and "make bench" in row["absolute"]
        assert row["title"] in doc
    assert "| # | benchmark | ratio |" in doc
    assert results["machine"]["cpu"] in doc
