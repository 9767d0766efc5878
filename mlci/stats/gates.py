"""Gates: turn a comparison's metrics into a Verdict with one human reason per failed gate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from mlci.contracts.comparison import GateResult, Verdict
from mlci.stats.metrics import format_signed, format_value

if TYPE_CHECKING:
    from mlci.contracts.comparison import MetricResult, SliceResult
    from mlci.stats.specs import Gate


def _ci_text(m: MetricResult, confidence: float) -> str:
    if m.ci_low is None or m.ci_high is None:
        return "no CI"
    return f"{confidence * 100:g}% CI {format_signed(m.ci_low)}..{format_signed(m.ci_high)}"


def _p_text(p: float | None) -> str:
    if p is None:
        return "p n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def _relative_conditions(gate: Gate) -> list[str]:
    conds = []
    if gate.min_absolute_change is not None:
        conds.append("min_absolute_change")
    if gate.min_relative_change is not None:
        conds.append("min_relative_change")
    if gate.significant:
        conds.append("significant")
    if gate.non_inferiority_margin is not None:
        conds.append("non_inferiority_margin")
    if gate.relative_non_inferiority_margin is not None:
        conds.append("relative_non_inferiority_margin")
    return conds


def _check_gate(gate: Gate, m: MetricResult | None, scope: str, confidence: float, has_baseline: bool) -> GateResult:
    """Return one gate applied to one scope's metric result."""
    name = gate.metric
    on_slice = scope != "overall"
    if m is None:
        return GateResult(name, scope, False, f"{name} was not computed")
    if m.candidate is None:
        why = f"{name} is undefined: {m.undefined}" if m.undefined else f"{name} is undefined on these rows"
        return GateResult(name, scope, on_slice, why, skipped=on_slice)

    failed: list[str] = []
    passed: list[str] = []
    notes: list[str] = []
    gib = m.greater_is_better
    cand = m.candidate

    if gate.threshold is not None:
        ok = cand >= gate.threshold if gib else cand <= gate.threshold
        op = (">=" if ok else "<") if gib else ("<=" if ok else ">")
        (passed if ok else failed).append(f"{name} {format_value(cand)} {op} threshold {gate.threshold:g}")

    relative = _relative_conditions(gate)
    if relative and not has_baseline:
        notes.append(f"{', '.join(relative)} not checked: no baseline yet")
    elif relative and (m.delta is None or m.baseline is None):
        text = f"{', '.join(relative)} not checked: the baseline's {name} is undefined"
        text += f" ({m.undefined})" if m.undefined else " on these rows"
        if on_slice:
            notes.append(text)
        else:
            failed.append(text)
    elif relative:
        assert m.delta is not None and m.baseline is not None
        better = m.delta if gib else -m.delta  # improvement in the metric's good direction
        direction = "" if gib else f" = improvement {format_signed(better)} (lower is better),"
        change = f"{name} delta {format_signed(m.delta)} ({_ci_text(m, confidence)}){direction}"
        if gate.min_absolute_change is not None:
            c = gate.min_absolute_change
            ok = better >= c
            (passed if ok else failed).append(f"{change} {'meets' if ok else 'below'} min_absolute_change {c:+g}")
        if gate.min_relative_change is not None:
            r = gate.min_relative_change
            if m.baseline == 0:
                failed.append(f"{name} baseline is 0, so min_relative_change {r:+g} cannot be checked")
            else:
                rel = better / abs(m.baseline)
                ok = rel >= r
                (passed if ok else failed).append(
                    f"{name} relative improvement {rel * 100:+.2f}% "
                    f"{'meets' if ok else 'below'} min_relative_change {r * 100:+g}%"
                )
        has_ci = m.ci_low is not None and m.ci_high is not None
        if gate.significant:
            if not has_ci:
                failed.append(f"{name} delta {format_signed(m.delta)} has no CI, so significance cannot be shown")
            else:
                assert m.ci_low is not None and m.ci_high is not None
                ok = m.ci_low > 0 if gib else m.ci_high < 0
                verdict = "significant improvement" if ok else "not a significant improvement"
                (passed if ok else failed).append(f"{change} {_p_text(m.p_value)}: {verdict}")
        margins = []
        if gate.non_inferiority_margin is not None:
            margins.append((gate.non_inferiority_margin, f"non_inferiority_margin {gate.non_inferiority_margin:g}"))
        if gate.relative_non_inferiority_margin is not None:
            r = gate.relative_non_inferiority_margin
            margins.append(
                (
                    r * abs(m.baseline),
                    f"relative_non_inferiority_margin {r * 100:g}% of {format_value(abs(m.baseline))}"
                    f" = {format_value(r * abs(m.baseline))}",
                )
            )
        for margin, what in margins:
            if not has_ci:
                failed.append(f"{name} delta {format_signed(m.delta)} has no CI, so non-inferiority cannot be shown")
            else:
                assert m.ci_low is not None and m.ci_high is not None
                worst = m.ci_low if gib else m.ci_high
                ok = worst > -margin if gib else worst < margin
                (passed if ok else failed).append(
                    f"{change} worse-side bound {format_signed(worst)} {'within' if ok else 'beyond'} {what}"
                )

    if failed:
        return GateResult(name, scope, False, "; ".join(failed))
    if not passed:
        return GateResult(name, scope, True, "; ".join(notes) or "no condition set", skipped=bool(notes))
    return GateResult(name, scope, True, "; ".join(passed + notes))


