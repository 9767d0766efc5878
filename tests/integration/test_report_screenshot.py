"""The PR comment as GitHub shows it: a screenshot of the chart's zero line and margin.

The chart is a forest plot drawn with box-drawing characters in a fenced code block
(mlci/report/forest.py). GitHub sets code in its monospace stack (ui-monospace, SFMono-Regular,
SF Mono, Menlo, Consolas, Liberation Mono, monospace); a glyph that the font lacks is drawn from
another font, with another advance, and every column after it moves: the zero line is no longer
straight. Here the comment goes through GitHub's own Markdown engine (cmark-gfm, through
`cmarkgfm`), is styled with GitHub's Markdown CSS (vendored: tests/support/vendor/github-markdown-css)
inside `<article class="markdown-body">` as GitHub does, and is drawn by headless Chromium with
Liberation Mono (Debian's fonts-liberation: the stack's font on Linux, as on CI). The checks read
what the browser laid out and the pixels it drew.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlci.report import render
from mlci.report.forest import MARGIN, MARGIN_CROSSED, ZERO, ZERO_CROSSED
from mlci.stats.comparison import compare
from mlci.stats.specs import Gate
from tests.support import chromium
from tests.support.paths import ROOT
from tests.unit.report.test_markdown import STATS, binary_model, forest_block, make_doc

pytestmark = pytest.mark.skipif(
    chromium.binary() is None,
    reason="no headless Chromium on PATH (make test installs Debian's chromium-headless-shell)",
)

CSS = ROOT / "tests" / "support" / "vendor" / "github-markdown-css" / "github-markdown-light.css"
FONT = "Liberation Mono"
# The width assumed for a comment's body on a laptop-sized window (GitHub pads it by 16 px): the
# chart must fit it without a scroll bar.
COMMENT_WIDTH = 780
SCALE = 2  # device pixels per CSS pixel: a 1-px stroke is then a solid 2-px line, not antialiasing
INK = 128  # a pixel this much darker than white is ink (GitHub's code text is #1f2328 on #f6f8fa)

# Every character's box, the code block's and the page's size, in CSS pixels of the page, and the
# advance of a digit in the code's font (a canvas measures it: text in one font, no fallback).
MEASURE = r"""(() => {
  const code = document.querySelector('pre[lang="text"] > code');
  const pre = code.parentElement, text = code.firstChild, range = document.createRange();
  const lines = []; let start = 0;
  for (const line of text.data.replace(/\n$/, '').split('\n')) {
    const boxes = [];
    for (let i = 0; i < line.length; i++) {
      range.setStart(text, start + i); range.setEnd(text, start + i + 1);
      const r = range.getBoundingClientRect();
      boxes.push([r.left + scrollX, r.top + scrollY, r.width, r.height]);
    }
    lines.push({text: line, boxes}); start += line.length + 1;
  }
  const p = pre.getBoundingClientRect(), ruler = document.createElement('canvas').getContext('2d');
  ruler.font = getComputedStyle(code).font;
  return {lines, nodes: code.childNodes.length, right: p.right + scrollX,
          advance: ruler.measureText('0'.repeat(100)).width / 100,
          client: pre.clientWidth, scroll: pre.scrollWidth,
          page: [document.documentElement.scrollWidth, document.documentElement.scrollHeight]};
})()"""


def failing_comparison() -> Any:
    """Return a real comparison that fails a non-inferiority gate (roc_auc may fall by 0.02) on slices.

    Seeded so that intervals cross both the zero line and the margin (drawn with the crossing
    glyphs) and no point sits on either, so every row has both lines to look at.
    """
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 1200)
    region = rng.choice(["north", "south", "east", "west"], 1200, p=[0.4, 0.1, 0.35, 0.15])
    baseline = binary_model(y, 1.2, rng)
    candidate = binary_model(y, 1.25, rng)
    return compare(
        y,
        candidate,
        baseline,
        task="classification",
        metrics=["roc_auc"],
        primary="roc_auc",
        gates=[Gate(metric="roc_auc", min_absolute_change=-0.02, slices=True, min_slice_size=30)],
        statistics=STATS,
        slices={"region": region},
    )


def github_page(markdown: str, path: Path) -> Path:
    """Write the comment as GitHub renders it (cmark-gfm, as comments are: newlines are breaks)."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    body = cmarkgfm.github_flavored_markdown_to_html(
        markdown, options=Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_HARDBREAKS
    )
    path.write_text(
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<style>{CSS.read_text()}</style>"
        f"<style>body {{ margin: 0 }} .markdown-body {{ box-sizing: border-box; width: {COMMENT_WIDTH}px;"
        " padding: 16px }</style>"
        f'</head><body><article class="markdown-body">{body}</article></body></html>',
        encoding="utf-8",
    )
    return path


