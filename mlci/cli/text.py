"""The command line's text: each command's result as the lines `mlci` prints (`quiet`: the result line only).

The report document's own renderings (verdict, validation, drift) live in mlci.report.terminal;
these add what each command says around them. Every function takes the result and `quiet`,
and returns lines; `mlci.cli.output.emit` prints them (or the JSON instead).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlci.contracts.document import ReportDocument
    from mlci.contracts.validation import ValidationResult
    from mlci.flows.check import CheckResult
    from mlci.flows.deploy import DeployResult
    from mlci.flows.monitor import MonitorResult
    from mlci.flows.release import CardResult, History, PromoteResult, PushOutcome
    from mlci.flows.retrain import DriftResult, RetrainResult
    from mlci.flows.scaffold import Scaffold
    from mlci.github.context import GitHubContext
    from mlci.report.reporters import Shown
    from mlci.signing.verify import Verification


def shown(value: object) -> str:
    """Return a path or URI as a terminal line shows it: a local path relative to the working directory.

    The log of a runner travels (a PR's checks page, a pasted error): `/home/runner/work/...`
    means nothing there, and `report.md` does. URIs (`s3://...`) and paths outside stay as they are.
    """
    from pathlib import Path

    from mlci._internal.files import shown_path

    return shown_path(str(value), Path.cwd()) if value is not None else ""


def validation(results: list[ValidationResult], quiet: bool) -> list[str]:
    """Return each table's summary line (and with detail, one line per failed expectation)."""
    from mlci.report.terminal import render_validation

    return [line for r in results for line in render_validation(r)[: 1 if quiet else None]]


def validation_annotations(
    results: list[ValidationResult], ctx: GitHubContext, base: str | os.PathLike[str] = "."
) -> list[str]:
    """Return the Actions annotations of failed expectations, placed on the suite's lines (in Actions only).

    A result names its suite relative to the project (`base`, mlci.yaml's directory).
    """
    from mlci.github.workflow import annotation

    if not ctx.in_actions:
        return []
    # GitHub places an annotation by the file's path inside the repository checkout.
    workspace = ctx.workspace
    lines = []
    for r in results:
        where = r.suite if os.path.isabs(r.suite) else os.path.abspath(os.path.join(base, r.suite))
        suite = os.path.relpath(where, workspace) if workspace else where
        for f in r.failures:
            lines.append(annotation("error", f.describe(), title=f"mlci validate: {r.table}", file=suite, line=f.line))
    return lines


def verdict(document: ReportDocument, quiet: bool) -> list[str]:
    """Return the verdict line, and with detail the baseline, the metrics and the failed gates."""
    from mlci.report.terminal import render_verdict

    text = render_verdict(document).splitlines()
    return text[:1] if quiet else text


def where_shown(result: Shown) -> list[str]:
    """Return where a report went: notes, warnings, the comment and the status."""
    from mlci.cli.output import in_actions
    from mlci.github.workflow import annotation

    lines = list(result.notes)
    lines += [annotation("warning", w, title="mlci") if in_actions() else f"warning: {w}" for w in result.warnings]
    if result.comment_url:
        lines.append(f"PR comment {result.comment_action}: {result.comment_url}")
    if result.status_state:
        lines.append(f"commit status: {result.status_state}")
    if result.check_run:
        lines.append(f"check run: {result.check_run}")
    return lines


def check(outcome: tuple[CheckResult, Shown], quiet: bool) -> list[str]:
    """Return what `mlci check` found, stored, wrote and posted."""
    from mlci.cli.output import in_actions
    from mlci.github.workflow import endgroup, group

    result, _ = outcome
    if quiet:
        return verdict(result.document, True)
    # The validation lines fold into a group in the Actions log.
    lines = [group("mlci validate")] if in_actions() else []
    lines += validation(result.validation, False) + ([endgroup()] if in_actions() else [])
    lines += [*result.messages, *verdict(result.document, False)]
    if result.push is not None:
        stored = "already stored" if not result.push.created else "stored"
        lines.append(f"candidate {result.push.version} {stored} as '{result.alias}' in {shown(result.push.uri)}")
    lines.append(f"report: {shown(result.report_path)}  comparison: {shown(result.comparison_path)}")
    return lines + where_shown(outcome[1])


def report(outcome: tuple[ReportDocument, Shown], quiet: bool) -> list[str]:
    """Return where `mlci report` wrote and posted the report."""
    document, where = outcome
    lines = [f"report ({document.verdict}) written to {shown(where.report_path)}"]
    return lines if quiet else lines + where_shown(where)


def evaluate(outcome: tuple[ReportDocument, str], quiet: bool) -> list[str]:
    """Return the verdict of `mlci evaluate` and where the comparison went."""
    document, output = outcome
    return verdict(document, quiet) + ([] if quiet else [f"comparison written to {shown(output)}"])


def push(result: PushOutcome, quiet: bool) -> list[str]:
    """Return the version `mlci push` stored, its signature and the alias it moved."""
    state = "stored" if result.created else "already stored (0 bytes sent)"
    lines = [f"version {result.version} {state} at {shown(result.uri)}"]
    if result.signature is not None:
        signed = result.signature
        lines.append(f"signed by {signed.signer.identity} (signature {signed.id}); ML-BOM at {shown(signed.bom_uri)}")
    elif result.signing_note:
        lines.append(result.signing_note)
    if result.alias and not quiet:
        lines.append(f"alias '{result.alias}' -> {result.version} (was {result.previous or 'unset'})")
        lines += result.notes
    return lines


def promote(result: PromoteResult, quiet: bool) -> list[str]:
    """Return how `mlci promote` found and verified the version and where the alias points now."""
    lines = [] if quiet else list(result.notes)
    if result.signature is not None:
        lines.append(f"signature verified: signed by {result.signature.signer.identity}")
    lines.append(f"alias '{result.alias}' -> {result.version} (was {result.previous or 'unset'})")
    return lines + result.recorded


def verification(result: Verification, quiet: bool) -> list[str]:
    """Return the signature that satisfied the policy, and its ML-BOM."""
    s = result.signature
    return [
        f"version {result.version}: signature {s.id} by {s.signer.identity} verifies under the policy",
        f"ML-BOM: {shown(s.bom_uri)}",
    ]


def deployed(verb: str) -> Any:
    """Return the renderer of a deploy (`deployed`) or rollback (`rolled back`)."""

    def render(result: DeployResult, quiet: bool) -> list[str]:
        line = (
            f"{verb}: {result.environment} is version {result.version} (was {result.previous or 'unset'}); "
            f"published at {shown(result.uri)}"
        )
        return [line] if quiet else [*result.notes, line, "smoke test passed"]

    return render


def history(result: History, quiet: bool) -> list[str]:
    """Return the aliases, the versions (with signatures) and the event log."""
    from mlci.contracts.events import CheckEvent, RetrainEvent

    lines = [f"model {result.model} in {shown(result.registry)}", "", "aliases:"]
    for a in result.aliases:
        lines.append(f"  {a.alias:<14} {a.version}  (previous {a.previous or '-'}, {a.updated_at} by {a.actor})")
    lines += ["", "versions:"]
    for v in result.versions:
        metrics = ", ".join(f"{k}={val:.4f}" for k, val in v.metrics.items() if isinstance(val, (int, float)))
        lines.append(f"  {v.version}  {v.created_at}  {metrics}")
        for sig in v.signatures or []:
            made = sig.provenance
            pr = f" PR #{made.pr}" if made is not None and made.pr else ""
            lines.append(
                f"    signature {sig.id}  by {sig.signer.identity}  ({made.action if made else '?'}{pr}, unverified)"
            )
        if v.signatures == []:
            lines.append("    unsigned")
    lines += ["", "events:"]
    for e in result.events:
        what = e.alias or e.env or ""
        extra = f" verdict={e.extra.verdict}" if isinstance(e, CheckEvent | RetrainEvent) else ""
        why = f"  reason: {e.reason}" if e.reason else ""  # `promote/rollback --reason`, as --json shows it
        lines.append(f"  {e.time}  {e.action:<8} {what:<12} {e.version or ''}{extra}  {e.actor or ''}{why}")
    return lines


def card(result: CardResult, quiet: bool) -> list[str]:
    """Return the model card as stored (with -q, where it is), safe to print.

    card.md is text a PR could have written: its control characters (terminal escapes) are
    dropped, and in Actions it is printed between `::stop-commands::` markers (GitHub's way to
    print untrusted text), so a line like `::warning::` or `::add-mask::` in it is not obeyed.
    """
    import secrets
    import unicodedata

    from mlci.cli.output import in_actions

    if quiet:
        return [f"model card of {result.version}: {shown(result.uri)}"]
    body = "".join(c for c in result.text.rstrip("\n") if c in "\n\t" or unicodedata.category(c) != "Cc")
    if not in_actions():
        return [body]
    token = secrets.token_hex(16)
    return [f"::stop-commands::{token}", body, f"::{token}::"]


def drift(result: DriftResult, quiet: bool) -> list[str]:
    """Return the drift headline, and with detail the table, worst feature first."""
    from mlci.report.terminal import render_drift

    report = result.report
    line = (
        f"drift of {result.table} ({report.rows_cur} rows) against production {result.production} "
        f"({report.rows_ref} rows): {report.status}"
    )
    return [line] if quiet else [line, render_drift(report), *result.exported]


def monitor(result: MonitorResult, quiet: bool) -> list[str]:
    """Return the monitor's headline, and with detail each metric's change overall and the slices past their limit."""
    from mlci.stats.metrics import format_signed, format_value

    report = result.report
    line = (
        f"{report.environment} version {report.version} on {report.rows} labelled rows of {result.table}: "
        f"{report.status}"
    )
    if quiet:
        return [line, *report.reasons]

    def row(c: object) -> str:
        from mlci.contracts.monitoring import PerformanceChange

        assert isinstance(c, PerformanceChange)
        shown = lambda x: "-" if x is None else format_value(x)  # noqa: E731
        ci = "-" if c.ci_low is None or c.ci_high is None else f"{format_signed(c.ci_low)}..{format_signed(c.ci_high)}"
        change = "-" if c.change is None else format_signed(c.change)
        return f"  {c.metric:<10} {c.scope:<24} {shown(c.shipped):>9} {shown(c.current):>9} {change:>9} {ci:>20}  {c.status}"

    head = f"  {'metric':<10} {'scope':<24} {'shipped':>9} {'now':>9} {'change':>9} {'CI':>20}  status"
    slices = [c for c in report.slices if c.status == "fail"]
    lines = [line, head, *map(row, report.metrics), *map(row, slices)]
    lines += report.reasons + result.notes
    if result.issue_url:
        lines.append(f"tracking issue {result.issue_action}: {result.issue_url}")
    if result.issue_error:
        lines.append(f"warning: {result.issue_error}")
    return lines


def retrain(result: RetrainResult, quiet: bool) -> list[str]:
    """Return what the scheduled job found, stored and promoted."""
    from mlci.report.terminal import render_drift, render_validation, render_verdict

    if quiet:
        return [f"retrain: {result.verdict}; candidate {result.version}; promoted: {result.promoted or 'no'}"]
    document = result.document
    lines = [line for r in document.validation for line in render_validation(r)]
    if document.drift is not None:
        lines.append(render_drift(document.drift))
    lines.append(render_verdict(document))
    if result.version is not None:
        lines.append(f"candidate {result.version} stored as '{result.alias}'; promoted: {result.promoted or 'no'}")
    lines += result.notes
    if result.refused:
        lines.append(result.refused)
    if result.issue_url:
        lines.append(f"tracking issue {result.issue_action}: {result.issue_url}")
    return lines


def scaffold(result: Scaffold, quiet: bool) -> list[str]:
    """Return what `mlci init` wrote, and how the new suite did on the tables it read."""
    from mlci.report.terminal import render_validation

    lines = [] if quiet else [*(f"wrote {shown(p)}" for p in result.written), *result.notes]
    for r in result.validation:
        outcome = "all pass" if r.success else f"{r.failed} FAILED"
        lines.append(f"suite checked on {r.table}: {r.rows} rows, {r.evaluated} expectations, {outcome}")
        lines += render_validation(r)[1:]
    if result.success and not quiet:
        lines.append("next: mlci config check && mlci check")
    return lines
