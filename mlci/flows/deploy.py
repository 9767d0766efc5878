"""deploy and rollback: move a model into an environment without ever losing one.

A deploy first verifies the version (sha256(model) == manifest == version id; only trusted
types), copies its files to a release of its own, deployments/<env>/releases/<id>-<rand>/
(leased while the deploy runs, so no other deploy's prune deletes it), smoke-tests that
copy (download, sha256, load with trusted types, predict the sample rows kept with the version,
which must give the predictions recorded at training), marks it smoke-tested, moves the
environment's alias (compare-and-swap) and only then switches the pointer
deployments/<env>/CURRENT.json a serving system reads. Any failure or SIGINT/SIGTERM puts alias
and pointer back; a SIGKILL leaves both on smoke-tested versions, which the next deploy or
rollback reconciles (see `deploy`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from mlci._internal.models import Result
from mlci.contracts.events import DeployDetails, DeployEvent, RollbackEvent
from mlci.errors import CheckFailed, ConfigError, MlciError, ModelError, NotFoundError, ServiceError

if TYPE_CHECKING:
    from mlci.config.schema import Config
    from mlci.github.context import GitHubContext
    from mlci.registry.registry import AliasRecord, Registry

SMOKE_ATOL = 1e-6  # predictions may differ in the last bits across BLAS builds, not more


class DeployResult(Result):
    """What a deploy or rollback did."""

    environment: str
    version: str
    previous: str | None
    uri: str
    ok: bool
    rolled_back: bool = False
    reason: str = ""
    deployment_id: int | None = None
    card: str | None = None  # sha256 of the model card that went live (None: the version has none)
    notes: list[str] = Field(default_factory=list)


# --- smoke test ---------------------------------------------------------------------------


def smoke_test(config: Config, registry: Registry, env: str, version: str, *, release: str) -> None:
    """Raise CheckFailed unless `release`, staged in `env`, is `version` and predicts as recorded."""
    import numpy as np
    import pandas as pd

    from mlci.errors import ScoringFailed
    from mlci.modeling.bundle import SMOKE, UntrustedTypes, open_bundle
    from mlci.modeling.sandbox import sandbox_of, score
    from mlci.modeling.training import score_of

    with tempfile.TemporaryDirectory(prefix="mlci-smoke-") as tmp:
        try:
            path = registry.fetch_release(env, release, Path(tmp))
            bundle = open_bundle(path, expect=version)
            # The deploying job's model.format decides, never the version's own manifest (anyone's).
            if config.model.format == "results":  # the command runs on the smoke rows
                from mlci.flows.results import smoke_results

                smoke_results(config, bundle, f"smoke test of {version} in {env}")
                return
            smoke_path = bundle.path / SMOKE
            if not smoke_path.exists():
                raise CheckFailed(f"version {version} has no {SMOKE} (sample rows) to smoke-test with")
            rows = pd.read_parquet(smoke_path)
            expected = rows.pop("__mlci_prediction__").to_numpy(dtype="float64")
            features = list(bundle.manifest.features or rows.columns)
            # In a contained process: a model that crashes, hangs or eats the runner fails the
            # smoke test (and the deploy is undone) instead of taking the job down with it.
            got = np.asarray(score_of(score(bundle, rows[features], sandbox_of(config))), dtype="float64")
        except (CheckFailed, UntrustedTypes, ServiceError):
            raise
        except ScoringFailed as e:  # the model's own error as before; else what stopped it, once named
            what = e.raised or str(e).removeprefix(f"version {version}: ")
            raise CheckFailed(f"smoke test of {version} in {env}: {what}") from e
        except MlciError as e:
            raise CheckFailed(f"smoke test of {version} in {env}: {e}") from e
        except Exception as e:  # a model that cannot load or predict fails the smoke test
            raise CheckFailed(f"smoke test of {version} in {env}: {type(e).__name__}: {e}") from e
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=0, atol=SMOKE_ATOL, equal_nan=True):
        worst = float(np.nanmax(np.abs(got - expected))) if got.shape == expected.shape else float("nan")
        raise CheckFailed(
            f"smoke test of {version} in {env}: predictions on {len(expected)} sample rows differ from those "
            f"recorded at training (max difference {worst:.3g})"
        )


# --- webhook ------------------------------------------------------------------------------


def notify_webhook(config: Config, notice: dict[str, Any], secret: str, *, attempts: int = 3) -> None:
    """POST the deploy notice, signed with `secret` (HMAC-SHA256), to deploy.webhook; ServiceError after retries."""
    import requests

    url = config.deploy.webhook
    if not url:
        return
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
            last = type(e).__name__  # never str(e): it repeats the URL with its credentials
        time.sleep(min(0.5 * 2**attempt, 4.0))
    from mlci._internal.redaction import redact

    raise ServiceError(redact(f"deploy.webhook {url} failed after {attempt + 1} attempt(s): {last}"))


# --- deploy and rollback ------------------------------------------------------------------


class _Interrupted(BaseException):
    """SIGINT or SIGTERM arrived during a deploy (a BaseException: no `except Exception` may swallow it)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


