"""Reporters: each shows one ReportDocument somewhere, through one small protocol.

As pytest hands one TestReport to every reporter (terminal, junitxml, xdist), mlci hands the
check's one ReportDocument to each of these: comparison.json, report.md, the terminal, the
step summary, GITHUB_OUTPUT, the sticky PR comment, the commit status and the retrain's
tracking issue. They format fields; none decides a verdict. Every Markdown one renders
through the same templates and escaping (mlci.report.render, mlci.report.markdown).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mlci.errors import GitHubError, ReadOnlyToken, ServiceError

if TYPE_CHECKING:
    from mlci.config.schema import Config
    from mlci.contracts.document import ReportDocument
    from mlci.contracts.monitoring import MonitorReport
    from mlci.github.client import GitHubClient
    from mlci.github.context import GitHubContext

STATUS_STATE = {"pass": "success", "bootstrap": "success", "fail": "failure"}
# A bootstrap (no baseline yet) compared nothing: the check run says so with `neutral` (which a
# required check accepts, as GitHub treats it like success); the status has no such state.
CHECK_CONCLUSION = {"pass": "success", "bootstrap": "neutral", "fail": "failure"}


@dataclass
class Delivery:
    """What one reporter did: where the report went (a path or URL), how, and what the user should know."""

    where: str | None = None
    action: str | None = None  # written, created, updated, unchanged, skipped
    lines: list[str] = field(default_factory=list)  # the terminal's text
    follow_up: str | None = None  # a further URL: the comment a run added to the tracking issue
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Reporter(Protocol):
    """Shows a report document somewhere."""

    def report(self, document: ReportDocument) -> Delivery:
        """Return what showing `document` did."""
        ...


# --- files ---------------------------------------------------------------------------------------


@dataclass
class JsonFile:
    """comparison.json: the document itself, credentials in URIs redacted (artifacts outlive the run)."""

    path: Path

    def report(self, document: ReportDocument) -> Delivery:
        from mlci._internal.redaction import redact

        self.path.write_text(redact(document.to_json()))
        return Delivery(where=str(self.path), action="written")


@dataclass
class MarkdownFile:
    """report.md: the whole report, credentials in URIs redacted."""

    config: Config
    path: Path

    def report(self, document: ReportDocument) -> Delivery:
        from mlci._internal.redaction import redact
        from mlci.report.render import render_report

        self.path.write_text(redact(render_report(self.config, document)))
        return Delivery(where=str(self.path), action="written")


def write_files(config: Config, document: ReportDocument, output_dir: Path | None = None) -> tuple[Path, Path]:
    """Write comparison.json and the Markdown report into `output_dir` (default: here); return their paths."""
    out = output_dir or Path.cwd()
    out.mkdir(parents=True, exist_ok=True)
    comparison = JsonFile(out / "comparison.json")
    markdown = MarkdownFile(config, out / Path(config.report.output).name)
    comparison.report(document)
    markdown.report(document)
    return comparison.path, markdown.path


def write_markdown(config: Config, document: ReportDocument, path: Path) -> Path:
    """Write the Markdown report of a document to `path`; return the path."""
    MarkdownFile(config, path).report(document)
    return path


# --- the terminal --------------------------------------------------------------------------------


@dataclass
class Terminal:
    """The verdict, the metrics and the failed gates as terminal lines (`quiet`: the verdict line only)."""

    quiet: bool = False

    def report(self, document: ReportDocument) -> Delivery:
        from mlci.report.terminal import render_verdict

        text = render_verdict(document)
        return Delivery(action="written", lines=text.splitlines()[:1] if self.quiet else text.splitlines())


# --- GitHub Actions --------------------------------------------------------------------------------


@dataclass
class StepSummary:
    """The job's step summary (GITHUB_STEP_SUMMARY), cut to GitHub's size limit."""

    config: Config
    ctx: GitHubContext

    def report(self, document: ReportDocument) -> Delivery:
        from mlci.github import workflow
        from mlci.report.render import STEP_SUMMARY_LIMIT, render_report

        if not self.ctx.summary_path:
            return Delivery(action="skipped")
        summary = render_report(self.config, document, limit=STEP_SUMMARY_LIMIT, hint="the report.md artifact")
        written = workflow.append_summary(summary, self.ctx.summary_path)
        return Delivery(where=self.ctx.summary_path, action="written" if written else "skipped")


@dataclass
class Outputs:
    """The step's outputs (GITHUB_OUTPUT): verdict, report-path, comment-url and version."""

    ctx: GitHubContext
    report_path: Path | None = None
    comment_url: str | None = None

    def report(self, document: ReportDocument) -> Delivery:
        from mlci.github import workflow

        if not self.ctx.output_path:
            return Delivery(action="skipped")
        outputs = {
            "verdict": document.verdict,
            "report-path": str(self.report_path or ""),
            "comment-url": self.comment_url or "",
            "version": document.candidate.version if document.candidate else "",
        }
        for name, value in outputs.items():
            workflow.set_output(name, value, self.ctx.output_path)
        return Delivery(where=self.ctx.output_path, action="written")


