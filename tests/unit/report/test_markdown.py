"""mlci.report: the Markdown comparison report, its escaping, and the comment size limit."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlci._internal.serial import to_data
from mlci.contracts.comparison import Comparison
from mlci.contracts.document import CandidateRef, DataRef, ReportDocument, report_document
from mlci.contracts.drift import DriftReport
from mlci.contracts.references import Reference
from mlci.contracts.validation import ExpectationFailure, ValidationResult
from mlci.errors import ConfigError
from mlci.github.context import GitHubContext
from mlci.report import COMMENT_LIMIT, escape, marker, render, safe_url
from mlci.report.render import CUT_PHRASE
from mlci.stats.comparison import compare
from mlci.stats.drift import build_profile, compare_profile
from mlci.stats.evaluation import Predictions
from mlci.stats.specs import DriftSection, Gate, StatisticsSection

STATS = StatisticsSection(confidence=0.95, resamples=200, seed=0)
HOSTILE_COLUMN = "@org/team <img src=x> | x"
HOSTILE_CATEGORIES = ["fence ``` here", "tick ` here", "line\nbreak", "<!-- end --> </details>", "[x](javascript:y)"]
MENTION = re.compile(r"(^|[^\w`])@[A-Za-z0-9-]+")


# --- building real comparisons --------------------------------------------------------------


def binary_model(y: np.ndarray, noise: np.ndarray | float, rng: np.random.Generator) -> Predictions:
    """Return a probabilistic classifier whose scores are the truth plus `noise`-sized noise."""
    logit = 2.0 * (y - 0.5) + rng.normal(0, 1, len(y)) * noise
    p = 1 / (1 + np.exp(-logit))
    return Predictions(labels=(p > 0.5).astype(int), proba=np.column_stack([1 - p, p]), classes=[0, 1])


@cache
def comparison(kind: str) -> Comparison:
    """Return a real Comparison: "pass", "fail" (overall), "slice-fail", "bootstrap" or "hostile"."""
    rng = np.random.default_rng(7)
    n = 1500
    y = rng.integers(0, 2, n)
    region = rng.choice(["north", "south", "east"], n, p=[0.45, 0.1, 0.45])
    slices: dict[str, Any] = {"region": region}
    baseline: Predictions | None = binary_model(y, 1.2, rng)
    noise: np.ndarray | float = {"pass": 0.8, "fail": 2.5, "slice-fail": 0.8, "bootstrap": 0.8, "hostile": 0.8}[kind]
    gates = [Gate(metric="roc_auc", min_absolute_change=-0.005), Gate(metric="roc_auc", threshold=0.6)]
    if kind == "slice-fail":
        noise = np.where(region == "south", 3.0, 0.4)  # better overall, much worse in the south
        gates = [Gate(metric="roc_auc", min_absolute_change=-0.01, slices=True, min_slice_size=30)]
    if kind == "bootstrap":
        baseline = None
    if kind == "hostile":
        slices = {HOSTILE_COLUMN: np.array(HOSTILE_CATEGORIES)[rng.integers(0, len(HOSTILE_CATEGORIES), n)]}
        gates = [Gate(metric="roc_auc", threshold=0.99, slices=True, min_slice_size=10)]  # every slice fails
    candidate = binary_model(y, noise, rng)
    return compare(
        y,
        candidate,
        baseline,
        task="classification",
        metrics=["roc_auc", "accuracy", "log_loss"],
        primary="roc_auc",
        gates=gates,
        statistics=STATS,
        slices=slices,
    )


def make_doc(
    c: Comparison,
    *,
    validation: list[ValidationResult] | None = None,
    drift: DriftReport | None = None,
    git: dict[str, Any] | None = None,
    candidate: CandidateRef | None = None,
    server_url: str = "https://github.com",
) -> ReportDocument:
    """Return the document of a check around `c`, built by mlci's own builder from a PR's context."""
    g = {
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "ref": "refs/pull/42/merge",
        "pr": 42,
        "pr_title": "Tune the churn model",
        "head_ref": "feature/tune",
    } | (git or {})
    event = {
        "pull_request": {"number": g["pr"], "title": g["pr_title"], "head": {"ref": g["head_ref"], "sha": g["sha"]}}
    }
    ctx = GitHubContext(
        actions=True, event=event, ref=g["ref"], repository="acme/churn", run_id="123", server_url=server_url
    )
    doc = report_document(
        model="churn",
        comparison=c,
        validation=validation or [],
        candidate=candidate
        or CandidateRef(
            version="ab12ab12ab12ab12", alias="pr-42", uri="file:///srv/registry/churn/versions/ab12ab12ab12ab12"
        ),
        baseline=None
        if c.verdict.status == "bootstrap"
        else Reference(
            label="production", kind="alias", version="cd34cd34cd34cd34", uri="s3://models/churn/versions/cd34"
        ),
        data=DataRef(fingerprints={"train": "a1" * 32, "test": "b2" * 32}, rows={"train": 3000, "test": 1500}),
        ctx=ctx,
        drift=drift,
    )
    # The versions of this machine's libraries, pinned so the footer can be compared exactly.
    return doc.model_copy(
        update={"mlci_version": "0.1.0", "libraries": {"python": "3.11.7", "mlci": "0.1.0", "scikit-learn": "1.9.1"}}
    )


def section(text: str, heading: str) -> str:
    """Return the text from `### heading` to the next `### ` heading."""
    start = text.index(f"### {heading}")
    end = text.find("\n### ", start + 4)
    return text[start : end if end >= 0 else len(text)]


def table_rows(text: str) -> list[list[str]]:
    """Return each table as its lines (lines starting with `|`), for checking column counts."""
    tables: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def assert_well_formed(text: str) -> None:
    """Assert what any rendered report must keep, whatever the data."""
    assert text.startswith(marker("churn") + "\n")
    body = text[len(marker("churn")) :]
    assert "<!--" not in body, "a second HTML comment could hide content or fake the marker"
    fences = [line for line in text.splitlines() if line.startswith("```")]
    assert len(fences) % 2 == 0
    assert fences in ([], ["```mermaid", "```"], ["```text", "```"])
    assert body.count("<details") == body.count("</details>")
    for table in table_rows(text):
        # Data pipes are escaped, so every row has the header's number of `|`.
        assert {row.count("|") for row in table} == {table[0].count("|")}, table


# --- verdicts, metrics, gates -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "mark", "title"),
    [("pass", "✅", "passed"), ("fail", "❌", "failed: gates"), ("bootstrap", "🆕", "first model (no baseline yet)")],
)
def test_title_has_the_verdict_mark_and_the_summary_sentence(kind: str, mark: str, title: str) -> None:
    c = comparison(kind)
    assert c.verdict.status == kind
    text = render(make_doc(c))
    assert_well_formed(text)
    assert text.splitlines()[1] == f"## {mark} mlci · churn: {title}"
    auc = c.metric("roc_auc")
    assert auc is not None and auc.candidate is not None
    if kind == "bootstrap":
        assert f"**roc_auc {auc.candidate:.4f} (no baseline yet): passes" in text
    else:
        assert auc.baseline is not None and auc.delta is not None
        head = f"**roc_auc {auc.baseline:.4f} → {auc.candidate:.4f} ({auc.delta:+.4f}, 95% CI "
        assert head in text
        assert ("passes 2 of 2 gates" if kind == "pass" else "fails 1 of 2 gates") in text


def test_metrics_table_has_values_delta_ci_p_and_method() -> None:
    c = comparison("pass")
    text = render(make_doc(c))
    metrics = section(text, "Metrics")
    assert "| Metric | Baseline | Candidate | Δ | 95% CI of Δ | p | Method |" in metrics
    auc = c.metric("roc_auc")
    loss = c.metric("log_loss")
    assert auc is not None and loss is not None
    assert auc.ci_low is not None and auc.ci_high is not None and auc.p_value is not None
    row = next(line for line in metrics.splitlines() if line.startswith("| **roc_auc**"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1:4] == [
        f"{auc.baseline:.4f}",
        f"{auc.candidate:.4f}",
        f"{auc.delta:+.4f} ({auc.relative_delta * 100:+.1f}%)",
    ]
    assert cells[4] == f"{auc.ci_low:+.4f}..{auc.ci_high:+.4f}"
    assert cells[5] == ("<0.001" if auc.p_value < 0.001 else f"{auc.p_value:.3f}")
    assert cells[6] == "delong"
    assert "| log_loss ↓ |" in metrics and "paired-t" in metrics


def test_gates_table_marks_each_gate_and_gives_its_reason() -> None:
    c = comparison("fail")
    gates = section(render(make_doc(c)), "Gates")
    failed = [g for g in c.verdict.gates if not g.passed]
    passed = [g for g in c.verdict.gates if g.passed]
    assert failed and passed
    for g, mark in [(failed[0], "❌"), (passed[0], "✅")]:
        reason = g.reason.replace(" >= ", " ≥ ").replace(" <= ", " ≤ ")
        assert f"| {mark} | {g.metric} | overall | {reason} |" in gates
    assert "roc_auc got worse by" in gates and "allowed: 0.005" in gates


def test_undefined_precision_is_a_dash_with_its_reason_and_multiclass_averages_are_said() -> None:
    # Binary: the candidate predicts no positive in the south, so its precision there is undefined;
    # the slice table shows a dash and says why, never scikit-learn's invented 0.
    rng = np.random.default_rng(3)
    n = 900
    y = rng.integers(0, 2, n)
    region = rng.choice(["north", "south"], n)
    base, cand = binary_model(y, 1.0, rng), binary_model(y, 0.9, rng)
    cand.labels[region == "south"] = 0
    gate = Gate(metric="precision", min_absolute_change=-0.2, slices=True)
    binary = compare(
        y, cand, base, task="classification", metrics=["precision", "roc_auc"], primary="precision",
        gates=[gate], statistics=STATS, slices={"region": region},
    )  # fmt: skip
    text = render(make_doc(binary))
    assert_well_formed(text)
    slices = section(text, "Slices")
    south = next(line for line in slices.splitlines() if line.startswith("| region = south"))
    south_n = int((region == "south").sum())
    assert south.startswith(f"| region = south | {south_n} | ") and "| — |" in south, south
    assert (
        f"- — for region = south: no precision, no predicted positives: the candidate predicts 1 on none of "
        f"these {south_n} rows." in slices
    )
    assert "not gated: precision is undefined" in text
    assert "classes present" not in text and "(macro" not in text  # binary: nothing averages over classes
    data = to_data(make_doc(binary))["comparison"]
    south_data = next(s for s in data["slices"] if s["category"] == "south")["metrics"][0]
    assert south_data["candidate"] is None and south_data["undefined"].startswith("no predicted positives")

    # Multiclass: the slices' roc_auc averages over the classes present, and the report says so;
    # precision and recall are means over the classes where each is defined, said beside them.
    k = 3
    y3 = rng.integers(0, k, n)
    y3[region == "south"] = np.where(y3[region == "south"] == 2, 0, y3[region == "south"])  # no class 2 there

    def model(noise: float) -> Predictions:
        logits = np.eye(k)[y3] * 2.0 + rng.normal(0, noise, (n, k))
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return Predictions(proba.argmax(axis=1), proba, [0, 1, 2])

    multi = compare(
        y3, model(1.0), model(1.1), task="classification", metrics=["roc_auc", "precision", "recall"],
        primary="roc_auc", gates=[Gate(metric="roc_auc", min_absolute_change=-0.2, slices=True)],
        statistics=STATS, slices={"region": region},
    )  # fmt: skip
    assert multi.n_classes == 3
    text = render(make_doc(multi))
    assert_well_formed(text)
    note = "roc_auc on a slice: the one-vs-rest mean over the classes present in that slice, not always all 3"
    assert note in section(text, "Slices")
    assert "precision, recall: the mean of each class's value over the classes where it is defined (macro, 3 " in (
        section(text, "Metrics")
    )


# --- slices -------------------------------------------------------------------------------------


def test_slices_are_collapsed_when_every_slice_gate_passes() -> None:
    c = comparison("pass")
    text = render(make_doc(c))
    slices = section(text, "Slices")
    assert "<details><summary>roc_auc on 3 slices of region</summary>" in slices
    for s in c.slices:
        auc = next(m for m in s.metrics if m.name == "roc_auc")
        assert f"| region = {s.category} | {s.n:,} | {auc.baseline:.4f} | {auc.candidate:.4f} |" in slices


def test_slices_are_open_when_a_slice_gate_failed() -> None:
    c = comparison("slice-fail")
    failed = [g for g in c.verdict.gates if not g.passed]
    assert [g.scope for g in failed] == ["region=south"]
    text = render(make_doc(c))
    assert "<details open><summary>roc_auc on 3 slices of region: 1 failed a gate</summary>" in text
    south = next(line for line in section(text, "Slices").splitlines() if line.startswith("| region = south"))
    assert south.endswith("| ❌ |")
    # The failed slice gate is in the main gates table, not folded away.
    gates = section(text, "Gates").split("<details>")[0]
    assert "| ❌ | roc_auc | region=south |" in gates
    # How many slices were tested, under which error control.
    assert "Slice gates on roc_auc: 3 slices tested, 1 shown worse than allowed after the holm correction" in gates


# --- validation and drift -----------------------------------------------------------------------


def validation_results() -> list[ValidationResult]:
    passed = ValidationResult("expectations/churn.json", "churn", "train", 3000, 15, 0, [], 0.4)
    failure = ExpectationFailure(
        index=3,
        type="expect_column_values_to_be_between",
        column="tenure_months",
        kwargs={"column": "tenure_months", "min_value": 0, "max_value": 120},
        observed=None,
        unexpected_count=2,
        unexpected_percent=0.13,
        sample_values=[999, -4],
        line=31,
    )
    nulls = ExpectationFailure(
        index=0,
        type="expect_column_values_to_not_be_null",
        column="customer_id",
        kwargs={"column": "customer_id"},
        observed=None,
        unexpected_count=3,
        unexpected_percent=0.2,
        sample_values=[],
        line=5,
    )
    failed = ValidationResult("expectations/churn.json", "churn", "test", 1500, 15, 2, [nulls, failure], 0.3)
    return [passed, failed]


def test_validation_failures_are_open_and_passes_collapsed() -> None:
    text = render(make_doc(comparison("pass"), validation=validation_results()))
    assert_well_formed(text)
    v = section(text, "Data validation")
    assert "<details><summary>✅ churn on train: 15 expectations passed</summary>" in v
    assert "<details open><summary>❌ churn on test: 2 of 15 expectations failed (1,500 rows)</summary>" in v
    row = next(line for line in v.splitlines() if "expect_column_values_to_be_between" in line)
    assert row == (
        "| 3 | expect_column_values_to_be_between (line 31) | tenure_months | min_value=0, max_value=120 "
        "|  | 2 (0.13%) | 999, -4 |"
    )
    assert "| 0 | expect_column_values_to_not_be_null (line 5) | customer_id |" in v


def test_failing_data_with_passing_gates_fails_and_says_data_validation_first() -> None:
    c = comparison("pass")
    assert c.verdict.status == "pass"
    doc = make_doc(c, validation=validation_results())
    assert doc.verdict == "fail"
    assert [s.name for s in doc.failed_stages] == ["data validation"]
    assert doc.headline.startswith("data validation failed: 2 of 15 expectations on test · roc_auc ")
    assert doc.headline.endswith("passes 2 of 2 gates")
    text = render(doc)
    assert text.splitlines()[1] == "## ❌ mlci · churn: failed: data validation"
    assert "**data validation failed: 2 of 15 expectations on test · roc_auc" in text


def test_only_critical_expectations_fail_the_verdict() -> None:
    passed, failed = validation_results()
    warning = replace(failed, failures=[replace(f, severity="warning") for f in failed.failures])
    doc = make_doc(comparison("pass"), validation=[passed, warning])
    assert doc.verdict == "pass"
    stage = doc.stage("data validation")
    assert stage is not None and stage.status == "warn"
    assert doc.headline.startswith("data validation warned: 2 of 15 expectations on test · ")


def test_bootstrap_only_when_there_is_no_baseline_and_the_data_passes() -> None:
    c = comparison("bootstrap")
    assert make_doc(c).verdict == "bootstrap"
    assert make_doc(c, validation=validation_results()).verdict == "fail"


def test_no_validation_section_without_results() -> None:
    assert "Data validation" not in render(make_doc(comparison("pass"), validation=[]))


def drift_report() -> DriftReport:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame(
        {
            "tenure": rng.normal(24, 6, 2000),
            "charges": rng.normal(70, 10, 2000),
            "plan": rng.choice(["basic", "pro"], 2000),
        }
    )
    cur = pd.DataFrame(
        {
            "tenure": rng.normal(24, 6, 1000),  # same
            "charges": rng.normal(100, 10, 1000),  # far shifted: fails
            "plan": rng.choice(["basic", "pro"], 1000, p=[0.3, 0.7]),  # some shift
        }
    )
    profile = build_profile(ref, features=["tenure", "charges", "plan"])
    return compare_profile(profile, cur, DriftSection())


def test_drift_section_only_when_drift_is_given_worst_first() -> None:
    c = comparison("pass")
    assert "### Drift" not in render(make_doc(c))
    drift = drift_report()
    text = render(make_doc(c, drift=drift))
    assert_well_formed(text)
    d = section(text, "Drift")
    assert "❌ Drift fail against the production reference (2,000 reference rows, 1,000 current)" in d
    assert "<details open><summary>3 features, worst first</summary>" in d
    order = [line.split("|")[1].strip() for line in d.splitlines() if line.startswith("| ") and "---" not in line]
    assert order[0] == "Feature"
    by_name = {f.feature: f for f in drift.features}
    assert order[1] == "charges" and order[-1] == "tenure"
    psis = [by_name[name].psi for name in order[1:]]
    assert psis[0] == max(psis)
    assert "| charges | numeric |" in d and "| ks |" in d and d.count("| ❌ |") >= 1


# --- chart -------------------------------------------------------------------------------------


def mermaid_block(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("```mermaid")
    end = lines.index("```", start + 1)
    return lines[start + 1 : end]


def forest_block(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("```text")
    end = lines.index("```", start + 1)
    return lines[start + 1 : end]


def plot_rows(block: list[str]) -> dict[str, str]:
    """Return each plotted row's label and its plot cells (the columns under the axis line)."""
    from mlci.report.forest import WIDTH

    left = len(block[1]) - WIDTH  # the axis line is blank up to the plot
    rows = {}
    for line in block[3:]:
        label = re.sub(r"\s+[\d,]+\s*$", "", line[:left])
        if line[:left].strip() and re.search(r"[\d,]+\s*$", line[:left]):
            rows[label.strip()] = line[left : left + WIDTH]
    return rows


