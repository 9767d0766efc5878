"""Terminal renderings of the report document's parts: its verdict, validation results and drift."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlci.contracts.document import ReportDocument
    from mlci.contracts.drift import DriftReport
    from mlci.contracts.validation import ValidationResult


def render_validation(result: ValidationResult) -> list[str]:
    """Return the terminal lines summarising one ValidationResult."""
    mark = "ok" if result.success else "FAILED"
    lines = [
        f"{mark}: {result.table} ({result.rows} rows) against {result.suite}: "
        f"{result.evaluated} expectations evaluated, {result.failed} failed"
    ]
    lines += [f"  - {f.describe()}" for f in result.failures]
    lines += [f"  note: {note}" for note in result.notes]
    return lines


def render_verdict(document: ReportDocument) -> str:
    """Return the terminal lines of a ReportDocument: its verdict and headline, metrics, failed gates."""
    lines = [f"verdict: {document.verdict.upper()} - {document.headline}"]
    comparison = document.comparison
    if comparison is None:
        return lines[0]
    from mlci.stats.metrics import format_p, format_signed, format_value

    v = comparison.verdict
    if document.baseline is not None:
        lines.append(
            f"baseline: {document.baseline.label} (version {document.baseline.version}, {document.baseline.uri})"
        )
    lines += ["", f"{'metric':<18}{'baseline':>10}{'candidate':>11}{'delta':>10}  CI / p"]
    for m in comparison.metrics:
        # The headline's, report.md's and the reasons' number format (mlci.stats.metrics.format_value).
        base = "-" if m.baseline is None else format_value(m.baseline)
        cand = "-" if m.candidate is None else format_value(m.candidate)
        delta = "-" if m.delta is None else format_signed(m.delta)
        ci = ""
        if m.ci_low is not None and m.ci_high is not None:
            p = "n/a" if m.p_value is None else format_p(m.p_value)
            ci = f"[{format_signed(m.ci_low)}, {format_signed(m.ci_high)}] p{'' if p.startswith('<') else '='}{p} ({m.method})"
        ci = ci or (f"no interval: {m.no_interval}" if m.no_interval else "")
        lines.append(f"{m.name:<18}{base:>10}{cand:>11}{delta:>10}  {ci}")
    if v.reasons:  # one line per failing metric and scope, however many gates name it
        lines += ["", "failed gates:"] + [f"  - {reason}" for reason in v.reasons]
    return "\n".join(lines)


def render_drift(report: DriftReport) -> str:
    """Return the drift table, worst feature first."""
    lines = [
        f"{'feature':<24}{'kind':<13}{'psi':>8}  {'test':<5}{'p (Holm)':>10}{'effect':>8}  "
        f"{'nulls ref->cur':<16}status  unseen / detail"
    ]
    for f in report.features:
        p = "-" if f.p_adjusted != f.p_adjusted else f"{f.p_adjusted:.3g}"
        effect = "-" if f.effect != f.effect else f"{f.effect:.3f}"
        nulls = f"{f.null_rate_ref:.1%}->{f.null_rate_cur:.1%}"
        unseen = ", ".join(map(str, f.unseen[:3])) + (" ..." if len(f.unseen) > 3 else "")
        extra = "; ".join(x for x in (unseen, f.detail or "") if x)
        lines.append(
            f"{f.feature[:23]:<24}{f.kind:<13}{f.psi:>8.3f}  {f.test:<5}{p:>10}{effect:>8}  "
            f"{nulls:<16}{f.status:<8}{extra}"
        )
    lines.append(
        f"verdict: tests Holm-corrected across {len(report.features)} features at a {report.alpha:g} false-alarm "
        f"rate; fails where the effect is at least {report.min_effect:g}"
    )
    lines += [f"not checked: {name} ({why})" for name, why in report.skipped.items()]
    return "\n".join(lines)
