"""A forest plot in text: each group's change with its interval, the zero line and the gate's margin.

Drawn with box-drawing characters in a fenced code block, so GitHub (and any terminal) shows it
the same everywhere, with no JavaScript and no axis that starts anywhere but where the numbers
say: a bar spans its interval on one linear scale shared by every row, `│` marks no change and
`║` the allowed change of the gate. Mermaid's xychart draws bars up from the axis minimum,
which shows a zero change as a half-height bar; a forest plot has no bars to mislead.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlci.stats.gates import bound
from mlci.stats.metrics import format_signed

WIDTH = 41  # plot cells between the labels and the numbers
# Every glyph is in WGL4, the set that every font of GitHub's code stack has (SF Mono, Menlo,
# Consolas, Liberation Mono): a glyph the font lacks is drawn from another font with another
# advance, which moves every column after it. `┊` was the margin until a screenshot showed it
# drawn from DejaVu Sans beside Liberation Mono, 0.16 px narrower and dashed: the zero line bent
# there and the margin was no line (tests/integration/test_report_screenshot.py).
POINT, BAR, ZERO, MARGIN = "●", "─", "│", "║"
ZERO_CROSSED, MARGIN_CROSSED = "┼", "╫"


@dataclass
class Row:
    """One group: its label, rows, the change and its interval (None where there is none)."""

    label: str
    n: int
    delta: float
    low: float | None
    high: float | None


def _column(x: float, lo: float, hi: float) -> int:
    return round((x - lo) / (hi - lo) * (WIDTH - 1))


def scale(rows: list[Row], allowed: float | None) -> tuple[float, float]:
    """Return the plot's (low, high) ends: every interval, 0 and the allowed change inside, with a little room."""
    points = [0.0] + ([allowed] if allowed is not None else [])
    for r in rows:
        points += [r.delta] + [x for x in (r.low, r.high) if x is not None]
    lo, hi = min(points), max(points)
    pad = (hi - lo) * 0.05 or 0.01
    return lo - pad, hi + pad


def forest(
    rows: list[Row], *, metric: str, allowed: float | None, greater_is_better: bool, confidence: float, more: int = 0
) -> str:
    """Return the plot's lines (no fence): a header, one line per row, and a legend."""
    lo, hi = scale(rows, allowed)
    zero = _column(0.0, lo, hi)
    margin = _column(allowed, lo, hi) if allowed is not None else None
    width = max([len(r.label) for r in rows] + [7])
    counts = max(len(f"{r.n:,}") for r in rows) if rows else 1
    left = width + counts + 4
    # The axis: 0 above the zero line, the ends' values at the ends where they do not touch it.
    axis = [" "] * WIDTH
    axis[zero] = "0"
    low_text, high_text = format_signed(lo), format_signed(hi)
    if len(low_text) < zero - 1:
        axis[: len(low_text)] = list(low_text)
    if WIDTH - len(high_text) > zero + 1:
        axis[WIDTH - len(high_text) :] = list(high_text)
    worse, better = ("← worse", "better →") if greater_is_better else ("← better", "worse →")
    lines = [
        f"{metric}: candidate − baseline, {confidence * 100:g}% interval",
        " " * left + "".join(axis),
        " " * left + worse + " " * max(1, WIDTH - len(worse) - len(better)) + better,
    ]
    for r in rows:
        cells = [" "] * WIDTH
        if margin is not None:
            cells[margin] = MARGIN
        cells[zero] = ZERO
        if r.low is not None and r.high is not None:
            for c in range(_column(r.low, lo, hi), _column(r.high, lo, hi) + 1):
                cells[c] = ZERO_CROSSED if c == zero else MARGIN_CROSSED if c == margin else BAR
            numbers = f"{format_signed(r.delta)} [{format_signed(r.low)}, {format_signed(r.high)}]"
        else:
            numbers = f"{format_signed(r.delta)} (no interval)"
        cells[_column(r.delta, lo, hi)] = POINT
        lines.append(f"{r.label:<{width}}  {r.n:>{counts},}  {''.join(cells)}  {numbers}")
    legend = f"{POINT} change  {BAR} interval  {ZERO} no change"
    if allowed is not None:
        # A bound the gate sets, written as the gate reasons write it (mlci.stats.gates.bound).
        legend += f"  {MARGIN} allowed change ({'' if allowed < 0 else '+'}{bound(allowed)})"
    lines.append(legend)
    if more:
        lines.append(f"{more:,} more {'slice' if more == 1 else 'slices'} not shown (the table lists them)")
    return "\n".join(lines)