@dataclass
class Line:
    """A line of the chart as drawn: its text and each character's box (left, top, width, height)."""

    text: str
    boxes: list[list[float]]


def layout_problems(m: dict[str, Any], block: list[str]) -> list[str]:
    """Return what is wrong with the chart's layout: lost text, wrapped lines, a scroll bar, a broken grid."""
    lines = [Line(x["text"], x["boxes"]) for x in m["lines"]]
    if m["nodes"] != 1 or [x.text for x in lines] != block:
        return ["the code block does not hold the chart's text as written"]
    problems = []
    if m["scroll"] > m["client"] or m["right"] > COMMENT_WIDTH:
        problems.append(f"the chart is clipped: {m['scroll']} px wide in a {m['client']} px code block")
    tops = [{round(b[1], 2) for b in x.boxes} for x in lines]
    if any(len(t) != 1 for t in tops):
        problems.append("a chart line wraps")
    # One grid: the n-th character of every line starts n advances (of the font's digit) right of the first.
    first, advance = lines[0].boxes[0][0], m["advance"]
    for number, line in enumerate(lines):
        for column, b in enumerate(line.boxes):
            if abs(b[0] - (first + column * advance)) > 0.05:  # positions are kept in 1/64 px
                problems.append(
                    f"line {number} is off the grid from column {column} ({line.text[column]!r}):"
                    f" {b[0] - first - column * advance:+.3f} px"
                )
                break
    return problems


def stroke_x(ink: np.ndarray, box: list[float]) -> float | None:
    """Return the x (device pixels) of a vertical stroke filling `box` top to bottom, or None if there is none.

    The stroke's columns are those whose ink runs unbroken through most of the glyph's box (the
    font's ascent to descent; a box-drawing glyph fills it, its line spacing stays blank); its x is
    their ink-weighted centre.
    """
    x0, x1 = int(box[0] * SCALE) - 2, int(np.ceil((box[0] + box[2]) * SCALE)) + 2
    y0, y1 = round(box[1] * SCALE), round((box[1] + box[3]) * SCALE)
    cell = ink[y0:y1, x0:x1]
    dark = cell > INK
    longest = np.zeros(dark.shape[1], dtype=int)
    run = np.zeros(dark.shape[1], dtype=int)
    for row in dark:
        run = np.where(row, run + 1, 0)
        longest = np.maximum(longest, run)
    weight = cell.sum(axis=0) * (longest >= 0.8 * (y1 - y0))
    if not weight.any():
        return None
    return float(x0 + (weight * np.arange(len(weight))).sum() / weight.sum())


def centre_x(ink: np.ndarray, box: list[float]) -> float | None:
    """Return the ink-weighted centre x (device pixels) of a character's box, or None if it is blank."""
    x0, x1 = int(box[0] * SCALE), int(np.ceil((box[0] + box[2]) * SCALE))
    y0, y1 = round(box[1] * SCALE), round((box[1] + box[3]) * SCALE)
    weight = ink[y0:y1, x0:x1].sum(axis=0)
    return float(x0 + (weight * np.arange(len(weight))).sum() / weight.sum()) if weight.any() else None


