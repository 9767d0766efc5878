"""deploy and rollback: move a model into an environment without ever losing one.

A deploy moves the environment's alias (compare-and-swap), publishes the version's files to
deployments/<env>/, then smoke-tests the published copy: it downloads it (sha256 checked),
loads it (trusted types only) and predicts the sample rows kept with the version, which must
give the predictions recorded when it was trained. Any failure puts the alias and the
published copy back to the previous version, so the environment keeps serving.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci.errors import ChecksFailed, ConfigError, MlciError, NotFoundError, ServiceError

if TYPE_CHECKING:
    from mlci.config import Config
    from mlci.github.client import GitHubClient
    from mlci.github.context import GitHubContext
    from mlci.registry.registry import AliasRecord, Registry

SMOKE_ATOL = 1e-6  # predictions may differ in the last bits across BLAS builds, not more


@dataclass
class DeployResult:
    """What a deploy or rollback did."""

    env: str
    version: str
    previous: str | None
    uri: str
    ok: bool
    rolled_back: bool = False
    reason: str = ""
    deployment_id: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


# --- smoke test ---------------------------------------------------------------------------


def smoke_test(config: Config, registry: Registry, environment: str, version: str) -> None:
    """Raise ChecksFailed unless the copy published to `environment` is `version` and predicts as recorded."""
    import numpy as np
    import pandas as pd

    from mlci.artifacts import SMOKE, open_bundle
    from mlci.training import load_trusted, scores

    with tempfile.TemporaryDirectory(prefix="mlci-smoke-") as tmp:
        try:
            path = registry.fetch_published(environment, Path(tmp))
            bundle = open_bundle(path)
            if bundle.version != version:
                raise ChecksFailed(f"the copy published to {environment} is version {bundle.version}, not {version}")
            model = load_trusted(config, bundle)
            smoke_path = bundle.path / SMOKE
            if not smoke_path.exists():
                raise ChecksFailed(f"version {version} has no {SMOKE} (sample rows) to smoke-test with")
            rows = pd.read_parquet(smoke_path)
            expected = rows.pop("__mlci_prediction__").to_numpy(dtype="float64")
            features = list(bundle.manifest.get("features") or rows.columns)
            got = np.asarray(scores(model, rows[features], str(bundle.manifest.get("task"))), dtype="float64")
        except ChecksFailed:
            raise
        except MlciError as e:
            raise ChecksFailed(f"smoke test of {version} in {environment}: {e}") from e
        except Exception as e:  # a model that cannot load or predict fails the smoke test
            raise ChecksFailed(f"smoke test of {version} in {environment}: {type(e).__name__}: {e}") from e
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=0, atol=SMOKE_ATOL, equal_nan=True):
        worst = float(np.nanmax(np.abs(got - expected))) if got.shape == expected.shape else float("nan")
        raise ChecksFailed(
            f"smoke test of {version} in {environment}: predictions on {len(expected)} sample rows differ from those "
            f"recorded at training (max difference {worst:.3g})"
        )


# --- webhook ------------------------------------------------------------------------------


def notify_webhook(config: Config, notice: dict[str, Any], env: Mapping[str, str], *, attempts: int = 3) -> None:
    """POST the signed deploy notice to deploy.webhook; ServiceError after retries."""
    import requests

    url = config.deploy.webhook
    if not url:
        return
    secret = env.get(config.deploy.webhook_secret_env, "")
    if not secret:
        raise ConfigError(
            f"deploy.webhook is set but {config.deploy.webhook_secret_env} is empty",
            hint="set the secret in the step's env, or change deploy.webhook_secret_env",
        )
    body = json.dumps(notice, sort_keys=True).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Mlci-Signature-256": f"sha256={signature}"}
    last = ""
    for attempt in range(attempts):
        try:
            response = requests.post(url, data=body, headers=headers, timeout=10)
            if response.status_code < 300:
                return
            last = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break
        except requests.RequestException as e:
            last = type(e).__name__
        time.sleep(min(0.5 * 2**attempt, 4.0))
    raise ServiceError(f"deploy.webhook {url} failed after {attempt + 1} attempt(s): {last}")


# --- GitHub deployments -------------------------------------------------------------------


class _Deployments:
    """GitHub deployment records for the environment, or nothing (with a note) when not possible."""

    def __init__(self, ctx: GitHubContext, notes: list[str]) -> None:
        self.ctx = ctx
        self.notes = notes
        self.client: GitHubClient | None = None
        self.id: int | None = None
        if not (ctx.in_actions and ctx.token and ctx.repository):
            notes.append("not in GitHub Actions with a token: no GitHub deployment recorded")
            return
        from mlci.github.client import GitHubClient

        self.client = GitHubClient.from_context(ctx)

    def start(
        self, environment: str, model: str, version: str, description: str, extra: dict[str, Any] | None = None
    ) -> None:
        if self.client is None:
            return
        try:
            payload = {"model": model, "version": version, **(extra or {})}
            self.id = self.client.create_deployment(
                self.ctx.sha or self.ctx.ref or "main", environment, payload, description
            )
            self.client.create_deployment_status(
                self.id, "in_progress", log_url=self.ctx.run_url, description=description, environment=environment
            )
        except ServiceError as e:
            self.notes.append(f"could not record a GitHub deployment: {e}")
            self.id = None

    def finish(self, environment: str, ok: bool, description: str) -> None:
        if self.client is None or self.id is None:
            return
        try:
            state = "success" if ok else "failure"
            self.client.create_deployment_status(
                self.id, state, log_url=self.ctx.run_url, description=description[:140], environment=environment
            )
        except ServiceError as e:
            self.notes.append(f"could not record the GitHub deployment status: {e}")
        finally:
            self.client.close()


def record_promotion(
    ctx: GitHubContext, environment: str, model: str, version: str, moved: bool, description: str
) -> list[str]:
    """Record one GitHub deployment of `version` to `environment` when the alias moved; return notes.

    A promotion moves an environment as a deploy does, so the Environments page shows it,
    naming the model version; a promotion that changed nothing records nothing.
    """
    notes: list[str] = []
    if not moved:
        notes.append(f"'{environment}' already held {version}: no GitHub deployment recorded")
        return notes
    tracker = _Deployments(ctx, notes)
    tracker.start(environment, model, version, description)
    tracker.finish(environment, tracker.id is not None, description)
    return notes


# --- deploy and rollback ------------------------------------------------------------------


def deploy(
    config: Config,
    ref: str,
    environment: str,
    *,
    ctx: GitHubContext,
    env: Mapping[str, str],
    reason: str = "",
    action: str = "deploy",
) -> DeployResult:
    """Move `environment` to the version REF names, publish, smoke-test; roll back on any failure.

    `ctx` is the Actions run (the actor, the GitHub deployment record); `env` the process
    environment, read only for the webhook secret named in deploy.webhook_secret_env.
    """
    from mlci.references import actor as actor_of
    from mlci.references import open_registry
    from mlci.verification import provenance_notes, provenance_payload, require_signed

    actor = actor_of(ctx)
    if environment not in config.environments:
        known = ", ".join(config.environments)
        raise ConfigError(f"unknown environment '{environment}' (environments in mlci.yaml: {known})")
    registry = open_registry(config)
    version = registry.resolve(ref)
    verified = require_signed(config, registry, version)  # exit 1 before the environment changes
    before = registry.alias(environment)
    notes: list[str] = provenance_notes(verified)
    github = _Deployments(ctx, notes)
    description = f"{action} {config.model.name} {version}"
    github.start(environment, config.model.name, version, description, provenance_payload(verified))
    why = reason or f"{action} {ref}"
    record = registry.set_alias(
        environment, version, actor=actor, reason=why, expected_etag=before.etag if before else None
    )
    previous = before.version if before else None
    uri = ""
    try:
        uri = registry.publish(version, environment, actor=actor, reason=why)
        smoke_test(config, registry, environment, version)
        notice = {
            "model": config.model.name,
            "environment": environment,
            "version": version,
            "previous": previous,
            "sha256": registry.manifest(version).get("sha256"),
            "uri": uri,
            "version_uri": registry.store.url(f"{config.model.name}/versions/{version}/"),
        }
        try:
            notify_webhook(config, notice, env)
        except ServiceError as e:
            if config.deploy.webhook_required:
                raise ChecksFailed(f"{e} (deploy.webhook_required)") from e
            notes.append(f"warning: {e}")
    except ChecksFailed as failure:
        restored = _restore(registry, environment, record, before, actor, str(failure))
        registry.log_event(
            action, actor=actor, env=environment, version=version, previous=previous, result="rolled back"
        )
        github.finish(environment, False, f"{version} failed: rolled back to {restored or 'nothing'}")
        raise ChecksFailed(
            f"{action} of {config.model.name} {version} to {environment} failed: {failure.message}; "
            f"rolled back: {environment} is {restored or 'unset'} again"
        ) from failure
    registry.log_event(action, actor=actor, env=environment, version=version, previous=previous, result="ok")
    github.finish(environment, True, f"{config.model.name} {version} is live in {environment}")
    return DeployResult(environment, version, previous, uri, ok=True, deployment_id=github.id, notes=notes)


def _restore(
    registry: Registry, environment: str, ours: AliasRecord, before: AliasRecord | None, actor: str, why: str
) -> str | None:
    """Put alias and published copy back as they were before our deploy; return what is live now."""
    reason = f"automatic rollback: {why}"[:500]
    if before is None:
        registry.delete_alias(environment, expected_etag=ours.etag, actor=actor, reason=reason)
        registry.unpublish(environment, actor=actor, reason=reason)
        return None
    registry.set_alias(
        environment, before.version, actor=actor, reason=reason, expected_etag=ours.etag, previous=before.previous
    )
    registry.publish(before.version, environment, actor=actor, reason=reason)
    return before.version


def rollback(
    config: Config,
    environment: str,
    to: str | None,
    *,
    ctx: GitHubContext,
    env: Mapping[str, str],
    reason: str = "",
) -> DeployResult:
    """Put the previous (or a named) version back into `environment`, published and smoke-tested."""
    from mlci.references import open_registry

    registry = open_registry(config)
    current = registry.alias(environment)
    if to is None:
        if current is None or not current.previous:
            raise NotFoundError(
                f"nothing to roll back to: environment '{environment}' of {config.model.name} has no previous version",
                hint="name one with --to VERSION",
            )
        to = current.previous
    why = reason or f"rollback from {current.version if current else 'nothing'}"
    return deploy(config, to, environment, ctx=ctx, env=env, reason=why, action="rollback")