class _Signals:
    """While a deploy runs, SIGINT/SIGTERM raise _Interrupted; while it restores, they wait.

    A restore that a second Ctrl-C could cut short would be the very half-state it exists to
    prevent. SIGKILL cannot be caught: the publish order (module docstring) covers it.

    Python discards an exception raised where it cannot propagate (a `__del__`, such as
    ZipFile's, or a weakref callback) and prints "Exception ignored ... Traceback". So the
    signal is also recorded: `checkpoint()` between the deploy's steps raises it again if it
    was swallowed, and the unraisable hook keeps that swallowed copy off stderr.
    """

    def __init__(self) -> None:
        self.holding = False
        self.pending: int | None = None
        self.received: int | None = None  # the first signal that interrupted the deploy
        self._old: dict[int, Any] = {}
        self._hook: Any = None

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
            self._hook = sys.unraisablehook
            sys.unraisablehook = self._unraisable
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        if self._hook is not None:
            sys.unraisablehook = self._hook

    def _unraisable(self, unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, _Interrupted):  # ours is recorded: checkpoint() raises it
            self._hook(unraisable)

    def checkpoint(self) -> None:
        """Raise the signal received during the last step if its exception was swallowed on the way."""
        if self.received is not None:
            raise _Interrupted(self.received)

    def _handle(self, signum: int, frame: object) -> None:
        if self.holding:
            self.pending = self.pending or signum
            return
        self.received = self.received or signum
        raise _Interrupted(signum)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.holding = True
        try:
            yield
        finally:
            self.holding = False


def check_trusted(config: Config, registry: Registry, version: str) -> None:
    """Fetch `version`, check sha256(model) == manifest == id and that it holds only trusted types.

    Runs before anything moves, and loads nothing: a model with an untrusted type never runs.
    """
    from mlci.modeling.bundle import open_bundle
    from mlci.modeling.formats import format_of

    with tempfile.TemporaryDirectory(prefix="mlci-verify-") as tmp:
        bundle = open_bundle(registry.fetch(version, Path(tmp)), expect=version)
        # The deploying job's model.format decides whether a version must be results or a model,
        # never the version's own manifest; a model's format then picks its (load-free) checks.
        results = bundle.manifest.model_format == "results"
        if (config.model.format == "results") != results:
            said = "a `format: results` version" if results else "a model"
            raise ModelError(f"version {version} is {said}; model.format is {config.model.format}")
        if results:
            return  # artifacts are data mlci never loads; open_bundle checked every file's hash
        fmt = format_of(bundle.manifest)
        where = Path(registry.store.url(registry.version_key(version, fmt.filename)))
        fmt.check(bundle, where, tuple(config.model.trusted_types), config.model.max_model_mb)


def reconcile(registry: Registry, env: str, *, actor: str) -> str | None:
    """Make the published pointer of `env` agree with its alias again; return a note when it had to.

    They disagree after a deploy was killed (SIGKILL, a lost runner) between moving the alias
    and switching the pointer, or while restoring, and for a moment while another deploy does
    both. The alias is the authority when the release it names passed its smoke test in `env`;
    otherwise the pointer is left alone. When the pointer changes while this reconciles,
    whoever changed it is publishing now and the pointer is left to them.
    """
    from mlci.errors import ConflictError

    alias = registry.alias(env)
    pointer, etag = registry.pointer(env)
    target = alias.version if alias else None
    if pointer == target:
        return None
    try:
        if target is None:
            registry.switch(env, None, expected_etag=etag, actor=actor, reason="reconcile: the alias is unset")
            return f"{env}: unpublished {pointer}, left over from an interrupted deploy (the alias is unset)"
        release = registry.smoked_release(target, env)
        if release is not None:
            registry.switch(env, release, expected_etag=etag, actor=actor, reason="reconcile with the alias")
            return (
                f"{env}: published {target} to match its alias (an earlier deploy was interrupted before publishing it)"
            )
    except ConflictError:
        return None
    return (
        f"warning: alias '{env}' names {target}, which was never smoke-tested in {env}; "
        f"the published copy stays {pointer or 'empty'} until `mlci deploy {target} --env {env}`"
    )