def test_the_chart_is_a_forest_plot_with_zero_line_margin_and_true_extents() -> None:
    from mlci.report.forest import WIDTH, scale

    c = comparison("fail")  # the gate allows roc_auc to fall by 0.005
    block = forest_block(render(make_doc(c)))
    assert block[0] == "roc_auc: candidate − baseline, 95% interval"
    rows = plot_rows(block)
    assert next(iter(rows)) == "overall" and set(rows) == {"overall", *(s.category for s in c.slices)}
    results = {"overall": c.metric("roc_auc"), **{s.category: s.metrics[0] for s in c.slices}}
    # One linear scale for every row, holding every interval, 0 and the allowed change.
    from mlci.report.forest import Row

    lo, hi = scale([Row(k, 0, m.delta, m.ci_low, m.ci_high) for k, m in results.items()], -0.005)

    def col(x: float) -> int:
        return round((x - lo) / (hi - lo) * (WIDTH - 1))

    zero, margin = col(0.0), col(-0.005)
    assert block[1][len(block[1]) - WIDTH + zero] == "0"  # the axis marks 0 above the zero column
    for label, cells in rows.items():
        m = results[label]
        assert cells[zero] in "│┼●" and cells[margin] in "║╫●─"  # the zero line and the margin in every row
        drawn = [i for i, ch in enumerate(cells) if ch in "─┼╫●"]
        assert (drawn[0], drawn[-1]) == (col(m.ci_low), col(m.ci_high)), label  # the bar spans the interval
        assert cells[col(m.delta)] == "●"
    # The failing overall change lies entirely left of the margin: worse than allowed.
    assert col(c.metric("roc_auc").ci_high) < margin
    assert "║ allowed change (-0.005)" in block[-1]


