"""The release path: store a bundle as a version, move aliases, find a merged PR's candidate, read history."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci._internal.models import Result
from mlci.contracts.events import Event
from mlci.contracts.signature import Signature
from mlci.errors import NotFoundError
from mlci.flows.policy import StoredVerdict
from mlci.registry.references import actor
from mlci.signing.sign import signatures_of

if TYPE_CHECKING:
    from mlci.config.schema import Config
    from mlci.github.context import GitHubContext
    from mlci.registry.registry import Registry
    from mlci.signing.verify import PullRecord


class PushOutcome(Result):
    """What `mlci push` stored, and the alias it moved."""

    version: str
    created: bool
    uri: str
    alias: str | None = None
    previous: str | None = None
    signature: Signature | None = None  # the signature stored beside it (signing configured)
    signing_note: str | None = None  # why it was not signed, when signing is configured but skipped
    notes: list[str] = []  # what moving an environment's alias recorded (a GitHub deployment)


class PromoteResult(Result):
    """The alias `mlci promote` moved: where it points now and where it pointed."""

    alias: str
    version: str
    previous: str | None
    verdict: str | None
    moved: bool = True  # False when the alias already held the version
    signature: Signature | None = None  # the signature that verified under the policy (signing configured)
    notes: list[str] = []  # how the candidate was found and verified (promote --from-pr)
    recorded: list[str] = []  # what the move of an environment recorded (a GitHub deployment)


class VersionSummary(Result):
    """One stored version as history lists it."""

    version: str | None
    created_at: str | None
    git_sha: str | None
    pr: int | None
    metrics: dict[str, Any]
    signatures: list[Signature] | None = None  # stored beside it, by id, unverified; None: no signing


class AliasSummary(Result):
    """One alias as history lists it."""

    alias: str
    version: str
    previous: str | None
    updated_at: str | None
    actor: str | None


class History(Result):
    """Versions, aliases and the event log of one model."""

    model: str
    registry: str
    warnings: list[str] = []  # event records skipped because they are not of mlci's shape
    versions: list[VersionSummary]
    aliases: list[AliasSummary]
    events: list[Event]  # the registry's event log, oldest first (docs/registry.md)


def push(
    config: Config,
    registry: Registry,
    bundle_dir: str,
    alias: str | None = None,
    *,
    reason: str = "",
    ctx: GitHubContext | None = None,
) -> PushOutcome:
    """Store a bundle as an immutable version (signed when mlci.yaml says so) and optionally point an alias at it.

    An environment's alias (staging, production, ...) moves only through the release policy,
    as `mlci promote` moves it.
    """
    from mlci.modeling.bundle import open_bundle
    from mlci.signing.sign import version_signer

    bundle = open_bundle(Path(bundle_dir))
    who = actor(ctx)
    signer = version_signer(config, registry, ctx, action="push", actor=who)
    result = registry.push(bundle.path, actor=who, reason=reason, attach=signer)
    signed = {"signature": signer.signed, "signing_note": signer.note} if signer is not None else {}
    if not alias:
        return PushOutcome(version=result.version, created=result.created, uri=result.uri, **signed)
    if alias in config.environments:
        moved = promote(config, registry, result.version, alias, reason=reason or "push", ctx=ctx)
        previous, notes = moved.previous, moved.recorded
    else:
        previous, notes = registry.set_alias(alias, result.version, actor=who, reason=reason or "push").previous, []
    return PushOutcome(
        version=result.version,
        created=result.created,
        uri=result.uri,
        alias=alias,
        previous=previous,
        notes=notes,
        **signed,
    )


def promote(
    config: Config,
    registry: Registry,
    ref: str,
    alias: str,
    *,
    reason: str = "",
    allow_failed: bool = False,
    expect: str | None = None,
    ctx: GitHubContext | None = None,
    pr: PullRecord | None = None,
    verdict: StoredVerdict | None = None,
) -> PromoteResult:
    """Move `alias` to the version REF names, by compare-and-swap; ConflictError if it moved under us.

    The release policy (mlci.flows.policy) decides whether it may: a signature the policy
    accepts (bound to `pr` when given), and a check that did not fail unless `allow_failed`.
    `verdict` is one this job decided itself (promote --from-pr and retrain evaluate here); without
    it the version's last stored check verdict is read. `expect` ("none" for an unset alias) is
    the version the caller believes the alias holds, e.g. the baseline a PR was compared with: if
    the alias holds anything else, nothing moves. A move of an environment's alias is recorded
    as a GitHub deployment.
    """
    from mlci.errors import ConflictError
    from mlci.flows.policy import clear, record_move
    from mlci.github.context import GitHubContext

    version = registry.version_of(ref)
    clearance = clear(config, registry, version, alias, allow_failed=allow_failed, verdict=verdict, pr=pr)
    current = registry.alias(alias)
    if expect is not None:
        wanted = None if expect == "none" else registry.version_of(expect)
        held = current.version if current else None
        if held != wanted:
            raise ConflictError(
                f"alias '{alias}' of model '{config.model.name}' holds {held or 'nothing'}, not {wanted or 'nothing'} "
                f"as expected; someone moved it first. Re-run the check against the new '{alias}'"
            )
    why = reason or f"promote {ref}"
    if clearance.overridden:
        why += f" ({clearance.overridden})"
    record = registry.set_alias(
        alias, version, actor=actor(ctx), reason=why, expected_etag=current.etag if current else None
    )
    moved = current is None or current.version != record.version
    notes: list[str] = []
    if alias in config.environments:
        description = f"promote {config.model.name} {record.version}"
        notes = record_move(ctx or GitHubContext(), alias, config.model.name, record.version, moved, description)
    stored = clearance.verdict
    return PromoteResult(
        alias=alias,
        version=record.version,
        previous=record.previous,
        verdict=stored.verdict if stored else None,
        moved=moved,
        signature=clearance.verification.signature if clearance.verification is not None else None,
        recorded=notes,
    )


def history(config: Config, registry: Registry, alias: str | None = None) -> History:
    """Return versions (with metrics), aliases (current and previous) and the event log."""
    aliases = [a for a in registry.aliases() if alias is None or a.name == alias]
    if alias is not None and not aliases:
        raise NotFoundError(f"model '{config.model.name}' has no alias '{alias}'")
    events = registry.events()
    if alias is not None:
        events = [e for e in events if alias in (e.alias, e.env)]
    stored = registry.versions()  # before `warnings` is read: a manifest that does not parse adds one
    return History(
        model=config.model.name,
        registry=registry.store.uri,
        warnings=list(registry.warnings),
        versions=[
            VersionSummary(
                version=m.version,
                created_at=m.created_at,
                git_sha=m.git_sha,
                pr=m.pr,
                metrics=dict(m.metrics or {}),
                signatures=signatures_of(registry, vid) if config.signing is not None else None,
            )
            for vid, m in stored
        ],
        aliases=[
            AliasSummary(alias=a.name, version=a.version, previous=a.previous, updated_at=a.updated_at, actor=a.actor)
            for a in aliases
        ],
        events=events,
    )


# --- which PR a merge came from --------------------------------------------------------------------


_SQUASH = re.compile(r"\(#(\d+)\)\s*$", re.M)
_MERGE = re.compile(r"^Merge pull request #(\d+)", re.M)


def pr_of_commit(ctx: GitHubContext, message: str | None = None) -> tuple[int, str]:
    """Return (PR number, how it was found) for the commit the push event is about."""
    if ctx.token and ctx.repository and ctx.sha:
        from mlci.github.client import GitHubClient

        with GitHubClient.from_context(ctx) as client:
            pulls = client.pulls_for_commit(ctx.sha)
            if pulls:
                return pulls[0], f"GitHub lists commit {ctx.sha[:12]} in PR #{pulls[0]}"
            if message is None:
                message = client.commit_message(ctx.sha)
    message = message if message is not None else (ctx.commit_message or "")
    for pattern, how in ((_MERGE, "merge commit message"), (_SQUASH, "squash-merge message")):
        m = pattern.search(message)
        if m:
            return int(m.group(1)), f"{how} names PR #{m.group(1)}"
    raise NotFoundError(
        f"cannot tell which pull request commit {(ctx.sha or 'HEAD')[:12]} came from "
        "(GitHub lists none and its message has no '(#123)')",
        hint="pass --from-pr NUMBER",
    )


class CardResult(Result):
    """A version's model card, as stored beside it (its sha256 checked against the version's manifest)."""

    version: str
    uri: str
    text: str


def card(config: Config, registry: Registry, ref: str) -> CardResult:
    """Return the model card of REF (an alias, a version id or a bundle directory); NotFoundError when it has none."""
    from mlci.modeling.bundle import CARD
    from mlci.registry.references import bundle_of, is_path

    bundle = bundle_of(config, registry, ref)  # every file, the card included, checked against the manifest
    if CARD not in (bundle.manifest.files or {}):
        raise NotFoundError(
            f"version {bundle.version} of model {config.model.name!r} has no model card "
            "(stored by `mlci push` or by an mlci before cards)",
            hint="a version stored by `mlci check` or `mlci retrain` has one",
        )
    where = str(bundle.path / CARD) if is_path(ref) else registry.version_uri(bundle.version) + CARD
    return CardResult(version=bundle.version, uri=where, text=(bundle.path / CARD).read_text(encoding="utf-8"))
