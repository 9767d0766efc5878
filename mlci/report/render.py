"""Render a comparison.json document as the Markdown report: step summary, report.md, PR comment.

The templates (`templates/*.md.j2`, overridable from `report.templates`) receive `r`, a view
of the document with rows already chosen and ordered, and `doc`, the document itself. The
environment prints every `{{ ... }}` through `markdown.escape` unless the value came out of
one of our formatting filters (`Safe`), so a template, ours or a user's, cannot forget to
escape data: it would have to ask for raw output with `|raw` (or jinja's `|safe`), which is
also what a macro's output needs, since a macro returns plain text.

A report longer than `limit` is rendered again with less in it (see `_BUDGETS`): first the
sections that start collapsed go, then rows beyond the first few, and a line says what was
cut and where the full report is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci.errors import ConfigError
from mlci.report import markdown as md

if TYPE_CHECKING:
    import jinja2

    from mlci.config.schema import Config
    from mlci.contracts.document import ReportDocument

COMMENT_LIMIT = 65536  # GitHub's maximum issue/PR comment body, in characters
# GitHub takes at most 1 MiB of step summary per step; in characters that is 1 MiB / 4, the
# UTF-8 worst case, so a report cut to this never fails the upload whatever its alphabet.
STEP_SUMMARY_LIMIT = 1024 * 1024 // 4
MARKER_TEMPLATE = "<!-- mlci:{model} -->"
TEMPLATES = Path(__file__).parent / "templates"
CUT_PHRASE = "This report was shortened to fit"
DEFAULT_HINT = "the job's step summary and the report.md artifact"

CHART_BARS = 20  # overall + the largest slices; more bars make the chart unreadable
LIBRARIES_SHOWN = 40
CELL_WIDTH = 160  # longest data text in a table cell at full size
TEXT_WIDTH = 600  # longest data text printed anywhere without an explicit width

MARKS = {
    "pass": "✅",
    "fail": "❌",
    "bootstrap": "🆕",
    "skipped": "⏭️",
    "ok": "✅",
    "warn": "⚠️",
}
_STATUS_RANK = {"fail": 3, "warn": 2, "pass": 1, "ok": 1, "skipped": 0}


class Safe(str):
    """Text that is already safe Markdown: our own markup, or data that went through `escape`."""

    __slots__ = ()


def marker(model: str) -> str:
    """Return the hidden line that identifies this model's sticky comment."""
    # config restricts model names to [A-Za-z0-9_.-]; replacing anything else keeps a stray
    # name from ending the HTML comment early.
    return MARKER_TEMPLATE.format(model=re.sub(r"[^A-Za-z0-9_.-]", "_", str(model)) or "_")


@dataclass(frozen=True)
class _Budget:
    """How much of the report to show; each step trades detail for size."""

    collapsed: bool = True  # keep the <details> sections that start closed
    rows: int | None = None  # most rows per slice, gate, drift and failure table
    results: int | None = None  # most validation results
    width: int = CELL_WIDTH  # longest data text in a table cell


_BUDGETS = (
    _Budget(),
    _Budget(collapsed=False),
    _Budget(collapsed=False, rows=50, results=10, width=100),
    _Budget(collapsed=False, rows=10, results=3, width=48),
)


def render(
    document: ReportDocument,
    *,
    templates_dir: str | Path | None = None,
    limit: int | None = None,
    full_report_hint: str = DEFAULT_HINT,
) -> str:
    """Return the Markdown report of a document, starting with the comment marker.

    With `limit`, the report is cut to at most that many characters, saying what was cut
    and that the full report is in `full_report_hint`. The verdict, title and headline come
    from the document's own fields; the tables read its JSON data.
    """
    env = environment(templates_dir)
    template = _template(env, "report.md.j2")
    doc = document.to_data()
    head = marker(document.model) + "\n"
    budgets = _BUDGETS if limit is not None else _BUDGETS[:1]
    text = ""
    for budget in budgets:
        view, cuts = _view(document, doc, budget)
        note = _cut_note(cuts, limit, full_report_hint) if cuts else None
        view["cut"] = note
        text = head + _run(template, view, doc)
        if note is not None and CUT_PHRASE not in text:  # a user template left it out
            text = head + note + "\n\n" + text[len(head) :]
        if limit is None or len(text) <= limit:
            return text
    assert limit is not None
    return _hard_cut(text, limit, len(head), _cut_note(["the rest of it was cut here"], limit, full_report_hint))


