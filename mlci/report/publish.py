"""Show a report where GitHub users look: step summary, outputs, sticky PR comment, commit status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlci.config.schema import Config
    from mlci.contracts.document import ReportDocument
    from mlci.github.context import GitHubContext

STATUS_STATE = {"pass": "success", "bootstrap": "success", "fail": "failure"}


@dataclass
class Published:
    """Where a report went, and the warnings the user should see."""

    comment_url: str | None = None
    comment_action: str | None = None
    status_state: str | None = None
    summary_written: bool = False
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def publish(
    config: Config,
    document: ReportDocument,
    ctx: GitHubContext,
    *,
    post: bool,
    report_path: str | None = None,
) -> Published:
    """Write the step summary and outputs; with `post`, upsert the PR comment and set the status.

    A fork PR's read-only token is not an error: the report stays in the step summary and a
    warning says why there is no comment.
    """
    from mlci.github import workflow
    from mlci.report import STEP_SUMMARY_LIMIT
    from mlci.report.render import render_report

    result = Published()
    verdict = document.verdict
    if ctx.summary_path:
        summary = render_report(config, document, limit=STEP_SUMMARY_LIMIT, hint="the report.md artifact")
        result.summary_written = workflow.append_summary(summary, ctx.summary_path)
    if post:
        _post(config, document, ctx, result, verdict)
    if ctx.output_path:
        outputs = {
            "verdict": verdict,
            "report-path": report_path or "",
            "comment-url": result.comment_url or "",
            "version": document.candidate.version if document.candidate else "",
        }
        for name, value in outputs.items():
            workflow.set_output(name, value, ctx.output_path)
    return result


def _post(config: Config, document: ReportDocument, ctx: GitHubContext, result: Published, verdict: str) -> None:
    """Upsert the PR comment and set the commit status `mlci/<model>` (a merge queue: the status only).

    Each is tried on its own, so a token lacking one permission still does the other, and the
    warning names the permission GitHub refused.
    """
    from mlci.github.client import GitHubClient, ReadOnlyToken
    from mlci.report import COMMENT_LIMIT, marker

    if not ctx.token or not ctx.repository:
        result.notes.append("no GitHub token or repository in the environment: not posting the report")
        return
    if ctx.pr_number is None and not ctx.is_merge_group:
        result.notes.append(f"not a pull request event ({ctx.event_name or 'none'}): no PR comment to post")
        return
    where = "the job's step summary" if result.summary_written else "report.md"
    refused: list[str] = []
    with GitHubClient.from_context(ctx) as client:
        if ctx.pr_number is not None:
            from mlci.report.render import render_report

            body = render_report(config, document, limit=COMMENT_LIMIT)
            try:
                comment = client.upsert_comment(ctx.pr_number, marker(config.model.name), body)
                result.comment_url, result.comment_action = comment.url, comment.action
            except ReadOnlyToken as e:
                refused.append(f"no PR comment (the token lacks `{e.permission}`)")
        if ctx.head_sha:
            state = STATUS_STATE.get(verdict, "error")
            try:
                client.create_status(ctx.head_sha, state, f"mlci/{config.model.name}", document.headline, ctx.run_url)
                result.status_state = state
            except ReadOnlyToken as e:
                refused.append(f"no commit status (the token lacks `{e.permission}`)")
    if refused:
        why = "a pull request from a fork gets a read-only token"
        if not ctx.is_fork_pr:
            why = "the workflow's `permissions:` must grant it (a fork's token is read-only)"
        result.warnings.append(f"{'; '.join(refused)}: {why}; the report is in {where}")


def error_status(config: Config, ctx: GitHubContext, message: str) -> str | None:
    """Set the commit status `mlci/<model>` to error when the check could not finish; return a note."""
    from mlci.errors import ServiceError
    from mlci.github.client import GitHubClient

    if not (ctx.token and ctx.repository and ctx.head_sha):
        return None
    try:
        with GitHubClient.from_context(ctx) as client:
            client.create_status(ctx.head_sha, "error", f"mlci/{config.model.name}", message, ctx.run_url)
    except ServiceError as e:  # the check's own error is what the user must see
        return f"could not set the error status: {e}"
    return None