def test_chart_without_a_baseline_has_one_series_from_zero() -> None:
    block = mermaid_block(render(make_doc(comparison("bootstrap"))))
    assert sum(1 for line in block if line.strip().startswith("bar [")) == 1
    y_axis = next(line.strip() for line in block if line.strip().startswith("y-axis"))
    assert y_axis.endswith(" 0 --> 1")


# --- escaping -----------------------------------------------------------------------------------


def test_hostile_column_and_category_names_render_harmlessly() -> None:
    c = comparison("hostile")
    assert {s.column for s in c.slices} == {HOSTILE_COLUMN}
    assert {g.passed for g in c.verdict.gates if g.scope != "overall"} == {False}
    git: dict[str, Any] = {
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "ref": "refs/heads/@org/team",
        "pr": 7,
        "pr_title": "Fix @org/team <script>alert(1)</script> `x` ![i](http://e/x.png) **bold** $x$",
        "head_ref": "feat/@someone|x",
    }
    failure = ExpectationFailure(
        index=0,
        type="expect_column_values_to_be_in_set",
        column=HOSTILE_COLUMN,
        kwargs={"column": HOSTILE_COLUMN, "value_set": ["a|b", "@org/team", "```"]},
        observed=None,
        unexpected_count=1,
        unexpected_percent=1.0,
        sample_values=["```\n<img src=x>", "@org/team|x"],
    )
    validation = [ValidationResult("s.json", "suite <b>", "test", 10, 1, 1, [failure])]
    text = render(
        make_doc(c, git=git, validation=validation, candidate=CandidateRef(version="v`1`", alias="@o/t", uri="u"))
    )
    assert_well_formed(text)
    body = text[len(marker("churn")) :]
    assert not MENTION.search(body), MENTION.search(body)
    assert "<img" not in body and "<script" not in body and "<b>" not in body
    assert "&lt;img src=x&gt;" in body
    assert "](http://e" not in body and "**bold**" not in body and "$x$" not in body
    # Each hostile category is one table row of the slices table (no line break survived).
    slices = section(text, "Slices")
    assert sum(1 for line in slices.splitlines() if line.startswith("| @")) == len(HOSTILE_CATEGORIES)
    # Inside the chart, labels are plain: no backtick, no @, one line each.
    block = forest_block(text)
    for line in block:
        assert "`" not in line and "@" not in line
    assert len(plot_rows(block)) == 1 + len(HOSTILE_CATEGORIES)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("@team", "@\u200dteam"),
        ("<img src=x>", "&lt;img src=x&gt;"),
        ("a & b", "a &amp; b"),
        ("a|b", "a&#124;b"),
        ("one\r\ntwo\nthree", "one two three"),
        ("```", "&#96;&#96;&#96;"),
        ("[a](b)", "&#91;a&#93;(b)"),
        ("*em* _em_ ~~s~~", "&#42;em&#42; &#95;em&#95; &#126;&#126;s&#126;&#126;"),
        ("roc_auc", "roc_auc"),
        ("# head", "#\u200d head"),
        ("<!-- x -->", "&lt;!-- x --&gt;"),
        ("</details>", "&lt;/details&gt;"),
        ("- item", "&#45; item"),
        ("1. item", "1&#46; item"),
        ("3.11.7", "3.11.7"),
        ("p<0.001", "p<0.001"),
        ("back\\slash", "back&#92;slash"),
        ("$x$", "&#36;x&#36;"),
        ("rtl\u202etxt", "rtltxt"),
    ],
)
def test_escape(raw: str, expected: str) -> None:
    assert escape(raw) == expected


