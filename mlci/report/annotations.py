"""Where a check's failures sit in the repository: the expectation suite's lines and mlci.yaml's gate lines.

The check run's annotations (mlci.report.reporters.CheckRunReport) and the workflow's `::error`
lines (mlci.cli.text) place each failure on a file of the repository by its path from the
checkout (GITHUB_WORKSPACE) and a line: a failed expectation on its line of the suite, a failed
gate on its line of mlci.yaml (`- metric: ...`). Nothing is decided here: the document's gate
results and validation failures are placed, in the order the report lists them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mlci.config.schema import Config
    from mlci.contracts.comparison import GateResult
    from mlci.contracts.document import ReportDocument
    from mlci.github.client import CheckAnnotation
    from mlci.stats.specs import Gate


def repository_path(path: str | os.PathLike[str], base: str | os.PathLike[str], workspace: str | None) -> str:
    """Return `path` (relative to `base`, or absolute) as GitHub places it: from the checkout's root, with `/`."""
    where = os.path.abspath(os.path.join(base, path))
    root = workspace or os.getcwd()
    relative = os.path.relpath(where, root)
    return Path(relative).as_posix()


def gate_indexes(gates: Sequence[Gate], results: Sequence[GateResult]) -> list[int | None]:
    """Return, for each gate result, the index of the configured gate that produced it (None: unknown).

    mlci.stats.gates.apply_gates gives each gate its overall result, then (with `slices: true`)
    one per slice, in the configured order; a document read back under a changed mlci.yaml may
    not follow that order, and then a result is matched to the first gate on its metric.
    """
    out: list[int | None] = []
    gate, lost = -1, False
    for result in results:
        if not lost:
            gate += result.scope == "overall"
            known = 0 <= gate < len(gates) and gates[gate].metric == result.metric
            if known and (result.scope == "overall" or gates[gate].slices):
                out.append(gate)
                continue
            lost = True  # from here on, each result goes to the first gate on its metric
        out.append(next((i for i, g in enumerate(gates) if g.metric == result.metric), None))
    return out


def check_annotations(config: Config, document: ReportDocument, workspace: str | None) -> list[CheckAnnotation]:
    """Return the annotations of a check's failures: expectations on the suite's lines, gates on mlci.yaml's.

    Paths in the document are relative to the working directory (mlci.contracts.document); a
    failure without a line is placed on the file's first line.
    """
    from mlci.github.client import CheckAnnotation

    found: list[CheckAnnotation] = []
    for r in document.validation:
        suite = repository_path(r.suite, os.getcwd(), workspace)
        for f in r.failures:
            level: Literal["failure", "warning"] = "failure" if f.severity == "critical" else "warning"
            found.append(CheckAnnotation(suite, f.line or 1, f.describe(), level, title=f"mlci validate: {r.table}"))
    comparison = document.comparison
    if comparison is None:
        return found
    results = comparison.verdict.gates
    config_file = repository_path(config.base_dir / config.path.name, os.getcwd(), workspace)
    placed = gate_indexes(config.gates, results)
    for result, index in zip(results, placed, strict=True):
        if result.passed:
            continue
        line = config.line_of("gates", index) if index is not None else config.line_of("gates")
        found.append(
            CheckAnnotation(
                config_file,
                line or 1,
                f"{result.metric} on {result.scope}: {result.reason}",
                "failure",
                title=f"mlci gate: {result.metric}",
            )
        )
    return found