@dataclass
class StickyComment:
    """The PR comment marked `<!-- mlci:<model> -->`, edited in place on every push."""

    config: Config
    ctx: GitHubContext
    client: GitHubClient

    def report(self, document: ReportDocument) -> Delivery:
        from mlci.report.render import COMMENT_LIMIT, marker, render_report

        if self.ctx.pr_number is None or self.ctx.is_merge_group:
            return Delivery(action="skipped")  # the queue's result goes on the queue's head commit, not the PR
        body = render_report(self.config, document, limit=COMMENT_LIMIT)
        try:
            comment = self.client.upsert_comment(self.ctx.pr_number, marker(self.config.model.name), body)
        except ReadOnlyToken as e:
            return Delivery(action="skipped", warnings=[f"no PR comment (the token lacks `{e.permission}`)"])
        return Delivery(where=comment.url, action=comment.action)


@dataclass
class CommitStatus:
    """The commit status `mlci/<model>` on the reported head commit, described by the headline."""

    config: Config
    ctx: GitHubContext
    client: GitHubClient

    def report(self, document: ReportDocument) -> Delivery:
        if not self.ctx.head_sha:
            return Delivery(action="skipped")
        state = STATUS_STATE.get(document.verdict, "error")
        try:
            self.client.create_status(
                self.ctx.head_sha, state, f"mlci/{self.config.model.name}", document.headline, self.ctx.run_url
            )
        except ReadOnlyToken as e:
            return Delivery(action="skipped", warnings=[f"no commit status (the token lacks `{e.permission}`)"])
        return Delivery(where=self.ctx.head_sha, action=state)


@dataclass
class CheckRunReport:
    """The check run `mlci/<model>` on the reported head commit: the report as its summary, failures annotated.

    Posted beside the commit status, never instead of it (required-check setups name the status
    context). A token that may not create check runs (no `checks: write`, or a personal token:
    only GitHub Apps may) gets a 403: the status alone carries the verdict, and one note says so.
    """

    config: Config
    ctx: GitHubContext
    client: GitHubClient

    def report(self, document: ReportDocument) -> Delivery:
        from mlci.github.client import CHECK_SUMMARY_LIMIT
        from mlci.report.annotations import check_annotations
        from mlci.report.render import render_report

        if not self.ctx.head_sha:
            return Delivery(action="skipped")
        conclusion = CHECK_CONCLUSION.get(document.verdict, "failure")
        summary = render_report(self.config, document, limit=CHECK_SUMMARY_LIMIT, hint="the report.md artifact")
        annotations = check_annotations(self.config, document, self.ctx.workspace)
        try:
            run = self.client.report_check_run(
                self.ctx.head_sha,
                f"mlci/{self.config.model.name}",
                conclusion,
                f"{document.verdict.upper()}: {document.headline}",
                summary,
                annotations,
                details_url=self.ctx.run_url,
            )
        except GitHubError as e:
            if e.status != 403:
                raise
            why = f"the token lacks `{e.permission}`" if isinstance(e, ReadOnlyToken) else "only a GitHub App may"
            return Delivery(
                action="skipped",
                notes=[f"no check run ({why}, e.g. `checks: write`): the commit status carries the verdict"],
            )
        return Delivery(where=run.html_url or str(run.id), action=conclusion)