def deploy(
    config: Config,
    registry: Registry,
    ref: str,
    environment: str,
    *,
    ctx: GitHubContext,
    webhook_secret: str = "",
    reason: str = "",
    action: Literal["deploy", "rollback"] = "deploy",
    allow_failed: bool = False,
) -> DeployResult:
    """Publish the version REF names to `environment`, smoke-test it, then move the alias; undo on any failure.

    Order (each step only after the one before it succeeded):
      1. verify: sha256(model) == manifest == version id, and only trusted types (nothing runs yet);
      2. stage the files at a new, leased release deployments/<env>/releases/<id>-<rand>/ and
         smoke-test that copy;
      3. move the alias (compare-and-swap: exit 3 if it moved since it was read);
      4. switch the pointer deployments/<env>/CURRENT.json (compare-and-swap), re-read the alias.
    Only then are old releases pruned, and only while the alias still holds what step 3 wrote.
    Any failure or SIGINT/SIGTERM after step 2 puts alias and pointer back as they were. A SIGKILL
    can only leave alias and pointer on two versions that both passed their smoke test in
    `env`; the next deploy or rollback reconciles them before doing anything else.

    `ctx` is the Actions run (the actor, the GitHub deployment record); `webhook_secret` signs
    the notice to deploy.webhook. Whether the version may move at all is the release policy's
    (mlci.flows.policy): a signature the policy accepts, and a check that did not fail unless
    `allow_failed` (a rollback goes back to what served before, whatever its check said).
    """
    from mlci.flows.policy import Deployments, clear
    from mlci.modeling.sandbox import warm_up
    from mlci.registry.references import actor as actor_of
    from mlci.signing.verify import provenance_notes, provenance_payload

    actor = actor_of(ctx)
    if environment not in config.environments:
        known = ", ".join(config.environments)
        raise ConfigError(f"unknown environment '{environment}' (environments in mlci.yaml: {known})")
    # The smoke test scores in a contained process: its fork server starts beside the checks below.
    warm_up(config.model.format)
    notes: list[str] = []
    if note := reconcile(registry, environment, actor=actor):
        notes.append(note)
    version = registry.version_of(ref)
    # A rollback goes back to what served before, whatever its check said; the signature still counts.
    clearance = clear(
        config, registry, version, environment, allow_failed=allow_failed or action == "rollback", action=action
    )
    verified = clearance.verification
    notes += provenance_notes(verified)
    why = reason or f"{action} {ref}"
    if clearance.overridden and action == "deploy":
        why += f" ({clearance.overridden})"
    check_trusted(config, registry, version)
    before = registry.alias(environment)
    before_release, _ = registry.pointer_release(environment)
    previous = before.version if before else None
    github = Deployments(ctx, notes)
    description = f"{action} {config.model.name} {version}"
    github.start(environment, config.model.name, version, description, provenance_payload(verified))
    uri = registry.store.url(f"{config.model.name}/deployments/{environment}/")
    release: str | None = None
    with _Signals() as signals:
        try:
            # A release of this deploy's own, leased first: no other deploy uses or prunes it.
            release = registry.take_lease(version, environment, actor=actor)
            registry.stage(version, environment, release)
            signals.checkpoint()
            smoke_test(config, registry, environment, version, release=release)
            signals.checkpoint()
            registry.mark_smoked(environment, release, actor=actor)
            signals.checkpoint()
            moved = registry.set_alias(
                environment, version, actor=actor, reason=why, expected_etag=before.etag if before else None
            )
            signals.checkpoint()
            _publish(registry, environment, release, moved, actor=actor, reason=why)
            signals.checkpoint()
            after = registry.alias(environment)
            if after is None or after.version != version:
                raise _superseded(registry, environment, version, after)
            notice = {
                "model": config.model.name,
                "environment": environment,
                "version": version,
                "previous": previous,
                "sha256": registry.manifest(version).sha256,
                "card": _card_of(registry, version),
                "uri": uri,
                "version_uri": registry.store.url(f"{config.model.name}/versions/{version}/"),
            }
            try:
                notify_webhook(config, notice, webhook_secret)
            except ServiceError as e:
                if config.deploy.webhook_required:
                    raise CheckFailed(f"{e} (deploy.webhook_required)") from e
                notes.append(f"warning: {e}")
            signals.checkpoint()
        except BaseException as failure:
            if signals.received is not None and not isinstance(failure, _Interrupted):
                # The signal's exception was replaced while unwinding (a library's cleanup of the
                # socket or file it interrupted raised, e.g. EBADF): it is still an interrupt.
                failure = _Interrupted(signals.received)
            with signals.held():
                restored, trouble = _undo(
                    registry, environment, version, release, before, before_release, actor, failure, action
                )
                _drop_lease(registry, environment, release)
                github.finish(environment, False, f"{version} failed: {restored or 'nothing'} is live")
            raise _failed(config.model.name, action, version, environment, failure, restored, trouble) from (
                failure if isinstance(failure, Exception) else None
            )
    # Pruned under the compare-and-swap that moved the alias, from what is stored after the
    # move: nothing is deleted once someone else has moved the alias (the losers of a race
    # never get here). Old releases are garbage, not state: a failed prune loses nothing.
    with contextlib.suppress(MlciError):
        registry.prune_releases(environment, alias_etag=moved.etag)
    _drop_lease(registry, environment, release)
    card = _card_of(registry, version)
    registry.log_event(_finished(action, actor, environment, version, previous, DeployDetails(result="ok", card=card)))
    github.finish(environment, True, f"{config.model.name} {version} is live in {environment}")
    return DeployResult(
        environment=environment,
        version=version,
        previous=previous,
        uri=uri,
        ok=True,
        card=card,
        deployment_id=github.id,
        notes=notes,
    )