# --- jinja ------------------------------------------------------------------------------------


def environment(templates_dir: str | Path | None = None) -> jinja2.Environment:
    """Return the jinja2 environment: `templates_dir` first, then mlci's templates; data escaped by default."""
    import jinja2

    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        path = Path(templates_dir)
        if not path.is_dir():
            raise ConfigError(
                f"report.templates: {path} is not a directory",
                hint="point it at a directory of *.md.j2 files, or remove it to use mlci's templates",
            )
        loaders.append(jinja2.FileSystemLoader(str(path)))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=False,  # Markdown, not HTML: escaping is `finalize` below
        finalize=_finalize,
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def _finalize(value: Any) -> str:
    """Return what `{{ value }}` prints: Safe text as is, anything else escaped."""
    import jinja2
    import markupsafe

    # Markup comes from jinja's own `|safe` in a user's template: the author asked for it raw.
    if isinstance(value, (Safe, markupsafe.Markup)):
        return str(value)
    if value is None or isinstance(value, jinja2.Undefined):
        return ""
    return md.escape(value, TEXT_WIDTH)


def _safe(fn: Callable[..., str]) -> Callable[..., Safe]:
    def wrapped(*args: Any, **kwargs: Any) -> Safe:
        return Safe(fn(*args, **kwargs))

    wrapped.__doc__ = fn.__doc__
    return wrapped


def _url(url: Any, text: Any = None) -> str:
    """Return a link to `url` if it is http(s); otherwise the URL as escaped text."""
    if md.safe_url(url) is None:
        return md.escape(url, TEXT_WIDTH) if url else md.DASH
    return md.link(url if text is None else text, url)


def _mark(status: Any) -> str:
    return MARKS.get(str(status), "➖")


FILTERS: dict[str, Callable[..., Any]] = {
    "md": _safe(md.escape),
    "code": _safe(md.code),
    "num": _safe(md.num),
    "signed": _safe(md.signed),
    "pct": _safe(md.percent),
    "pvalue": _safe(md.pvalue),
    "ci": _safe(md.interval),
    "count": _safe(md.count),
    "short": _safe(md.short_hash),
    "url": _safe(_url),
    "mark": _safe(_mark),
    "label": _safe(md.mermaid_label),
    # For a template author's own Markdown built in an expression; never for data.
    "raw": Safe,
}


def _template(env: jinja2.Environment, name: str) -> jinja2.Template:
    import jinja2

    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as e:
        raise ConfigError(f"{e.filename or e.name}:{e.lineno}: template error: {e.message}") from None
    except jinja2.TemplateNotFound as e:
        raise ConfigError(f"report template {e.name} not found") from None


def _run(template: jinja2.Template, view: dict[str, Any], doc: dict[str, Any]) -> str:
    import jinja2

    try:
        text = template.render(r=view, doc=doc)
    except jinja2.TemplateSyntaxError as e:  # an included partial is compiled on first use
        raise ConfigError(f"{e.filename or e.name}:{e.lineno}: template error: {e.message}") from None
    except jinja2.TemplateNotFound as e:
        raise ConfigError(f"report template {e.name} not found") from None
    except jinja2.TemplateError as e:
        raise ConfigError(f"report template failed: {e}") from None
    # Partials that render nothing leave runs of blank lines; one is enough in Markdown.
    return re.sub(r"\n{3,}", "\n\n", text.lstrip("\n"))


# --- cutting ----------------------------------------------------------------------------------


def _cut_note(cuts: list[str], limit: int | None, hint: str) -> Safe:
    size = f"{limit:,} characters" if limit else "its size limit"
    return Safe(f"> ✂️ **{CUT_PHRASE} {size}:** " + "; ".join(cuts) + f". The full report is in {md.escape(hint)}.")


