"""The release path: store a bundle as a version, move aliases, find a merged PR's candidate, read history."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from mlci.errors import ChecksFailed, NotFoundError
from mlci.references import actor, open_registry
from mlci.signing import Signature, signatures_of

if TYPE_CHECKING:
    from mlci.config import Config
    from mlci.document import ReportDocument
    from mlci.github.context import GitHubContext
    from mlci.registry.registry import Registry
    from mlci.verification import PullRecord


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PushOutcome(_Result):
    """What `mlci push` stored, and the alias it moved."""

    version: str
    created: bool
    uri: str
    alias: str | None = None
    previous: str | None = None
    signature: Signature | None = None  # the signature stored beside it (signing configured)
    signing_note: str | None = None  # why it was not signed, when signing is configured but skipped


class StoredVerdict(_Result):
    """What a check found about a version: its last stored check (the event log) or this job's own document."""

    verdict: str
    headline: str = ""
    failed_stages: list[str] = []

    @classmethod
    def of(cls, document: ReportDocument) -> StoredVerdict:
        """Return the verdict a report document decided, with its headline and failed stages."""
        return cls(
            verdict=document.verdict,
            headline=document.headline,
            failed_stages=[s.name for s in document.failed_stages],
        )

    def failure(self, when: str = "at its last check") -> str:
        """Return why it failed, naming the stages: `failed data validation at its last check (data validation ...)`."""
        stages = " and ".join("its gates" if s == "gates" else s for s in self.failed_stages) or "its check"
        return f"failed {stages} {when}" + (f" ({self.headline})" if self.headline else "")


class PromoteResult(_Result):
    """The alias `mlci promote` moved: where it points now and where it pointed."""

    alias: str
    version: str
    previous: str | None
    verdict: str | None
    moved: bool = True  # False when the alias already held the version
    signature: Signature | None = None  # the signature that verified under the policy (signing configured)


class VersionSummary(_Result):
    """One stored version as history lists it."""

    version: str | None
    created_at: str | None
    git_sha: str | None
    pr: int | None
    metrics: dict[str, Any]
    signatures: list[Signature] | None = None  # stored beside it, by id, unverified; None: no signing


class AliasSummary(_Result):
    """One alias as history lists it."""

    alias: str
    version: str
    previous: str | None
    updated_at: str | None
    actor: str | None


class History(_Result):
    """Versions, aliases and the event log of one model."""

    model: str
    registry: str
    warnings: list[str] = []  # event records skipped because they are not of mlci's shape
    versions: list[VersionSummary]
    aliases: list[AliasSummary]
    events: list[dict[str, Any]]  # the registry's event records, as stored (docs/registry.md)


def push(
    config: Config, bundle_dir: str, alias: str | None = None, *, reason: str = "", ctx: GitHubContext | None = None
) -> PushOutcome:
    """Store a bundle as an immutable version (signed when mlci.yaml says so) and optionally point an alias at it."""
    from mlci.artifacts import open_bundle
    from mlci.signing import version_signer

    bundle = open_bundle(Path(bundle_dir))
    registry = open_registry(config)
    who = actor(ctx)
    signer = version_signer(config, registry, ctx, action="push", actor=who)
    result = registry.push(bundle.path, actor=who, reason=reason, attach=signer)
    signed = {"signature": signer.signed, "signing_note": signer.note} if signer is not None else {}
    if not alias:
        return PushOutcome(version=result.version, created=result.created, uri=result.uri, **signed)
    record = registry.set_alias(alias, result.version, actor=who, reason=reason or "push")
    return PushOutcome(
        version=result.version, created=result.created, uri=result.uri, alias=alias, previous=record.previous, **signed
    )


def promote(
    config: Config,
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

    `expect` ("none" for an unset alias) is the version the caller believes the alias holds,
    e.g. the baseline a PR was compared with: if the alias holds anything else, nothing moves.
    `verdict` is one this job's own document decided (promote --from-pr re-evaluates); without
    it the version's last stored check verdict is used. A failed one is refused, naming the stage.
    """
    from mlci.errors import ConflictError
    from mlci.verification import require_signed

    registry = open_registry(config)
    version = registry.resolve(ref)
    verified = require_signed(config, registry, version, pr=pr)  # exit 1 before anything moves
    current = registry.alias(alias)
    if expect is not None:
        wanted = None if expect == "none" else registry.resolve(expect)
        held = current.version if current else None
        if held != wanted:
            raise ConflictError(
                f"alias '{alias}' of model '{config.model.name}' holds {held or 'nothing'}, not {wanted or 'nothing'} "
                f"as expected; someone moved it first. Re-run the check against the new '{alias}'"
            )
    fresh = verdict is not None
    stored = verdict if verdict is not None else last_verdict(registry, version)
    if stored is not None and stored.verdict == "fail" and not allow_failed:
        when = "when re-evaluated against production in this job" if fresh else "at its last check"
        raise ChecksFailed(
            f"version {version} {stored.failure(when)}; not promoting it to '{alias}'",
            hint="pass --allow-failed to promote it anyway (recorded in the event log)",
        )
    why = reason or f"promote {ref}"
    if stored is not None and stored.verdict == "fail":
        why += f" (--allow-failed: its check had failed: {', '.join(stored.failed_stages) or 'see the event log'})"
    record = registry.set_alias(
        alias, version, actor=actor(ctx), reason=why, expected_etag=current.etag if current else None
    )
    moved = current is None or current.version != record.version
    return PromoteResult(
        alias=alias,
        version=record.version,
        previous=record.previous,
        verdict=stored.verdict if stored else None,
        moved=moved,
        signature=verified.signature if verified is not None else None,
    )


def last_verdict(registry: Registry, version: str | None = None, *, alias: str | None = None) -> StoredVerdict | None:
    """Return what the latest check (or scheduled retrain) that stored `version` (or ran under `alias`) found.

    A check the data stopped stores no version; its event names only the alias. Events written
    by an older mlci carry only the verdict; their failure names no stage.
    """
    for event in reversed(registry.events()):
        if event.get("action") not in ("check", "retrain"):
            continue
        if (version is not None and event.get("version") == version) or (
            alias is not None and event.get("alias") == alias
        ):
            extra = event.get("extra") or {}
            stages = extra.get("failed_stages")
            return StoredVerdict(
                verdict=str(extra.get("verdict")),
                headline=str(extra.get("headline") or ""),
                failed_stages=[str(s) for s in stages] if isinstance(stages, list) else [],
            )
    return None


def history(config: Config, alias: str | None = None) -> History:
    """Return versions (with metrics), aliases (current and previous) and the event log."""
    registry = open_registry(config)
    aliases = [a for a in registry.aliases() if alias is None or a.name == alias]
    if alias is not None and not aliases:
        raise NotFoundError(f"model '{config.model.name}' has no alias '{alias}'")
    events = registry.events()
    if alias is not None:
        events = [e for e in events if e.get("alias") == alias or e.get("env") == alias]
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
    raise ChecksFailed(
        f"cannot tell which pull request commit {(ctx.sha or 'HEAD')[:12]} came from "
        "(GitHub lists none and its message has no '(#123)')",
        hint="pass --from-pr NUMBER",
    )