def line_problems(png: bytes, m: dict[str, Any], zero: int, margin: int) -> list[str]:
    """Return what is wrong with the drawn zero line and margin: a row without it, or a row off the line."""
    from PIL import Image

    ink = 255.0 - np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    lines = [Line(x["text"], x["boxes"]) for x in m["lines"]]
    rows = lines[3:-1]  # overall and the slices, between the axis lines and the legend
    problems = []
    xs: dict[str, float] = {}
    for name, column in (("zero line", zero), ("margin", margin)):
        found = {row.text.split()[0]: stroke_x(ink, row.boxes[column]) for row in rows}
        for label, x in found.items():
            if x is None:
                problems.append(f"the {name} is not drawn in row {label!r}")
        drawn = [x for x in found.values() if x is not None]
        if drawn:
            xs[name] = drawn[0]
            if max(drawn) - min(drawn) > 0.25:
                problems.append(f"the {name} is not straight: its x runs from {min(drawn):.2f} to {max(drawn):.2f} px")
    # The axis's 0 stands above the zero line.
    axis_zero = centre_x(ink, lines[1].boxes[zero])
    if axis_zero is None or ("zero line" in xs and abs(axis_zero - xs["zero line"]) > 1):
        problems.append(
            f"the axis's 0 is not above the zero line: its x is {axis_zero}, the line's {xs.get('zero line')}"
        )
    return problems


@pytest.mark.slow  # a real browser, and a real comparison: ~3 s
def test_the_chart_on_github_has_a_straight_zero_line_and_margin_in_github_fonts(tmp_path: Path) -> None:
    c = failing_comparison()
    assert c.verdict.status == "fail"
    markdown = render(make_doc(c))
    block = forest_block(markdown)
    rows = block[3:-1]
    assert len(rows) == 5  # overall and four slices
    zero = next(i for i, ch in enumerate(rows[0]) if ch in ZERO + ZERO_CROSSED)
    margin = next(i for i, ch in enumerate(rows[0]) if ch in MARGIN + MARGIN_CROSSED)
    # Every row has both lines (no point sits on one), and some intervals cross them.
    assert all(row[zero] in ZERO + ZERO_CROSSED and row[margin] in MARGIN + MARGIN_CROSSED for row in rows)
    assert {row[zero] for row in rows} == {ZERO, ZERO_CROSSED}
    assert {row[margin] for row in rows} == {MARGIN, MARGIN_CROSSED}
    assert block[1][zero] == "0"

    page = github_page(markdown, tmp_path / "comment.html")
    shot = tmp_path / "comment.png"
    with chromium.Chromium(chromium.binary() or "", width=COMMENT_WIDTH, height=900, scale=SCALE) as browser:
        browser.open(page)
        m = browser.evaluate(MEASURE)
        png = browser.screenshot(x=0, y=0, width=m["page"][0], height=m["page"][1])
        shot.write_bytes(png)
        # Every glyph of the chart is the font's own (none fell back to another font), the chart
        # lies on one grid, unclipped, and its zero line and margin are drawn straight through every row.
        fonts = browser.fonts('pre[lang="text"] > code')
        problems = [f"glyphs drawn in {name}: {n}" for name, n in fonts.items() if name != FONT]
        if FONT not in fonts:
            problems.append(f"no glyph drawn in {FONT}: is Debian's fonts-liberation installed (make install)?")
        problems += layout_problems(m, block) + line_problems(png, m, zero, margin)
        assert problems == [], f"{problems} (the screenshot: {shot})"

        # The pixel check sees a row without its zero line: the same page with one row's glyph blanked.
        browser.evaluate(
            "(() => { const t = document.querySelector('pre[lang=\"text\"] > code').firstChild;"
            f" const at = t.data.split('\\n').slice(0, 4).join('\\n').length + 1 + {zero};"
            " t.replaceData(at, 1, ' '); })()"
        )
        blanked = browser.screenshot(x=0, y=0, width=m["page"][0], height=m["page"][1])
    assert line_problems(blanked, m, zero, margin) == [f"the zero line is not drawn in row {rows[1].split()[0]!r}"]