def _hard_cut(text: str, limit: int, head: int, note: str) -> str:
    """Return `text` cut at a line end to fit `limit` with `note`, closing any open fence or <details>.

    The first `head` characters (the marker line) are always kept.
    """
    # The reserve covers the closing fence and a few </details>; the budgets above make this
    # path rare (a report whose fixed parts alone are near the limit).
    reserve = len(note) + 2 + 4 + 12 * 8
    keep = text[: max(limit - reserve, head)]
    keep = keep[: max(keep.rfind("\n") + 1, head)]
    closing = ""
    if sum(1 for line in keep.splitlines() if line.startswith("```")) % 2:
        closing += "```\n"
    closing += "</details>\n" * min(max(keep.count("<details") - keep.count("</details>"), 0), 8)
    out = keep + closing + "\n" + note
    return out if len(out) <= limit else out[:limit]


# --- the view ---------------------------------------------------------------------------------


def _title(document: ReportDocument) -> str:
    """Return the heading's words: the verdict, and for a failure the stages that failed."""
    if document.verdict == "fail":
        return "failed: " + ", ".join(s.name for s in document.failed_stages)
    if document.verdict == "pass":
        return "passed"
    if document.no_baseline:
        return "not compared (no baseline could be read)"
    return "first model (no baseline yet)"


def _view(document: ReportDocument, doc: dict[str, Any], budget: _Budget) -> tuple[dict[str, Any], list[str]]:
    """Return what the templates show of the document (`doc` is its JSON data) within `budget`, and a phrase per thing cut."""
    cuts: list[str] = []
    comparison = doc.get("comparison") or {}
    verdict = comparison.get("verdict") or {}
    gates = list(verdict.get("gates") or [])
    validation = list(doc.get("validation") or [])
    status = document.verdict
    view: dict[str, Any] = {
        "model": document.model,
        "status": status,
        "mark": Safe(_mark(status)),
        "title": _title(document),
        "summary": _pretty(document.headline),
        "stages": [s.model_dump() for s in document.stages],
        "reasons": [reason for s in document.failed_stages for reason in s.reasons],
        "width": budget.width,
        "primary": comparison.get("primary"),
        "task": comparison.get("task"),
        "n_rows": comparison.get("n_rows"),
        "confidence": Safe(f"{float(comparison.get('confidence') or 0.95) * 100:g}%"),
        "metrics": list(comparison.get("metrics") or []),
        "has_comparison": bool(comparison),
    }
    view["positive_class"] = comparison.get("positive_class")
    view["positive_class_configured"] = bool(comparison.get("positive_class_configured"))
    view["n_classes"] = _multiclass(comparison)
    # Multiclass precision, recall and f1 average over the classes where each is defined: said
    # where they are shown, as a slice metric averaged over the classes present is (`_slices`).
    view["macro"] = [
        m.get("name") for m in view["metrics"] if view["n_classes"] and _averages(m.get("name"), "defined")
    ]
    view["changes"] = _changes(doc.get("changes"))
    view["examples"] = doc.get("examples")  # format: results: the changed examples (ids, slices; texts if asked)
    view["gates"] = _gates(gates, budget, cuts)
    view["gates"]["families"] = list(verdict.get("slice_tests") or [])
    view["slices"] = _slices(comparison, gates, budget, cuts)
    view["chart"] = _chart(comparison)
    view["importance"] = _importance(doc.get("importance"))
    view["validation"] = _validation(validation, budget, cuts)
    view["drift"] = _drift(doc.get("drift"), budget, cuts)
    view.update(_provenance(document, doc))
    return view, cuts


def _importance(found: dict[str, Any] | None) -> dict[str, Any] | None:
    """The top features of each model and the largest changes in importance (None: not measured)."""
    if not found:
        return None
    top = int(found.get("top") or 5)
    changes = [c for c in found.get("changes") or [] if c.get("delta")][:top]
    return {
        "metric": found.get("metric"),
        "rows": found.get("rows"),
        "repeats": found.get("repeats"),
        "confidence": Safe(f"{float(found.get('confidence') or 0.95) * 100:g}%"),
        "candidate": list(found.get("candidate") or [])[:top],
        "baseline": None if found.get("baseline") is None else list(found.get("baseline") or [])[:top],
        "changes": changes,
    }