def test_only_http_urls_become_links() -> None:
    assert safe_url("https://github.com/o/r/actions/runs/1") == "https://github.com/o/r/actions/runs/1"
    assert safe_url("https://x/a)b") == "https://x/a%29b"
    for bad in ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "https://x/a b", "//evil", None, 3]:
        assert safe_url(bad) is None


# --- footer ----------------------------------------------------------------------------------


def test_footer_links_the_run_and_names_commit_fingerprints_and_versions() -> None:
    text = render(make_doc(comparison("pass")))
    footer = text[text.rindex("\n---\n") :]
    assert "[workflow run](https://github.com/acme/churn/actions/runs/123)" in footer
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert f"[{commit[:12]}](https://github.com/acme/churn/commit/{commit}) (refs/pull/42/merge)" in footer
    assert f"train {'a1' * 6} (3,000 rows), test {'b2' * 6} (1,500 rows)" in footer
    assert "python 3.11.7, mlci 0.1.0, scikit-learn 1.9.1" in footer
    artifacts = section(text, "Artifacts")
    assert (
        "| Candidate | ab12ab12ab12ab12 | pr-42 | file:///srv/registry/churn/versions/ab12ab12ab12ab12 |" in artifacts
    )
    assert "| Baseline | cd34cd34cd34cd34 | production | s3://models/churn/versions/cd34 |" in artifacts