def _card_of(registry: Registry, version: str) -> str | None:
    """Return the sha256 of the model card stored with `version` (as its manifest lists it), or None."""
    from mlci.modeling.bundle import CARD

    return (registry.manifest(version).files or {}).get(CARD)


def _superseded(registry: Registry, env: str, version: str, now: AliasRecord | None) -> MlciError:
    from mlci.errors import ConflictError

    return ConflictError(
        f"alias '{env}' of model '{registry.model}' moved to {now.version if now else 'nothing'} "
        f"while mlci was deploying {version}; re-run"
    )


def _publish(registry: Registry, env: str, release: str, moved: AliasRecord, *, actor: str, reason: str) -> None:
    """Switch the pointer of `env` to `release` while the alias holds what this deploy wrote; ConflictError once not.

    The alias's compare-and-swap decided who publishes: the pointer is switched from whatever
    it holds now (another deploy, superseded since, may have switched it after this one read
    it), checked against the alias first and compare-and-swapped, so it never goes to a
    release the alias has moved past.
    """
    from mlci.errors import ConflictError
    from mlci.registry.registry import release_version

    for _ in range(5):  # bounded: each retry means another writer switched it in between
        current, etag = registry.pointer_release(env)
        alias = registry.alias(env)
        if alias is None or alias.etag != moved.etag:
            raise _superseded(registry, env, moved.version, alias)
        if current is not None and release_version(current) == moved.version:
            return  # a reconcile published this version for us
        try:
            registry.switch(env, release, expected_etag=etag, actor=actor, reason=reason)
            return
        except ConflictError:
            continue
    raise ConflictError(f"the pointer of '{env}' kept changing while mlci was publishing {release}; re-run")


def _drop_lease(registry: Registry, env: str, release: str | None) -> None:
    """End this deploy's lease; one left behind (the store failed) lapses after LEASE_SECONDS."""
    if release is not None:
        with contextlib.suppress(MlciError):
            registry.drop_lease(env, release)


