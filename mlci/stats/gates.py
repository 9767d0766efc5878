"""Gates: turn a comparison's metrics into a Verdict with one plain sentence per failed gate.

Overall, a gate reads the point estimate (threshold, min_absolute_change, min_relative_change)
or the interval (significant, the non-inferiority margins). When an interval condition fails
although the point estimate is on the allowed side, the interval is simply wider than what the
gate must show: the gate still fails (a CI gate must not pass what it cannot show), but it is
marked `inconclusive`, with the change these rows can resolve and the rows that would resolve
the margin (the half-width shrinks as 1/sqrt(n)).

On slices, a relative condition fails only when the slice's interval excludes the allowed
change on the worse side (the slice is shown worse than allowed, not merely estimated so), and
the family of one gate's slice tests is corrected for multiplicity: Holm (the default) or
Benjamini-Hochberg on one-sided p-values of "no worse than allowed", at half of 1 - confidence
so that a lone slice fails exactly when its two-sided interval excludes the allowed change.
Slices below `min_slice_size`, or without an interval (no information, or the method's
assumptions fail there: see MetricResult.no_interval), are shown but not gated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mlci.contracts.comparison import GateResult, SliceTests, Verdict
from mlci.stats.metrics import format_p, format_signed, format_value

if TYPE_CHECKING:
    from mlci.contracts.comparison import MetricResult, SliceResult
    from mlci.stats.specs import Gate

Correction = Literal["holm", "benjamini-hochberg", "none"]


def short(x: float) -> str:
    """Return a measured number (a value, a change, an interval's end) as the tables and the headline show it."""
    return format_value(x)


def bound(x: float) -> str:
    """Return a bound the gate sets (an allowed change, a margin) with three significant digits, as configured: 0.01."""
    return "0" if x == 0 else f"{x:.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _p_text(p: float | None) -> str:
    if p is None:
        return "p n/a"
    shown = format_p(p)
    return f"p{shown}" if shown.startswith("<") else f"p={shown}"


def _ci_text(m: MetricResult, confidence: float) -> str:
    if m.ci_low is None or m.ci_high is None:
        return "no CI"
    return f"{confidence * 100:g}% CI {format_signed(m.ci_low)}..{format_signed(m.ci_high)}"


@dataclass
class Change:
    """One metric's change on some rows, turned so that positive is better."""

    name: str
    better: float  # improvement in the metric's good direction
    low: float | None  # the improvement's interval
    high: float | None
    confidence: float

    @classmethod
    def of(cls, m: MetricResult, confidence: float) -> Change:
        assert m.delta is not None
        if m.ci_low is None or m.ci_high is None:
            return cls(m.name, m.delta if m.greater_is_better else -m.delta, None, None, confidence)
        if m.greater_is_better:
            return cls(m.name, m.delta, m.ci_low, m.ci_high, confidence)
        return cls(m.name, -m.delta, -m.ci_high, -m.ci_low, confidence)

    @property
    def half_width(self) -> float | None:
        return None if self.low is None or self.high is None else (self.high - self.low) / 2

    def words(self) -> str:
        """Return e.g. `log_loss got worse by 6.08 (95% CI 5.24 to 6.91)`."""
        if self.better == 0:
            head = f"{self.name} did not change"
        else:
            head = f"{self.name} {'improved' if self.better > 0 else 'got worse'} by {short(abs(self.better))}"
        if self.low is None or self.high is None:
            return f"{head} (no interval)"
        sign = 1 if self.better >= 0 else -1  # the interval in the same direction as the words
        lo, hi = sorted((sign * self.low, sign * self.high))
        return f"{head} ({self.confidence * 100:g}% CI {short(lo)} to {short(hi)})"


def _allowed_text(allowed: float) -> str:
    """Return what a condition allows, in the words of `Change`: allowed: 0.01; required: better by 0.01."""
    if allowed < 0:
        return f"allowed: {bound(-allowed)}"
    if allowed == 0:
        return "required: no worse"
    return f"required: better by {bound(allowed)}"


def _allowed_changes(gate: Gate, m: MetricResult) -> list[tuple[float, str, bool]]:
    """Return each relative condition as (least improvement allowed, its name, read on the interval?)."""
    assert m.baseline is not None
    out: list[tuple[float, str, bool]] = []
    if gate.min_absolute_change is not None:
        out.append((gate.min_absolute_change, "min_absolute_change", False))
    if gate.min_relative_change is not None:
        out.append((gate.min_relative_change * abs(m.baseline), "min_relative_change", False))
    if gate.significant:
        out.append((0.0, "significant", True))
    if gate.non_inferiority_margin is not None:
        out.append((-gate.non_inferiority_margin, "non_inferiority_margin", True))
    if gate.relative_non_inferiority_margin is not None:
        out.append((-gate.relative_non_inferiority_margin * abs(m.baseline), "relative_non_inferiority_margin", True))
    return out


def _relative_names(gate: Gate) -> list[str]:
    names = [
        ("min_absolute_change", gate.min_absolute_change is not None),
        ("min_relative_change", gate.min_relative_change is not None),
        ("significant", gate.significant),
        ("non_inferiority_margin", gate.non_inferiority_margin is not None),
        ("relative_non_inferiority_margin", gate.relative_non_inferiority_margin is not None),
    ]
    return [n for n, on in names if on]


def rows_needed(n: int, half_width: float, target: float) -> int | None:
    """Return about how many rows give an interval of half-width `target` (it shrinks as 1/sqrt(n)), to tens."""
    if target <= 0 or n <= 0 or not math.isfinite(half_width):
        return None
    need = n * (half_width / target) ** 2
    return int(math.ceil(need / 10) * 10) if need < 1e12 else None


def _threshold(gate: Gate, m: MetricResult) -> tuple[bool, str] | None:
    if gate.threshold is None:
        return None
    assert m.candidate is not None
    ok = m.candidate >= gate.threshold if m.greater_is_better else m.candidate <= gate.threshold
    word = ("at least" if m.greater_is_better else "at most") if ok else ("below" if m.greater_is_better else "above")
    return ok, f"{m.name} is {short(m.candidate)}, {word} the threshold {gate.threshold:g}"


def _undefined(gate: Gate, m: MetricResult | None, scope: str) -> GateResult | None:
    name, on_slice = gate.metric, scope != "overall"
    if m is None:
        return GateResult(name, scope, False, f"{name} was not computed")
    if m.candidate is None:
        why = f"{name} is undefined: {m.undefined}" if m.undefined else f"{name} is undefined on these rows"
        # No value is no information: a slice is not gated on it; overall the gate cannot show
        # what it must, so it fails, saying why (as a gate that needs an interval and has none).
        return GateResult(name, scope, on_slice, ("not gated: " if on_slice else "") + why, skipped=on_slice)
    return None


def check_overall(gate: Gate, m: MetricResult | None, confidence: float, has_baseline: bool, n: int) -> GateResult:
    """Return one gate applied to all test rows (`n` of them), in one sentence."""
    scope = "overall"
    early = _undefined(gate, m, scope)
    if early is not None:
        return early
    assert m is not None and m.candidate is not None
    name = gate.metric
    failed: list[str] = []
    passed: list[str] = []
    notes: list[str] = []
    threshold = _threshold(gate, m)
    if threshold is not None:
        (passed if threshold[0] else failed).append(threshold[1])

    relative = _relative_names(gate)
    resolvable: float | None = None
    inconclusive, needed = False, None
    if relative and not has_baseline:
        notes.append(f"{', '.join(relative)} not checked: no baseline yet")
    elif relative and (m.delta is None or m.baseline is None):
        text = f"{', '.join(relative)} not checked: the baseline's {name} is undefined"
        failed.append(text + (f" ({m.undefined})" if m.undefined else " on these rows"))
    elif relative:
        change = Change.of(m, confidence)
        resolvable = change.half_width
        bad: list[str] = []
        for allowed, what, on_interval in _allowed_changes(gate, m):
            if not on_interval:
                if change.better < allowed:
                    bad.append(_allowed_text(allowed) + ("" if what == "min_absolute_change" else f" ({what})"))
                continue
            if change.low is None or resolvable is None:
                exact = m.no_interval is None or "no information" in m.no_interval
                if exact and allowed < 0 and change.better >= allowed:
                    # No sampling spread to judge (the same model, or the same predictions on
                    # every row): the difference on these rows is the estimate itself, and it is
                    # within what a tolerance allows. A required improvement is never taken from it.
                    notes.append(f"{name}: no interval, judged on the estimate ({m.no_interval or 'no spread'})")
                    continue
                why = f"; {m.no_interval}" if m.no_interval else ""
                bad.append(f"{what} needs an interval, and there is none{why}")
                continue
            if change.low > allowed:
                continue
            level = f"{confidence * 100:g}% confidence"
            bad.append(
                f"{_allowed_text(allowed)} at {level}"
                if allowed
                else f"required: better at {level} ({_p_text(m.p_value)})"
            )
            # Not shown worse than allowed either (the interval holds the allowed change): these
            # rows cannot decide. Rows that would: those whose interval is as narrow as the
            # estimate's distance from the allowed change (none when the estimate is beyond it).
            if change.high is not None and change.high >= allowed:
                inconclusive = True
                if change.better > allowed:
                    needed = rows_needed(n, resolvable, change.better - allowed)
        if bad:
            sentence = f"{change.words()}; {'; '.join(bad)}"
            if inconclusive:
                sentence += " — " + inconclusive_words(n, name, resolvable, gate, needed)
            failed.append(sentence)
        else:
            passed.append(f"{change.words()}; {'; '.join(_allowed_text(a) for a, _, _ in _allowed_changes(gate, m))}")

    allowed_change = None
    if relative and has_baseline and m.baseline is not None and m.delta is not None:
        least = max(a for a, _, _ in _allowed_changes(gate, m))
        allowed_change = least if m.greater_is_better else -least
    if failed:
        reason = "; ".join(failed)
        return GateResult(name, scope, False, reason, False, resolvable, inconclusive, needed, None, allowed_change)
    if not passed:
        return GateResult(name, scope, True, "; ".join(notes) or "no condition set", skipped=bool(notes))
    return GateResult(name, scope, True, "; ".join(passed + notes), False, resolvable, allowed_change=allowed_change)


def inconclusive_words(n: int, name: str, resolvable: float | None, gate: Gate, needed: int | None) -> str:
    """Return e.g. `inconclusive: 200 test rows resolve roc_auc changes of about ±0.018; the margin is 0.01; ...`."""
    assert resolvable is not None
    margin = gate.non_inferiority_margin
    rows = f"{n:,} test rows" if n > 0 else "the test rows"
    text = f"inconclusive: {rows} resolve {name} changes of about ±{short(resolvable)}"
    if margin is not None:
        text += f"; the margin is {bound(margin)}"
    if needed is not None:
        text += f"; about {needed:,} rows would be needed"
    else:
        text += "; the estimate itself is beyond what is allowed, so more rows would likely confirm the failure"
    return text


# --- slices --------------------------------------------------------------------------------------


@dataclass
class _SliceTest:
    index: int  # position in the gate's results
    p: float  # one-sided p-value of "no worse than allowed"
    sentence: str


def _one_sided_p(change: Change, allowed: float) -> float:
    """Return the one-sided p-value of "the improvement is at least `allowed`", from the interval's upper side.

    The normal reading of the interval: se = (upper bound - estimate)/z. So p < (1-confidence)/2
    exactly when the upper bound is below `allowed`, the interval's own decision.
    """
    from scipy import stats

    assert change.high is not None
    z = float(stats.norm.ppf(0.5 + change.confidence / 2))
    se = (change.high - change.better) / z
    if se <= 0:
        return 0.0 if change.better < allowed else 1.0
    return float(stats.norm.cdf((change.better - allowed) / se))


def adjust(p: list[float], correction: Correction) -> list[float]:
    """Return multiplicity-adjusted p-values: Holm's step-down or Benjamini-Hochberg's step-up."""
    import numpy as np

    m = len(p)
    if m == 0 or correction == "none":
        return list(p)
    arr = np.asarray(p, dtype=float)
    order = np.argsort(arr, kind="stable")
    ranked = arr[order]
    if correction == "holm":
        adj = np.maximum.accumulate(ranked * (m - np.arange(m)))
    else:
        adj = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out.tolist()


def check_slices(
    gate: Gate, slices: list[SliceResult], confidence: float, has_baseline: bool, correction: Correction
) -> tuple[list[GateResult], SliceTests]:
    """Return one gate applied to every slice, the family's error controlled, and what was tested."""
    results: list[GateResult] = []
    tests: list[_SliceTest] = []
    small = without = 0
    for s in slices:
        scope = f"{s.column}={s.category}"
        if s.n < gate.min_slice_size:
            small += 1
            reason = f"n={s.n} below min_slice_size {gate.min_slice_size}"
            results.append(GateResult(gate.metric, scope, True, reason, skipped=True))
            continue
        m = next((r for r in s.metrics if r.name == gate.metric), None)
        early = _undefined(gate, m, scope)
        if early is not None:
            # Undefined on these rows (one class, no predicted positives): no information, not gated.
            without += int(early.skipped)
            results.append(early)
            continue
        assert m is not None
        threshold = _threshold(gate, m)
        failed = [threshold[1]] if threshold is not None and not threshold[0] else []
        relative = _relative_names(gate)
        if not relative or not has_baseline:
            note = "; ".join(failed) or (threshold[1] if threshold else "no condition set")
            results.append(GateResult(gate.metric, scope, not failed, note, skipped=not failed and not threshold))
            continue
        if m.delta is None or m.baseline is None or m.ci_low is None:
            without += 1
            why = m.no_interval or m.undefined or "no interval of the difference on these rows"
            reason = "; ".join([*failed, f"not gated: {why}"])
            results.append(GateResult(gate.metric, scope, not failed, reason, skipped=not failed))
            continue
        change = Change.of(m, confidence)
        allowed = max(a for a, _, _ in _allowed_changes(gate, m))
        p = _one_sided_p(change, allowed)
        sentence = f"{change.words()}; {_allowed_text(allowed)}"
        tests.append(_SliceTest(len(results), p, sentence))
        results.append(
            GateResult(gate.metric, scope, not failed, "; ".join([*failed, sentence]), False, change.half_width)
        )

    alpha = (1 - confidence) / 2
    adjusted = adjust([t.p for t in tests], correction)
    for t, q in zip(tests, adjusted, strict=True):
        r = results[t.index]
        worse = q < alpha
        how = "shown worse than allowed" if worse else "not shown worse than allowed"
        control = "" if correction == "none" else f" after {correction} across {len(tests)} slices"
        reason = f"{r.reason}: {how}{control} (one-sided {_p_text(q)})"
        results[t.index] = GateResult(
            r.metric, r.scope, r.passed and not worse, reason, False, r.resolvable, adjusted_p=q
        )
    failed_count = sum(1 for r in results if not r.passed)
    return results, SliceTests(gate.metric, correction, len(tests), failed_count, small, without)


# --- the verdict -----------------------------------------------------------------------------------


def apply_gates(
    metrics: list[MetricResult],
    slices: list[SliceResult],
    gates: Sequence[Gate],
    *,
    confidence: float,
    has_baseline: bool,
    primary: str | None = None,
    n_rows: int = 0,
    correction: Correction = "holm",
) -> Verdict:
    """Return the verdict of `gates` on overall (and, where asked, per-slice) metric results.

    `primary` names the metric the summary leads with (default: the first of `metrics`);
    `n_rows` is the number of test rows (for the rows an inconclusive gate would need);
    `correction` the error control across one gate's slices.
    """
    results: list[GateResult] = []
    families: list[SliceTests] = []
    for gate in gates:
        overall = next((m for m in metrics if m.name == gate.metric), None)
        results.append(check_overall(gate, overall, confidence, has_baseline, n_rows))
        if gate.slices:
            per_slice, family = check_slices(gate, slices, confidence, has_baseline, correction)
            results += per_slice
            families.append(family)

    failed = [g for g in results if not g.passed]
    # One line per failing (metric, scope): two gates on roc_auc overall are one reason.
    merged: dict[tuple[str, str], list[str]] = {}
    for g in failed:
        merged.setdefault((g.metric, g.scope), [])
        if g.reason not in merged[(g.metric, g.scope)]:
            merged[(g.metric, g.scope)].append(g.reason)
    reasons = [f"{metric} on {scope}: {'; '.join(why)}" for (metric, scope), why in merged.items()]
    status: Literal["pass", "fail", "bootstrap"] = "fail" if failed else ("pass" if has_baseline else "bootstrap")
    summary = _summary(metrics, results, failed, confidence, primary, has_baseline, n_rows)
    return Verdict(status, results, reasons, summary, families)


def _summary(
    metrics: list[MetricResult],
    results: list[GateResult],
    failed: list[GateResult],
    confidence: float,
    primary: str | None,
    has_baseline: bool,
    n_rows: int,
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
        undecided = next((g for g in failed if g.inconclusive and " — " in g.reason), None)
        why = "" if undecided is None else "; " + undecided.reason.split(" — ", 1)[1]
        return (
            f"{head}: fails {len(failed)} of {len(checked)} {gates}{tail} (first: {first.metric} on {first.scope}){why}"
        )
    suffix = "" if has_baseline else "; thresholds only until a baseline exists"
    return f"{head}: passes {len(checked)} of {len(checked)} {gates}{tail}{suffix}"
