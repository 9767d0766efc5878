"""The release path: store a bundle as a version, move aliases, find a merged PR's candidate, read history."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci.errors import ChecksFailed, NotFoundError
from mlci.references import actor, open_registry

if TYPE_CHECKING:
    from mlci.config import Config
    from mlci.github.context import GitHubContext
    from mlci.registry.registry import Registry
    from mlci.verification import PullRecord


def push(
    config: Config, bundle_dir: str, alias: str | None = None, *, reason: str = "", ctx: GitHubContext | None = None
) -> dict[str, Any]:
    """Store a bundle as an immutable version (signed when mlci.yaml says so) and optionally point an alias at it."""
    from mlci.artifacts import open_bundle
    from mlci.signing import signature_fields, version_signer

    bundle = open_bundle(Path(bundle_dir))
    registry = open_registry(config)
    who = actor(ctx)
    signer = version_signer(config, registry, ctx, action="push", actor=who)
    result = registry.push(bundle.path, actor=who, reason=reason, attach=signer)
    out: dict[str, Any] = {"version": result.version, "created": result.created, "uri": result.uri}
    out.update(signature_fields(signer))
    if alias:
        record = registry.set_alias(alias, result.version, actor=who, reason=reason or "push")
        out.update(alias=alias, previous=record.previous)
    return out


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
    verdict: str | None = None,
) -> dict[str, Any]:
    """Move `alias` to the version REF names, by compare-and-swap; ConflictError if it moved under us.

    `expect` ("none" for an unset alias) is the version the caller believes the alias holds,
    e.g. the baseline a PR was compared with: if the alias holds anything else, nothing moves.
    `verdict` is one this job computed (promote --from-pr re-evaluates); without it the
    version's last stored check verdict is used.
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
    verdict = verdict if fresh else last_verdict(registry, version)
    if verdict == "fail" and not allow_failed:
        when = "when re-evaluated against production in this job" if fresh else "at its last check"
        raise ChecksFailed(
            f"version {version} failed its gates {when}; not promoting it to '{alias}'",
            hint="pass --allow-failed to promote it anyway (recorded in the event log)",
        )
    why = reason or f"promote {ref}"
    if verdict == "fail":
        why += " (--allow-failed: its check had failed)"
    record = registry.set_alias(
        alias, version, actor=actor(ctx), reason=why, expected_etag=current.etag if current else None
    )
    moved = current is None or current.version != record.version
    out: dict[str, Any] = {
        "alias": alias,
        "version": record.version,
        "previous": record.previous,
        "verdict": verdict,
        "moved": moved,
    }
    if verified is not None:
        out["signature"] = verified.signature.model_dump(mode="json")
    return out


def last_verdict(registry: Registry, version: str) -> str | None:
    """Return the verdict of the latest check (or scheduled retrain) that stored `version`, if any."""
    for event in reversed(registry.events()):
        if event.get("action") in ("check", "retrain") and event.get("version") == version:
            return str((event.get("extra") or {}).get("verdict"))
    return None


def history(config: Config, alias: str | None = None) -> dict[str, Any]:
    """Return versions (with metrics), aliases (current and previous) and the event log."""
    registry = open_registry(config)
    aliases = [a for a in registry.aliases() if alias is None or a.name == alias]
    if alias is not None and not aliases:
        raise NotFoundError(f"model '{config.model.name}' has no alias '{alias}'")
    events = registry.events()
    if alias is not None:
        events = [e for e in events if e.get("alias") == alias or e.get("env") == alias]
    versions = []
    for m in registry.versions():
        versions.append(
            {
                "version": m.get("version"),
                "created_at": m.get("created_at"),
                "git_sha": m.get("git_sha"),
                "pr": m.get("pr"),
                "metrics": m.get("metrics", {}),
            }
        )
        if config.signing is not None:
            from mlci.signing import signatures_of

            versions[-1]["signatures"] = [x.model_dump(mode="json") for x in signatures_of(registry, str(m["id"]))]
    return {
        "model": config.model.name,
        "registry": registry.store.uri,
        "warnings": registry.warnings,
        "versions": versions,
        "aliases": [
            {
                "alias": a.name,
                "version": a.version,
                "previous": a.previous,
                "updated_at": a.updated_at,
                "actor": a.actor,
            }
            for a in aliases
        ],
        "events": events,
    }


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