@dataclass
class TrackingIssue:
    """The retrain's one GitHub issue per model: its body the model's state, a comment when a run changed it.

    The body holds only the state of the model, not the run, so an unchanged run leaves it
    unchanged and adds no comment; the run's link goes into the comment.
    """

    config: Config
    ctx: GitHubContext
    client: GitHubClient
    data: str  # the fresh table, named in the body
    version: str | None
    alias: str
    aliases: dict[str, str]  # where staging and production point now
    promoted: str | None
    date: str

    def report(self, document: ReportDocument) -> Delivery:
        from mlci.report import markdown as md
        from mlci.report.render import COMMENT_LIMIT, render_report

        marker = ISSUE_MARKER.format(model=self.config.model.name)
        validation = [replace(v, seconds=None) for v in document.validation]
        stable = document.model_copy(update={"run_url": None, "timings": None, "validation": validation})
        drift = document.drift.status if document.drift is not None else "none"
        # Where the aliases point now: a promotion changes this line, a repeated run does not.
        aliases = ", ".join(f"{md.escape(n)}: {md.code(v)}" for n, v in sorted(self.aliases.items())) or "no aliases"
        candidate = md.code(self.version) if self.version else "none (the data stopped the run)"
        state = (
            f"{marker}\n**Model {md.code(self.config.model.name)}: latest scheduled retrain**\n\n"
            f"- fresh data: {md.code(Path(self.data).name)}\n- drift: **{md.escape(drift)}**\n"
            f"- candidate: {candidate} (alias {md.code(self.alias)}), verdict **{md.escape(document.verdict)}**\n"
            f"- {aliases}\n\n"
        )
        body = state + render_report(self.config, stable, limit=COMMENT_LIMIT - len(state) - 100)
        title = f"mlci: scheduled retraining of {self.config.model.name}"
        issue = self.client.upsert_issue(marker, title, body, labels=["mlci"])
        delivery = Delivery(where=issue.url, action=issue.action)
        if issue.action == "updated":
            run = f" ({md.link('run', self.ctx.run_url)})" if self.ctx.run_url else ""
            summary = (
                f"Retrain {md.escape(self.date)}{run}: drift **{md.escape(drift)}**, candidate {candidate} verdict "
                f"**{md.escape(document.verdict)}**, promoted: {md.escape(self.promoted or 'no')}."
            )
            delivery.follow_up = self.client.add_issue_comment(issue.number, summary)
        return delivery


ISSUE_MARKER = "<!-- mlci:retrain:{model} -->"
MONITOR_MARKER = "<!-- mlci:monitor:{model} -->"


@dataclass
class MonitorIssue:
    """`mlci monitor`'s one GitHub issue per model, kept like the retrain's: the body its state, a comment on change."""

    config: Config
    ctx: GitHubContext
    client: GitHubClient
    table: str  # the labelled rows, named in the comment

    def report(self, monitored: MonitorReport) -> Delivery:
        from mlci._internal.redaction import redact
        from mlci.report import markdown as md

        marker = MONITOR_MARKER.format(model=self.config.model.name)
        rows = [
            f"| {md.escape(c.metric)} | {md.escape(c.scope, 120)} | {md.num(c.shipped)} | {md.num(c.current)} | "
            f"{md.signed(c.change)} | {md.interval(c.ci_low, c.ci_high)} | {md.escape(c.status)} |"
            for c in [*monitored.metrics, *[s for s in monitored.slices if s.status == "fail"]][:100]
        ]
        body = (
            f"{marker}\n**Model {md.code(monitored.model)}: {md.escape(monitored.environment)} on labelled rows**\n\n"
            f"- version: {md.code(monitored.version)}\n- status: **{md.escape(monitored.status)}**\n\n"
            f"| Metric | Scope | Shipped | Now | Change | {monitored.confidence * 100:g}% CI | Status |\n"
            "| --- | --- | ---: | ---: | ---: | :---: | --- |\n" + "\n".join(rows) + "\n"
        )
        if monitored.reasons:
            body += "\n" + "\n".join(f"- {md.escape(r, 400)}" for r in monitored.reasons[:20]) + "\n"
        title = f"mlci: {self.config.model.name} in {monitored.environment}"
        issue = self.client.upsert_issue(marker, title, redact(body), labels=["mlci"])
        delivery = Delivery(where=issue.url, action=issue.action)
        if issue.action == "updated":
            run = f" ({md.link('run', self.ctx.run_url)})" if self.ctx.run_url else ""
            summary = (
                f"Monitor{run} on {md.code(Path(self.table).name)} ({md.count(monitored.rows)} labelled rows): "
                f"**{md.escape(monitored.status)}**."
            )
            delivery.follow_up = self.client.add_issue_comment(issue.number, redact(summary))
        return delivery


# --- showing a check on GitHub ------------------------------------------------------------------------


