"""`make bench` at a tiny size, so the harness cannot rot between full runs."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bench_check, bench_engines, bench_highcard, bench_slices
from benchmarks.run import GROUPS, TINY_SKIPPED
from tests.support.cli import mlci_env
from tests.support.paths import ROOT


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
        "startup", "validate", "check", "significance", "slices", "mlflow", "storage", "drift", "drift_rates",
        "highcard", "engines",
    }  # fmt: skip
    for row in results["rows"]:
        assert {"ratio", "target", "met", "absolute", "status"} <= set(row), row
        assert row["status"] != "error", f"{row['id']}: {row['absolute']}"
        if row["status"] == "ok":
            # a drift error rate may be 0 (no false alarm at the tiny size); every timing ratio is positive
            assert isinstance(row["ratio"], (int, float)) and (row["ratio"] > 0 or row["group"] == "drift_rates"), row
        else:  # MLflow (its venv is absent) and what other tests run at this size (TINY_SKIPPED)
            assert row["id"] in ("mlflow", *TINY_SKIPPED) and "make bench" in row["absolute"], row
        assert row["title"] in doc
    skipped = {r["id"] for r in results["rows"] if r["status"] == "skipped"}
    assert skipped - {"mlflow"} == set(TINY_SKIPPED)
    ran = {r["id"] for r in results["rows"] if r["status"] == "ok"}
    assert {"cold_start", "validate_5000", "significance", "compare_slices", "storage", "drift"} <= ran
    assert {"drift_rates_200", "drift_rates_1000"} <= ran
    assert "| # | benchmark | ratio |" in doc
    assert results["machine"]["cpu"] in doc


def _mlci_command_lines(module: object, placeholder: str) -> list[list[str]]:
    """Return the argument lists `[*MLCI, ...]` written in a benchmark module, `placeholder` for each non-literal."""
    tree = ast.parse(Path(module.__file__).read_text())  # type: ignore[attr-defined]
    lines = []
    for node in ast.walk(tree):
        first = node.elts[0] if isinstance(node, ast.List) and node.elts else None
        if isinstance(first, ast.Starred) and isinstance(first.value, ast.Name) and first.value.id == "MLCI":
            args = node.elts[1:]  # type: ignore[attr-defined]
            lines.append([a.value if isinstance(a, ast.Constant) else placeholder for a in args])
    return lines


def _parse(args: list[str]) -> None:
    """Parse `mlci ARGS` as the CLI would, down to the subcommand's arguments, without running it.

    click.UsageError (unknown option or command, missing or extra argument, bad value) if not.
    """
    from mlci.cli.app import cli

    with cli.make_context("mlci", list(args)) as ctx:
        # The subcommand and its tokens, read back as click's own Group.invoke does (the public
        # `protected_args` is deprecated since click 8.2).
        name, command, rest = cli.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        assert command is not None and name is not None
        with command.make_context(name, rest, parent=ctx):
            pass


def test_rows_the_tiny_size_skips_still_compile_and_call_mlci_as_it_parses(tmp_path: Path) -> None:
    # `check`, `engines` and slices in `check` run only in make bench (the tiny run leaves them
    # to tests that run the same commands). What would rot unseen between full runs: their
    # scripts and the `mlci` command lines they build. Every script compiles and every name it
    # imports from mlci exists; every command line parses as the CLI parses it (options, the
    # subcommand's arguments and their types), with this directory for each non-literal part.
    import click

    scripts = {
        "BARE_SCRIPT": bench_check.BARE_SCRIPT,
        "HIGHCARD_BARE_SCRIPT": bench_highcard.BARE_SCRIPT,
        "SEQUENCE_SCRIPT": bench_check.SEQUENCE_SCRIPT,
        "GX_SQL": bench_engines.GX_SQL,
        "GX_SPARK": bench_engines.GX_SPARK,
        "DRIFT_ENGINE": bench_engines.DRIFT_ENGINE,
        "DRIFT_PANDAS": bench_engines.DRIFT_PANDAS,
    }
    imported = 0
    for name, script in scripts.items():
        tree = ast.parse(script, name)
        compile(tree, name, "exec")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlci"):
                module = importlib.import_module(str(node.module))
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{name}: from {node.module} import {alias.name}"
                    imported += 1
    assert imported >= 2, "the drift scripts import mlci's profile functions"
    lines = [
        line
        for m in (bench_check, bench_engines, bench_slices, bench_highcard)
        for line in _mlci_command_lines(m, str(tmp_path))
    ]
    assert len(lines) >= 5, lines  # train, push, check; validate on SQL and on Parquet
    assert any("check" in line for line in lines) and any("validate" in line for line in lines)
    for line in lines:
        _parse(line)
    # and the checks: what a renamed option, a lost argument or an extra one would look like
    for broken in (["--json", "check", "--no-such"], ["push", "--alias", "production"], ["validate", "a", "b"]):
        with pytest.raises(click.UsageError):
            _parse(broken)