def apply_gates(
    metrics: list[MetricResult],
    slices: list[SliceResult],
    gates: Sequence[Gate],
    *,
    confidence: float,
    has_baseline: bool,
    primary: str | None = None,
) -> Verdict:
    """Return the verdict of `gates` on overall (and, where asked, per-slice) metric results.

    `primary` names the metric the summary leads with (default: the first of `metrics`).
    """
    results: list[GateResult] = []
    for gate in gates:
        overall = next((m for m in metrics if m.name == gate.metric), None)
        results.append(_check_gate(gate, overall, "overall", confidence, has_baseline))
        if not gate.slices:
            continue
        for s in slices:
            scope = f"{s.column}={s.category}"
            if s.n < gate.min_slice_size:
                results.append(
                    GateResult(
                        gate.metric, scope, True, f"n={s.n} below min_slice_size {gate.min_slice_size}", skipped=True
                    )
                )
                continue
            m = next((r for r in s.metrics if r.name == gate.metric), None)
            results.append(_check_gate(gate, m, scope, confidence, has_baseline))

    failed = [g for g in results if not g.passed]
    reasons = [f"{g.metric} gate on {g.scope}: {g.reason}" for g in failed]
    status: Literal["pass", "fail", "bootstrap"] = "fail" if failed else ("pass" if has_baseline else "bootstrap")
    return Verdict(status, results, reasons, _summary(metrics, results, failed, confidence, primary, has_baseline))


def _summary(
    metrics: list[MetricResult],
    results: list[GateResult],
    failed: list[GateResult],
    confidence: float,
    primary: str | None,
    has_baseline: bool,
) -> str:
    lead = next((m for m in metrics if m.name == primary), metrics[0] if metrics else None)
    if lead is None or lead.candidate is None:
        head = f"{primary or 'primary metric'} undefined"
    elif lead.baseline is None or lead.delta is None:
        head = f"{lead.name} {format_value(lead.candidate)}" + ("" if has_baseline else " (no baseline yet)")
    else:
        head = (
            f"{lead.name} {format_value(lead.baseline)} -> {format_value(lead.candidate)} "
            f"({format_signed(lead.delta)}, {_ci_text(lead, confidence)}, {_p_text(lead.p_value)})"
        )
    checked = [g for g in results if not g.skipped]
    skipped = len(results) - len(checked)
    tail = f", {skipped} skipped" if skipped else ""
    if not results:
        return f"{head}: no gates configured"
    gates = "gate" if len(checked) == 1 else "gates"
    if failed:
        first = failed[0]
        return f"{head}: fails {len(failed)} of {len(checked)} {gates}{tail} (first: {first.metric} on {first.scope})"
    suffix = "" if has_baseline else "; thresholds only until a baseline exists"
    return f"{head}: passes {len(checked)} of {len(checked)} {gates}{tail}{suffix}"
