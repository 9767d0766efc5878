"""One number format for a value wherever it appears: headline, terminal table, report.md, forest plot, gate reasons."""

from __future__ import annotations

import re

from mlci.contracts.comparison import Comparison, MetricResult, SliceResult
from mlci.contracts.document import report_document
from mlci.contracts.references import Reference
from mlci.github.context import GitHubContext
from mlci.report import render
from mlci.report.terminal import render_verdict
from mlci.stats.gates import apply_gates
from mlci.stats.specs import Gate

TINY = 9e-05  # the case: the headline said +9.0e-05 where the table said +0.0001


def tiny_document():
    roc = MetricResult("roc_auc", True, 0.91234, 0.91243, TINY, 9.9e-05, -0.00004, 0.00022, 0.3, "delong")
    north = MetricResult("roc_auc", True, 0.9, 0.9 + TINY, TINY, TINY / 0.9, -0.00011, 0.00029, 0.3, "delong")
    slices = [SliceResult("region", "north", 200, [north])]
    gates = [Gate(metric="roc_auc", min_absolute_change=0.001, slices=True, min_slice_size=10)]
    verdict = apply_gates([roc], slices, gates, confidence=0.95, has_baseline=True, primary="roc_auc", n_rows=400)
    comparison = Comparison("binary", "roc_auc", 400, 0.95, [roc], slices, verdict)
    production = Reference(label="production", kind="alias", version="cd34cd34", uri="s3://models/churn/cd34cd34")
    return report_document(
        model="churn",
        comparison=comparison,
        validation=[],
        candidate=None,
        baseline=production,
        data=None,
        ctx=GitHubContext(),
    )


def test_a_tiny_delta_reads_the_same_in_the_headline_the_tables_the_plot_and_the_reasons():
    document = tiny_document()
    shown = "+9.0e-05"
    assert f"({shown}, 95% CI -4.0e-05..+0.0002, p=0.300)" in document.headline

    terminal = render_verdict(document)
    (row,) = [line for line in terminal.splitlines() if line.startswith("roc_auc ")]
    assert row.split()[3] == shown and "[-4.0e-05, +0.0002] p=0.300" in row

    report = render(document)
    metrics_row = next(line for line in report.splitlines() if line.startswith("| **roc_auc**"))
    assert [c.strip() for c in metrics_row.split("|")][4].startswith(shown + " ")
    slice_row = next(line for line in report.splitlines() if line.startswith("| region = north"))
    assert f"| {shown} |" in slice_row
    plot = report[report.index("```text") : report.index("```", report.index("```text") + 7)]
    assert f"{shown} [-4.0e-05, +0.0002]" in plot and "allowed change (+0.001)" in plot
    reason = document.comparison.verdict.reasons[0]
    assert "improved by 9.0e-05 (95% CI -4.0e-05 to 0.0002); required: better by 0.001" in reason

    # No other spelling of the same number anywhere: not rounded to 4 decimals, not %g's 9e-05.
    for text in (document.headline, terminal, report):
        assert not re.search(r"\+0\.0001\b|(?<![.\d])9e-05|0\.00022|\+0\.000\b", text), text