@dataclass
class Shown:
    """Where a report went, and the warnings the user should see."""

    comment_url: str | None = None
    comment_action: str | None = None
    status_state: str | None = None
    check_run: str | None = None  # the check run's page (None: not created; `notes` says why)
    summary_written: bool = False
    report_path: str | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def show(
    config: Config,
    document: ReportDocument,
    ctx: GitHubContext,
    *,
    post: bool,
    report_path: Path | None = None,
) -> Shown:
    """Show a check's document in the step summary and outputs; with `post`, in the PR comment and the status.

    A fork PR's read-only token is not an error: the report stays in the step summary and a
    warning says why there is no comment. Each GitHub write is tried on its own, so a token
    lacking one permission still does the other, and the warning names the permission refused.
    """
    result = Shown(report_path=str(report_path) if report_path else None)
    result.summary_written = StepSummary(config, ctx).report(document).action == "written"
    if post:
        _post(config, document, ctx, result)
    Outputs(ctx, report_path, result.comment_url).report(document)
    return result


def _post(config: Config, document: ReportDocument, ctx: GitHubContext, result: Shown) -> None:
    from mlci.github.client import GitHubClient

    if not ctx.token or not ctx.repository:
        result.notes.append("no GitHub token or repository in the environment: not posting the report")
        return
    if ctx.pr_number is None and not ctx.is_merge_group:
        result.notes.append(f"not a pull request event ({ctx.event_name or 'none'}): no PR comment to post")
        return
    refused: list[str] = []
    with GitHubClient.from_context(ctx) as client:
        comment = StickyComment(config, ctx, client).report(document)
        result.comment_url, result.comment_action = comment.where, comment.action if comment.where else None
        status = CommitStatus(config, ctx, client).report(document)
        result.status_state = status.action if status.where else None
        if not ctx.is_fork_pr:  # a fork's read-only token: the warning below already says what was not posted
            try:
                check_run = CheckRunReport(config, ctx, client).report(document)
            except ServiceError as e:  # the comment and the status went out: the check run is extra
                result.notes.append(f"no check run: {e.lines()[0]}")
            else:
                result.check_run = check_run.where
                result.notes += check_run.notes
        refused = comment.warnings + status.warnings
    if refused:
        where = "the job's step summary" if result.summary_written else "report.md"
        why = "a pull request from a fork gets a read-only token"
        if not ctx.is_fork_pr:
            why = "the workflow's `permissions:` must grant it (a fork's token is read-only)"
        result.warnings.append(f"{'; '.join(refused)}: {why}; the report is in {where}")


def error_status(config: Config, ctx: GitHubContext, message: str) -> str | None:
    """Set the commit status `mlci/<model>` to error when the check could not finish; return a note."""
    from mlci.github.client import GitHubClient

    if not (ctx.token and ctx.repository and ctx.head_sha):
        return None
    try:
        with GitHubClient.from_context(ctx) as client:
            client.create_status(ctx.head_sha, "error", f"mlci/{config.model.name}", message, ctx.run_url)
    except ServiceError as e:  # the check's own error is what the user must see
        return f"could not set the error status: {e}"
    return None


def pending_status(config: Config, ctx: GitHubContext) -> str | None:
    """Set `mlci/<model>` to pending on the reported head as the check starts; return a note if it could not."""
    from mlci.github.client import GitHubClient

    if not (ctx.token and ctx.repository and ctx.head_sha) or (ctx.pr_number is None and not ctx.is_merge_group):
        return None
    try:
        with GitHubClient.from_context(ctx) as client:
            client.create_status(
                ctx.head_sha, "pending", f"mlci/{config.model.name}", "mlci is checking this commit", ctx.run_url
            )
    except ReadOnlyToken:
        return None  # a fork's token: the final report says why nothing was posted
    except ServiceError as e:
        return f"could not set the pending status: {e}"
    return None


def stale_head(ctx: GitHubContext) -> str | None:
    """Return why this run must not post (the PR's head moved on since its push), else None.

    A re-run of an older push would otherwise put its result back over the newer one's: GitHub's
    record of the PR's head decides. When GitHub cannot be asked, the run is taken as current.
    """
    from mlci.github.client import GitHubClient

    number = ctx.pr_number
    if number is None or ctx.is_merge_group or not (ctx.token and ctx.repository and ctx.head_sha):
        return None
    try:
        with GitHubClient.from_context(ctx) as client:
            head = client.pull_request(number).head.sha
    except ServiceError:
        return None
    if head and head != ctx.head_sha:
        return (
            f"this run checked {ctx.head_sha[:12]}, but PR #{number}'s head is now {head[:12]}: a newer run reports; "
            f"this one stored nothing and left the comment, the status and pr-{number} as they were"
        )
    return None