def test_a_javascript_run_url_is_not_linked() -> None:
    text = render(make_doc(comparison("pass"), server_url="javascript:alert(document.cookie)"))
    assert "](javascript" not in text
    assert "[workflow run]" not in text
    assert "javascript:alert(document.cookie)" in text  # shown as text
    assert "/commit/" not in text  # no repository link is guessed from it either


# --- size limit ----------------------------------------------------------------------------


@cache
def many_slices() -> Comparison:
    rng = np.random.default_rng(11)
    n = 10000
    y = rng.integers(0, 2, n)
    names = np.array([f"category {i:04d} " + "with a long name " * 6 + "@team|`" for i in range(5000)])
    return compare(
        y,
        binary_model(y, 0.8, rng),
        binary_model(y, 1.2, rng),
        task="classification",
        metrics=["accuracy"],
        primary="accuracy",
        gates=[Gate(metric="accuracy", threshold=0.5, slices=True, min_slice_size=1)],
        statistics=STATS,
        slices={"segment": names[np.arange(n) % 5000]},
    )


def test_5000_slices_fit_a_comment_with_the_cut_noted() -> None:
    c = many_slices()
    assert len(c.slices) == 5000
    doc = make_doc(c, validation=validation_results(), drift=drift_report())
    full = render(doc)
    assert len(full) > COMMENT_LIMIT and CUT_PHRASE not in full
    text = render(doc, limit=COMMENT_LIMIT, full_report_hint="the step summary of run 123")
    assert len(text) <= COMMENT_LIMIT
    assert_well_formed(text)
    assert CUT_PHRASE in text and "The full report is in the step summary of run 123." in text
    assert "of 5,000 slices" in text
    # What matters most survives the cut: verdict, metrics, failed validation, the footer.
    assert "### Metrics" in text and "❌ churn on test" in text and "[workflow run](" in text
    # The chart shows overall and 15 slices, and counts the rest.
    block = forest_block(text)
    assert len(plot_rows(block)) == 16 and "4,985 more slices not shown" in block[-1]


