"""`make bench` at a tiny size, so the harness cannot rot between full runs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bench_check, bench_engines, bench_slices
from benchmarks.run import GROUPS, TINY_SKIPPED
from tests.conftest import ROOT, mlci_env, run_mlci
from tests.s3_server import SeaweedFS


@pytest.mark.slow
def test_tiny_bench_writes_every_row_with_its_ratio_target_and_verdict(tmp_path: Path, s3_server: SeaweedFS) -> None:
    # The same module `make bench` runs, at the tiny size and into a temp dir, so the
    # committed benchmarks/results.json and docs/benchmarks.md are left alone. Every group but
    # `demo`, whose row only times `mlci demo`, which test_check.py runs and checks already;
    # the storage row pushes to this session's SeaweedFS instead of starting its own.
    groups = [g for g in GROUPS if g != "demo"]
    if not s3_server.running:
        s3_server.start()
    s3 = {"MLCI_BENCH_S3_ENDPOINT": s3_server.endpoint_url, "MLCI_BENCH_S3_BUCKET": s3_server.make_bucket()}
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
        env=mlci_env(**s3_server.env, **s3),
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
        else:  # MLflow (its venv is absent) and what other tests run at this size (TINY_SKIPPED)
            assert row["id"] in ("mlflow", *TINY_SKIPPED) and "make bench" in row["absolute"], row
        assert row["title"] in doc
    skipped = {r["id"] for r in results["rows"] if r["status"] == "skipped"}
    assert skipped - {"mlflow"} == set(TINY_SKIPPED)
    ran = {r["id"] for r in results["rows"] if r["status"] == "ok"}
    assert {"cold_start", "validate_5000", "significance", "compare_slices", "storage", "drift"} <= ran
    assert "| # | benchmark | ratio |" in doc
    assert results["machine"]["cpu"] in doc


def _mlci_command_lines(module: object) -> list[list[str]]:
    """Return the argument lists `[*MLCI, ...]` written in a benchmark module, a placeholder for each non-literal."""
    tree = ast.parse(Path(module.__file__).read_text())  # type: ignore[attr-defined]
    lines = []
    for node in ast.walk(tree):
        first = node.elts[0] if isinstance(node, ast.List) and node.elts else None
        if isinstance(first, ast.Starred) and isinstance(first.value, ast.Name) and first.value.id == "MLCI":
            args = node.elts[1:]  # type: ignore[attr-defined]
            lines.append([a.value if isinstance(a, ast.Constant) else "PLACEHOLDER" for a in args])
    return lines


def test_rows_the_tiny_size_skips_still_compile_and_call_mlci_as_it_parses(tmp_path: Path) -> None:
    # `check`, `engines` and slices in `check` run only in make bench (the tiny run leaves them to tests that run
    # the same commands). What would rot unseen between full runs: their scripts, and the
    # `mlci` command lines they build. Every script compiles, and every command line parses
    # (each one with --help appended: click refuses an unknown option or command before it
    # reads --help, and exits 0 only when all of it parses).
    scripts = {
        "BARE_SCRIPT": bench_check.BARE_SCRIPT,
        "SEQUENCE_SCRIPT": bench_check.SEQUENCE_SCRIPT,
        "GX_SQL": bench_engines.GX_SQL,
        "GX_SPARK": bench_engines.GX_SPARK,
        "DRIFT_ENGINE": bench_engines.DRIFT_ENGINE,
        "DRIFT_PANDAS": bench_engines.DRIFT_PANDAS,
    }
    for name, script in scripts.items():
        compile(script, name, "exec")
    lines = [line for m in (bench_check, bench_engines, bench_slices) for line in _mlci_command_lines(m)]
    assert len(lines) >= 5, lines  # train, push, check; validate on SQL and on Parquet
    assert any("check" in line for line in lines) and any("validate" in line for line in lines)
    for line in lines:
        done = run_mlci(tmp_path, *line, "--help")
        assert done.returncode == 0, (line, done.stdout + done.stderr)
    # and the check: an unknown option is refused, so the loop above can fail
    assert run_mlci(tmp_path, "--json", "check", "--no-such-option", "--help").returncode == 2