def _changes(changes: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """Rows of what differs between baseline and candidate (None: no baseline to compare with)."""
    if changes is None:
        return None
    return [c for part in ("model", "features", "data", "libraries") for c in changes.get(part) or []]


_OPERATORS = {" -> ": " → ", " >= ": " ≥ ", " <= ": " ≤ "}


def _pretty(text: str) -> str:
    """Return evaluation's sentence with arrows and comparisons as single characters (no `&gt;` in a terminal)."""
    for ascii_op, symbol in _OPERATORS.items():
        text = text.replace(ascii_op, symbol)
    return text


def _capped(rows: list[Any], cap: int | None, keep_first: Callable[[Any], bool]) -> list[Any]:
    """Return at most `cap` rows, those passing `keep_first` first, in their original order."""
    if cap is None or len(rows) <= cap:
        return rows
    chosen = sorted(range(len(rows)), key=lambda i: (not keep_first(rows[i]), i))[:cap]
    return [rows[i] for i in sorted(chosen)]


def _gates(gates: list[dict[str, Any]], budget: _Budget, cuts: list[str]) -> dict[str, Any]:
    """Overall gates and failed slice gates in the table; passed/skipped slice gates folded away."""

    def row(g: dict[str, Any]) -> dict[str, Any]:
        state = "fail" if not g.get("passed") else "skipped" if g.get("skipped") else "pass"
        return {**g, "reason": _pretty(str(g.get("reason") or "")), "state": state, "mark": Safe(MARKS[state])}

    rows = [row(g) for g in gates]
    overall = [g for g in rows if _overall(g)]
    failed_slices = [g for g in rows if not _overall(g) and g["state"] == "fail"]
    rest = [g for g in rows if not _overall(g) and g["state"] != "fail"]
    shown_failed = failed_slices if budget.rows is None else failed_slices[: budget.rows]
    if len(shown_failed) < len(failed_slices):
        cuts.append(f"showing {len(shown_failed):,} of {len(failed_slices):,} failed slice gates")
    rest_shown = rest
    if rest and not budget.collapsed:
        cuts.append(f"omitted {len(rest):,} passed or skipped slice gates")
        rest_shown = []
    return {
        "shown": overall + shown_failed,
        "rest": rest_shown,
        "rest_count": len(rest),
        "passed": sum(1 for g in rows if g["state"] == "pass"),
        "failed": sum(1 for g in rows if g["state"] == "fail"),
        "skipped": sum(1 for g in rows if g["state"] == "skipped"),
        "omitted_failed": len(failed_slices) - len(shown_failed),
        "total": len(rows),
    }


def _overall(g: dict[str, Any]) -> bool:
    return bool(g.get("scope") == "overall")


def _averages(name: Any, how: str) -> bool:
    """Return whether metric `name` averages a multiclass value over the classes `how` ("defined", "present")."""
    from mlci.stats.metrics import METRICS

    metric = METRICS.get(str(name))
    return metric is not None and metric.class_average == how


def _multiclass(comparison: dict[str, Any]) -> int | None:
    """Return the number of classes of a multiclass comparison, None otherwise."""
    k = comparison.get("n_classes")
    return int(k) if comparison.get("task") == "classification" and isinstance(k, int) and k > 2 else None


def _slices(
    comparison: dict[str, Any], gates: list[dict[str, Any]], budget: _Budget, cuts: list[str]
) -> dict[str, Any]:
    """Per-slice rows of the primary metric, grouped by column and largest first, with gate marks."""
    primary = comparison.get("primary")
    k = _multiclass(comparison)
    # Where the report shows a multiclass roc_auc of a slice (its table, or a slice gate's reason),
    # it says that the average runs over the classes present in that slice.
    named = dict.fromkeys([str(primary), *(str(g.get("metric")) for g in gates if g.get("scope") != "overall")])
    present = [name for name in named if k is not None and _averages(name, "present")]
    by_scope: dict[str, list[dict[str, Any]]] = {}
    for g in gates:
        if g.get("scope") != "overall":
            by_scope.setdefault(str(g.get("scope")), []).append(g)
    columns: dict[str, int] = {}
    rows = []
    for s in comparison.get("slices") or []:
        column, category = str(s.get("column")), str(s.get("category"))
        columns.setdefault(column, len(columns))
        results = by_scope.get(f"{column}={category}", [])
        state = None
        if results:
            states = ["fail" if not g.get("passed") else "skipped" if g.get("skipped") else "pass" for g in results]
            state = max(states, key=lambda x: _STATUS_RANK[x])
        metric: dict[str, Any] = next((m for m in s.get("metrics") or [] if m.get("name") == primary), {})
        rows.append(
            {
                "column": column,
                "category": category,
                "n": s.get("n"),
                "m": metric,
                "gate": state,
                "mark": Safe(_mark(state)) if state else Safe(md.DASH),
            }
        )
    rows.sort(key=lambda r: (columns[r["column"]], -int(r["n"] or 0)))
    total = len(rows)
    failed = sum(1 for r in rows if r["gate"] == "fail")
    is_open = failed > 0
    shown = rows
    if rows and not is_open and not budget.collapsed:
        cuts.append(f"omitted the per-slice results ({total:,} slices)")
        shown = []
    elif budget.rows is not None and total > budget.rows:
        # Keep every slice that failed a gate, then the largest ones.
        order = sorted(range(total), key=lambda i: (rows[i]["gate"] != "fail", -int(rows[i]["n"] or 0), i))
        shown = [rows[i] for i in sorted(order[: budget.rows])]
        cuts.append(f"showing {len(shown):,} of {total:,} slices")
    return {
        "rows": shown,
        "total": total,
        "failed": failed,
        "open": is_open,
        "columns": list(columns),
        "omitted": total - len(shown),
        # Why a dash stands where a number would: one line per shown slice without a value.
        "undefined": [r for r in shown if r["m"].get("undefined")],
        "present": {"names": present, "classes": k} if present and total else None,
    }


def _chart(comparison: dict[str, Any]) -> dict[str, Any] | None:
    """Baseline and candidate values of the primary metric, overall and for the largest slices."""
    primary = comparison.get("primary")
    if not primary:
        return None
    overall = next((m for m in comparison.get("metrics") or [] if m.get("name") == primary), None)
    if overall is None or overall.get("candidate") is None:
        return None
    with_baseline = overall.get("baseline") is not None
    slices = sorted(comparison.get("slices") or [], key=lambda s: -int(s.get("n") or 0))
    if with_baseline and overall.get("delta") is not None:
        return _forest(comparison, primary, overall, slices)
    bars: list[tuple[Any, float | None, float]] = [(None, overall.get("baseline"), overall["candidate"])]
    for s in slices:
        if len(bars) >= CHART_BARS:
            break
        m = next((x for x in s.get("metrics") or [] if x.get("name") == primary), None)
        if m is None or m.get("candidate") is None:
            continue
        bars.append((s, m.get("baseline"), m["candidate"]))
    # Without a baseline: the candidate's values on an axis from 0 (a zoomed axis turns noise
    # into towers). With one, the forest plot of changes (`_forest`).
    values = [float(c) for _, _, c in bars]
    lo, hi = min(values), max(values)
    y_min = min(0.0, lo * 1.1)
    y_max = 1.0 if lo >= 0 and hi <= 1 else max(hi * 1.1, 0.0) or 1.0

    one_column = len({str(s.get("column")) for s, _, _ in bars if s is not None}) <= 1

    def label(s: dict[str, Any] | None) -> str:
        # With one slice column the category alone says it; the narrow axis needs every character.
        if s is None:
            return "overall"
        text = str(s.get("category")) if one_column else f"{s.get('column')}={s.get('category')}"
        return md.mermaid_label(text)

    def series(values: list[float]) -> Safe:
        return Safe(", ".join(f"{v:.4g}" for v in values))

    gib = overall.get("greater_is_better", True)
    return {
        "metric": Safe(md.mermaid_label(primary, 40)),
        "labels": Safe(", ".join(f'"{label(s)}"' for s, _, _ in bars)),
        "delta": False,
        "better": "above" if gib else "below",
        "series": series(values),
        "y_min": Safe(f"{y_min:.4g}"),
        "y_max": Safe(f"{y_max:.4g}"),
        "bars": len(bars),
        "slices": len(bars) - 1,
        "total_slices": len(slices),
    }


#: Slices the forest plot shows beside overall: those with the strongest evidence of a change.
FOREST_SLICES = 15


def _forest(
    comparison: dict[str, Any], primary: str, overall: dict[str, Any], slices: list[dict[str, Any]]
) -> dict[str, Any]:
    """The forest plot of the primary metric's change: overall, then the slices with the smallest p-values."""
    from mlci.report.forest import Row, forest

    rows = [
        Row(
            "overall",
            int(comparison.get("n_rows") or 0),
            overall["delta"],
            overall.get("ci_low"),
            overall.get("ci_high"),
        )
    ]
    candidates = []
    for s in slices:
        m = next((x for x in s.get("metrics") or [] if x.get("name") == primary), None)
        if m is None or m.get("delta") is None:
            continue
        p = m.get("p_value")
        candidates.append((1.0 if p is None else float(p), -int(s.get("n") or 0), s, m))
    candidates.sort(key=lambda c: (c[0], c[1]))
    one_column = len({str(s.get("column")) for s in slices}) <= 1
    for _, _, s, m in candidates[:FOREST_SLICES]:
        label = str(s.get("category")) if one_column else f"{s.get('column')}={s.get('category')}"
        rows.append(
            Row(md.mermaid_label(label, 30), int(s.get("n") or 0), m["delta"], m.get("ci_low"), m.get("ci_high"))
        )
    gate = next(
        (
            g
            for g in (comparison.get("verdict") or {}).get("gates") or []
            if g.get("metric") == primary and g.get("scope") == "overall" and g.get("allowed_change") is not None
        ),
        None,
    )
    text = forest(
        rows,
        metric=primary,
        allowed=None if gate is None else float(gate["allowed_change"]),
        greater_is_better=bool(overall.get("greater_is_better", True)),
        confidence=float(comparison.get("confidence") or 0.95),
        more=max(0, len(candidates) - FOREST_SLICES),
    )
    return {"forest": Safe(text), "metric": Safe(md.mermaid_label(primary, 40)), "delta": True}


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _validation(results: list[dict[str, Any]], budget: _Budget, cuts: list[str]) -> dict[str, Any]:
    """Suites that failed (open, with each failure) and suites that passed (collapsed)."""
    out = []
    dropped_failures = 0
    for r in results:
        failures = []
        for f in r.get("failures") or []:
            kwargs = {k: v for k, v in (f.get("kwargs") or {}).items() if k not in ("column", "batch_id")}
            count, pct = f.get("unexpected_count"), f.get("unexpected_percent")
            unexpected = "" if count is None else f"{count:,}" + (f" ({pct:.2f}%)" if pct is not None else "")
            failures.append(
                {
                    **f,
                    "arguments": ", ".join(f"{k}={_json_text(v)}" for k, v in kwargs.items()),
                    "observed_text": "" if f.get("observed") is None else _json_text(f.get("observed")),
                    "unexpected": unexpected,
                    "samples": ", ".join(_json_text(v) for v in (f.get("sample_values") or [])[:5]),
                }
            )
        success = bool(r.get("success", not failures and not r.get("failed")))
        shown = failures if budget.rows is None else failures[: budget.rows]
        dropped_failures += len(failures) - len(shown)
        out.append({**r, "success": success, "failure_rows": shown, "omitted": len(failures) - len(shown)})
    if dropped_failures:
        cuts.append(f"omitted {dropped_failures:,} expectation failures beyond the first {budget.rows} per suite")
    shown_results = _capped(out, budget.results, lambda r: not r["success"])
    if len(shown_results) < len(out):
        cuts.append(f"showing {len(shown_results)} of {len(out)} validation results")
    if any(r["success"] for r in shown_results) and not budget.collapsed:
        cuts.append("omitted the details of passed validation suites")
    return {
        "results": shown_results,
        "collapsed": budget.collapsed,
        "failed": sum(1 for r in out if not r["success"]),
        "total": len(out),
    }


def _drift(drift: dict[str, Any] | None, budget: _Budget, cuts: list[str]) -> dict[str, Any] | None:
    """Drifting features worst first; the table open when any feature warns or fails."""
    if not drift:
        return None

    def worst_first(f: dict[str, Any]) -> tuple[int, float]:
        psi = f.get("psi")
        return (-_STATUS_RANK.get(str(f.get("status")), 0), -(psi if isinstance(psi, (int, float)) else -1.0))

    features = sorted(drift.get("features") or [], key=worst_first)
    status = str(drift.get("status") or "ok")
    is_open = status != "ok"
    shown = features
    if features and not is_open and not budget.collapsed:
        cuts.append("omitted the drift details")
        shown = []
    elif budget.rows is not None and len(features) > budget.rows:
        shown = features[: budget.rows]
        cuts.append(f"showing the {len(shown)} most drifted of {len(features):,} features")
    counts = drift.get("counts") or {}
    if not counts:
        counts = {s: sum(1 for f in features if f.get("status") == s) for s in ("ok", "warn", "fail")}
    return {
        **drift,
        "status": status,
        "mark": Safe(_mark(status)),
        "open": is_open,
        "features": shown,
        "total": len(features),
        "omitted": len(features) - len(shown),
        "counts": counts,
    }


def _provenance(document: ReportDocument, doc: dict[str, Any]) -> dict[str, Any]:
    """Artifacts and the reproducibility footer: versions, signature, commit, data fingerprints, sample, libraries, run."""
    git = dict(doc.get("git") or {})
    sha = str(git.get("sha") or "")
    run_url = doc.get("run_url")
    repo_url = None
    if md.safe_url(run_url):
        m = re.match(r"^(https://[^/\s]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/actions/runs/\d+", str(run_url))
        repo_url = m.group(1) if m else None
    commit_url = f"{repo_url}/commit/{sha}" if repo_url and re.fullmatch(r"[0-9a-f]{40}", sha) else None
    data = doc.get("data") or {}
    rows = data.get("rows") or {}
    fingerprints = [
        {"name": name, "sha": value, "rows": rows.get(name)}
        for name, value in (data.get("fingerprints") or {}).items()
        if name != "split"
    ]
    # The split rule is text, not a hash: shown whole, never cut like a sha.
    split = (data.get("fingerprints") or {}).get("split")
    libraries = list((doc.get("libraries") or {}).items())[:LIBRARIES_SHOWN]
    return {
        "candidate": doc.get("candidate"),
        "baseline": doc.get("baseline"),
        "no_baseline": document.no_baseline,
        "git": git,
        "commit_url": commit_url,
        "fingerprints": fingerprints,
        "signature": document.candidate.signature if document.candidate else None,
        "sample": document.data.sample.description if document.data and document.data.sample else None,
        "split": str(split).replace(",", ", ") if split else None,
        "libraries": [{"name": k, "version": v} for k, v in libraries],
        "run_url": run_url,
        "mlci_version": doc.get("mlci_version"),
    }


def render_report(config: Config, document: ReportDocument, limit: int | None = None, hint: str | None = None) -> str:
    """Return the Markdown report of a document, redacted, cut to `limit` characters if given.

    Every consumer (report.md, the step summary, the PR comment, the retrain issue) gets it redacted.
    """
    from mlci._internal.redaction import redact

    templates = config.locate(config.report.templates) if config.report.templates else None
    extra = {} if hint is None else {"full_report_hint": hint}
    text = redact(render(document, templates_dir=templates, limit=limit, **extra))
    if limit is not None and len(text) > limit:  # `***` replaced something shorter: cut that much more
        text = redact(render(document, templates_dir=templates, limit=2 * limit - len(text), **extra))[:limit]
    return text