def test_a_tiny_limit_still_gives_a_well_formed_comment() -> None:
    doc = make_doc(many_slices(), validation=validation_results(), drift=drift_report())
    for limit in (300, 2500, 6000):
        text = render(doc, limit=limit)
        assert len(text) <= limit
        assert_well_formed(text)
        assert CUT_PHRASE in text


def test_a_small_report_is_not_cut() -> None:
    doc = make_doc(comparison("slice-fail"))
    assert render(doc, limit=COMMENT_LIMIT) == render(doc)


# --- templates -----------------------------------------------------------------------------


def test_a_user_template_overrides_one_partial(tmp_path: Path) -> None:
    (tmp_path / "_summary.md.j2").write_text(
        "## Our own heading for {{ r.model }} ({{ r.status }})\n\nPR title: {{ doc.git.pr_title }}\n"
    )
    doc = make_doc(comparison("pass"), git={"pr_title": "ping @org/team"})
    text = render(doc, templates_dir=tmp_path)
    assert text.startswith(marker("churn") + "\n## Our own heading for churn (pass)")
    assert "PR title: ping @\u200dorg/team" in text  # data in a user template is escaped too
    assert "### Metrics" in text  # the other partials are still mlci's


def test_template_errors_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory"):
        render(make_doc(comparison("pass")), templates_dir=tmp_path / "missing")
    (tmp_path / "_gates.md.j2").write_text("{% if %}\n")
    with pytest.raises(ConfigError, match=r"_gates\.md\.j2:1"):
        render(make_doc(comparison("pass")), templates_dir=tmp_path)


def test_marker_is_first_and_sanitised() -> None:
    assert marker("churn") == "<!-- mlci:churn -->"
    assert marker("a-->b <x>") == "<!-- mlci:a--_b__x_ -->"
    assert render(make_doc(comparison("pass"))).startswith("<!-- mlci:churn -->\n")