def _undo(
    registry: Registry,
    env: str,
    version: str,
    release: str | None,
    before: AliasRecord | None,
    before_release: str | None,
    actor: str,
    failure: BaseException,
    action: Literal["deploy", "rollback"],
) -> tuple[str | None, str | None]:
    """Put alias and pointer back where they were if they now name this deploy; return (live version, trouble).

    Nothing is pruned here: what this deploy read before it failed may be stale (another deploy
    may have moved the alias since), and its own release is left to the next deploy's prune.
    """
    what = (
        f"SIGNAL {failure}"
        if isinstance(failure, _Interrupted)
        else (getattr(failure, "message", None) or repr(failure))
    )
    reason = f"automatic rollback: {what}"[:500]
    try:
        # Judged by what is stored now, not by how far this process thinks it got: a signal
        # can land after a write reached the store but before its answer reached us.
        current = registry.alias(env)
        if current is not None and current.version == version and (before is None or before.version != version):
            if before is None:
                registry.delete_alias(env, expected_etag=current.etag, actor=actor, reason=reason)
            else:
                registry.set_alias(
                    env,
                    before.version,
                    actor=actor,
                    reason=reason,
                    expected_etag=current.etag,
                    previous=before.previous,
                )
        pointer, etag = registry.pointer_release(env)
        if release is not None and pointer == release:
            # Superseded by a later deploy: forward to its release, never back past it.
            now = registry.alias(env)
            forward = None
            if now is not None and now.version not in (version, before.version if before else None):
                forward = registry.smoked_release(now.version, env)
            registry.switch(env, forward or before_release, expected_etag=etag, actor=actor, reason=reason)
        reconcile(registry, env, actor=actor)
        live = registry.pointer(env)[0]
        previous = before.version if before else None
        details = DeployDetails(result="rolled back")
        registry.log_event(_finished(action, actor, env, version, previous, details, reason=reason))
        return live, None
    except MlciError as e:
        return before.version if before else None, str(e)


def _finished(
    action: Literal["deploy", "rollback"],
    actor: str,
    env: str,
    version: str,
    previous: str | None,
    details: DeployDetails,
    *,
    reason: str | None = None,
) -> DeployEvent | RollbackEvent:
    """Return the event that records how a deploy or rollback of `version` to `env` ended."""
    kind = DeployEvent if action == "deploy" else RollbackEvent
    return kind(actor=actor, env=env, version=version, previous=previous, reason=reason, extra=details)


def _failed(
    model: str,
    action: str,
    version: str,
    env: str,
    failure: BaseException,
    restored: str | None,
    trouble: str | None,
) -> MlciError:
    """Return the one error the user sees for a failed deploy: what failed, and what is live now."""
    from mlci.errors import ConflictError, DeployFailed, Interrupted

    cause: BaseException = failure
    if isinstance(failure, _Interrupted):
        what = f"interrupted by {failure}"
        cause = Interrupted(what, failure.signum)
    elif isinstance(failure, KeyboardInterrupt):
        what = "interrupted"
        cause = Interrupted(what, signal.SIGINT)
    elif isinstance(failure, MlciError):
        what = failure.message
    else:
        what = f"{type(failure).__name__}: {failure}"
    if isinstance(failure, ConflictError) and trouble is None:
        return DeployFailed(
            f"{action} of {model} {version} to {env}: {what}; {env} serves {restored or 'nothing'}", cause
        )
    if trouble is not None:
        return DeployFailed(
            f"{action} of {model} {version} to {env} failed: {what}; the automatic rollback could not finish "
            f"({trouble})",
            cause,
            hint="the published copy still serves a smoke-tested version; the next deploy or rollback reconciles it",
        )
    return DeployFailed(
        f"{action} of {model} {version} to {env} failed: {what}; rolled back: {env} is {restored or 'unset'} again",
        cause,
    )


def rollback(
    config: Config,
    registry: Registry,
    environment: str,
    to: str | None,
    *,
    ctx: GitHubContext,
    webhook_secret: str = "",
    reason: str = "",
) -> DeployResult:
    """Put the previous (or a named) version back into `environment`, published and smoke-tested.

    A rollback goes back to what served before, so it does not ask how that version's check went.
    """
    from mlci.registry.references import actor as actor_of

    reconcile(registry, environment, actor=actor_of(ctx))
    current = registry.alias(environment)
    if to is None:
        if current is None or not current.previous:
            raise NotFoundError(
                f"nothing to roll back to: environment '{environment}' of {config.model.name} has no previous version",
                hint="name one with --to VERSION",
            )
        to = current.previous
    why = reason or f"rollback from {current.version if current else 'nothing'}"
    return deploy(
        config,
        registry,
        to,
        environment,
        ctx=ctx,
        webhook_secret=webhook_secret,
        reason=why,
        action="rollback",
        allow_failed=True,
    )
