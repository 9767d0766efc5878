"""The PR check: one run of the pipeline on the configured tables, stored under the PR's alias, reported.

A pull request from a fork (or Dependabot's) runs with no credentials: it reads the baseline
from `registry.public_uri` (none if unset) and stores nothing. A merge queue's check is about
the PR its branch names: it reuses that PR's candidate when nothing changed, stores no version
and moves no alias (promotion takes what the PR's own check stored), and logs its verdict under
`events/pr-<n>/`, the PR role's namespace. A run whose head is no longer the PR's head (a re-run
of an older push) stores nothing and posts nothing: its report stays in its own step summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.errors import UsageError

if TYPE_CHECKING:
    from mlci.config.schema import Config
    from mlci.contracts.comparison import Comparison
    from mlci.contracts.document import ReportDocument
    from mlci.contracts.validation import ValidationResult
    from mlci.errors import CheckFailed
    from mlci.flows.pipeline import Candidate
    from mlci.github.context import GitHubContext
    from mlci.registry.references import Resolved
    from mlci.registry.registry import PushResult, Registry


@dataclass
class CheckResult:
    """Everything `mlci check` found, stored and wrote; `document` is the verdict every consumer reads."""

    document: ReportDocument
    candidate: Candidate | None  # None: the data broke its expectations and stopped the check
    comparison: Comparison | None
    baseline: Resolved | None
    push: PushResult | None  # None: stored nowhere (a fork's check, or the data stopped it)
    report_path: Path
    comparison_path: Path
    failure: CheckFailed | None = None  # why the data stopped the check, one line per expectation
    messages: list[str] = field(default_factory=list)
    stale: str | None = None  # why this run must not post: the PR has moved on to a newer head

    @property
    def verdict(self) -> str:
        """Return the overall verdict (pass, fail or bootstrap)."""
        return self.document.verdict

    @property
    def validation(self) -> list[ValidationResult]:
        """Return the data validation results."""
        return self.document.validation

    @property
    def alias(self) -> str | None:
        """Return the alias the candidate was stored under (None: not stored)."""
        return self.document.candidate.alias if self.document.candidate is not None else None


def check(
    config: Config,
    registry: Registry | None,
    ctx: GitHubContext,
    *,
    baseline: str | None = "production",
    output_dir: Path | None = None,
    before_worker: Callable[[], None] | None = None,
    post: bool = False,
) -> CheckResult:
    """Validate, train (or reuse), evaluate against the baseline, push under pr-<n>, write the report.

    `registry` is the one the job may use: a fork's check gets the public one (read only, None
    when `registry.public_uri` is unset) and stores nothing. `ctx` is the GitHub Actions run
    (the PR, its head commit, the actor); an empty context is a local run outside Actions.
    With `post`, the commit status goes `pending` first, once GitHub confirms this run's head is
    still the PR's head; a stale run stores nothing (`CheckResult.stale` says why).
    """
    from mlci.contracts.events import CheckDetails, CheckEvent
    from mlci.data.tables import load_datasets
    from mlci.flows.formats import run
    from mlci.flows.pipeline import _Clock
    from mlci.registry.references import actor
    from mlci.report.reporters import pending_status, stale_head, write_files

    if ctx.is_pull_request_target:
        raise UsageError(
            "mlci check refuses pull_request_target: that run holds write secrets and checks out the base, "
            "not the PR's code; trigger the workflow on pull_request"
        )
    pr = ctx.pr_number
    fork = ctx.is_fork_pr or ctx.is_dependabot_pr
    queue = ctx.is_merge_group
    if queue and pr is None:
        raise UsageError(
            f"a merge queue's check needs the PR number from its branch gh-readonly-queue/<base>/pr-<n>-<sha>, "
            f"and this run's branch is {ctx.ref or 'unknown'}"
        )
    alias = f"pr-{pr}" if pr is not None else "candidate"
    messages: list[str] = []
    stale = stale_head(ctx) if post else None
    if post and stale is None and (note := pending_status(config, ctx)):
        messages.append(note)
    clock = _Clock()
    with clock("load"):
        datasets = load_datasets(config)
    if pr is not None and registry is not None and not fork:
        registry.event_namespace = alias  # the PR role writes only versions/ and pr-<n>
    unread = "a pull request from a fork reads no registry: registry.public_uri is not set"
    if ctx.is_dependabot_pr and not ctx.is_fork_pr:
        unread = (
            "a Dependabot pull request reads no registry (it gets no Actions secrets): registry.public_uri is not set"
        )
    outcome = run(
        config,
        registry,
        datasets,
        ctx,
        alias=alias,
        baseline=baseline,
        reuse=True,
        store=not (fork or queue or stale),
        before_worker=before_worker,
        no_baseline=unread if registry is None else None,
        details=lambda document: CheckDetails.of(document, pr=pr, sha=ctx.head_sha),
    )
    messages += outcome.messages
    if fork and outcome.candidate is not None:
        who = (
            "Dependabot's pull request" if ctx.is_dependabot_pr and not ctx.is_fork_pr else "a pull request from a fork"
        )
        messages.append(f"{who}: the candidate was evaluated here and stored nowhere")
    if queue and registry is not None and not fork and not stale:
        # The queue's verdict goes into the PR's own event namespace; alias pr-<n> keeps the reviewed candidate.
        found = CheckDetails.of(outcome.document, pr=pr, sha=ctx.head_sha)
        registry.log_event(CheckEvent(actor=actor(ctx), alias=alias, extra=found))
        messages.append(
            f"merge queue check for PR #{pr}: verdict logged under events/{alias}/, alias {alias} unchanged"
        )
    if stale:
        messages.append(stale)
    with clock("report"):
        comparison_path, report_path = write_files(config, outcome.document, output_dir)
    timings = {"load": clock.timings["load"], **outcome.timings, "report": clock.timings["report"]}
    return CheckResult(
        document=outcome.document.model_copy(update={"timings": timings}) if outcome.candidate else outcome.document,
        candidate=outcome.candidate,
        comparison=outcome.comparison,
        baseline=outcome.baseline,
        push=outcome.push,
        report_path=report_path,
        comparison_path=comparison_path,
        failure=outcome.failure,
        messages=messages,
        stale=stale,
    )
