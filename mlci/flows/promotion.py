"""promote --from-pr in the merge job: verify the merged PR's candidate instead of believing it.

The pull_request job that stored the candidate ran the PR's own code with the PR role's
credentials, so everything it wrote is a claim: the version under `pr-<n>`, its manifest,
the `check` event with its verdict. The merge job therefore
  1. loads the candidate by content address (sha256(model) == manifest == version id, trusted
     types only),
  2. checks its manifest against GitHub's record of the merged PR (number, merged, head sha),
     which no job's registry credentials can forge, and
  3. re-evaluates it against the current production on the merged branch's data with the
     merged branch's gates (no cached result: .mlci/ of the checkout is the PR's too).
The stored verdict becomes informational: it is shown, never decisive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlci.errors import CheckFailed, ConfigError, UsageError

if TYPE_CHECKING:
    from mlci.config.schema import Config
    from mlci.flows.policy import StoredVerdict
    from mlci.github.context import GitHubContext
    from mlci.registry.registry import Registry


@dataclass(frozen=True)
class VerifiedCandidate:
    """A merged PR's candidate after verification: its version and the verdict of the merge job's own evaluation."""

    pr: int
    version: str
    verdict: StoredVerdict  # decided by the report document of this job's re-evaluation
    found: str
    notes: list[str] = field(default_factory=list)


def pr_number(from_pr: str, ctx: GitHubContext) -> tuple[int, str]:
    """Return (PR number, how it was found) for `--from-pr NUMBER|auto`."""
    from mlci.flows.release import pr_of_commit

    if from_pr == "auto":
        return pr_of_commit(ctx)
    if from_pr.isdigit():
        return int(from_pr), f"PR #{from_pr} named on the command line"
    raise UsageError(f"--from-pr {from_pr!r}: give a PR number or 'auto'")


def github_record(ctx: GitHubContext, number: int) -> tuple[bool, str | None]:
    """Return (merged, head sha) of PR `number` as GitHub's API records it.

    A PR from a fork is refused here: its check ran without credentials and stored nothing,
    so anything under pr-<n> was put there by another job (a same-repository PR role can
    write any pr-* alias and any manifest, including one naming the fork's public head sha).
    """
    from mlci.github.client import GitHubClient

    with GitHubClient.from_context(ctx) as client:
        pull = client.pull_request(number)
    if pull.number != number:
        raise CheckFailed(f"GitHub's answer for PR #{number} is not that pull request")
    head_name = pull.head.repo.full_name if pull.head.repo is not None else None
    if head_name is None or head_name.lower() != (ctx.repository or "").lower():
        raise CheckFailed(
            f"PR #{number} came from {head_name or 'a deleted repository'}, not {ctx.repository}: a fork's check "
            f"stores no candidate, so whatever pr-{number} names was stored by another job; refusing to promote it",
            hint="re-run the check from a branch of this repository and promote that PR",
        )
    return bool(pull.merged or pull.merged_at), pull.head.sha


def verify_pr_candidate(config: Config, registry: Registry, from_pr: str, ctx: GitHubContext) -> VerifiedCandidate:
    """Return the merged PR's candidate, verified and re-evaluated here; CheckFailed when it does not hold up."""
    from mlci.data.tables import load_datasets
    from mlci.flows.formats import run
    from mlci.flows.policy import StoredVerdict, last_verdict
    from mlci.registry.references import bundle_of

    number, how = pr_number(from_pr, ctx)
    record = registry.alias(f"pr-{number}")
    if record is None:
        last = last_verdict(registry, alias=f"pr-{number}")
        if last is not None and last.failed_stages:
            # The event is the PR role's to write: it only words the refusal, never allows anything.
            raise CheckFailed(
                f"PR #{number} has no candidate to promote: its last check failed ({last.headline}) and stored none",
                hint="fix what failed on a new pull request; its check stores the candidate",
            )
        raise CheckFailed(
            f"PR #{number} has no stored candidate (no alias pr-{number} for model '{config.model.name}'); "
            "did its mlci check run and push?"
        )
    version = record.version
    bundle = bundle_of(config, registry, version)
    manifest = bundle.manifest
    notes: list[str] = []
    if manifest.pr != number:
        raise CheckFailed(
            f"alias pr-{number} points at version {version}, which was stored for PR "
            f"#{manifest.pr}, not #{number}; refusing to promote it (the alias was moved by another job)"
        )
    if ctx.token and ctx.repository:
        merged, head = github_record(ctx, number)
        if not merged:
            raise CheckFailed(f"GitHub says PR #{number} is not merged; not promoting its candidate")
        # git_sha is the PR's head commit on a pull_request job (not GitHub's temporary merge commit).
        if head is None or manifest.git_sha != head:
            raise CheckFailed(
                f"version {version} under pr-{number} was trained from commit {manifest.git_sha or 'unknown'}, "
                f"but GitHub records PR #{number}'s head as {head}; refusing to promote it"
            )
        notes.append(f"GitHub confirms PR #{number} merged with head {head[:12]}, the commit version {version} names")
    elif ctx.in_actions:
        raise ConfigError(
            "promote --from-pr needs a GitHub token in Actions to check the candidate against GitHub's record of the PR",
            hint="pass github-token (GITHUB_TOKEN) to the step",
        )
    else:
        notes.append("not checked against GitHub (no token outside Actions): re-evaluated only")
    # Re-evaluate here, with this branch's gates and data, against what is in production now: the
    # same pipeline as every check, with the PR's stored version as the candidate, nothing read
    # from the cache (.mlci/ of the checkout is the PR's too) and nothing stored. Both models are
    # scored in contained processes, whose fork server starts beside the validation.
    from mlci.modeling.sandbox import warm_up

    warm_up(config.model.format)
    outcome = run(
        config,
        registry,
        load_datasets(config),
        ctx,
        alias=f"pr-{number}",
        candidate=bundle,
        store=False,
    )
    document, baseline = outcome.document, outcome.baseline
    verdict = StoredVerdict.of(document)
    against = f"production {baseline.bundle.version}" if baseline is not None else "no production model"
    stored = last_verdict(registry, version)
    notes.append(
        f"re-evaluated {version} against {against} in this job: {verdict.verdict} ({document.headline})"
        + (f" (the PR's stored verdict, informational only: {stored.verdict})" if stored else "")
    )
    return VerifiedCandidate(number, version, verdict, f"{how}: promoting its candidate pr-{number}", notes)
