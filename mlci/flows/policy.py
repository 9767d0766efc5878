"""May this version move to that environment? The one place that decides, and the record of each move.

Every path that moves `staging`, `production` or another configured environment goes through
`clear`: `mlci promote` (and `promote --from-pr`), `mlci push --alias`, deploy and rollback, and
the scheduled retrain's promotion. With a signing policy, the version must carry a signature
the policy accepts; a version whose check failed moves only when the caller allows it (and
the event log says so). Each move of an environment is recorded as a GitHub deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlci._internal.models import Result
from mlci.errors import PolicyRefused, ServiceError

if TYPE_CHECKING:
    from mlci.config.schema import Config
    from mlci.contracts.document import ReportDocument
    from mlci.github.client import GitHubClient
    from mlci.github.context import GitHubContext
    from mlci.registry.registry import Registry
    from mlci.signing.verify import PullRecord, Verification


class StoredVerdict(Result):
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


def last_verdict(registry: Registry, version: str | None = None, *, alias: str | None = None) -> StoredVerdict | None:
    """Return what the latest check (or scheduled retrain) that stored `version` (or ran under `alias`) found.

    A check the data stopped stores no version; its event names only the alias. Events written
    by an older mlci carry only the verdict; their failure names no stage.
    """
    from mlci.contracts.events import CheckEvent, RetrainEvent

    for event in reversed(registry.events()):
        if not isinstance(event, CheckEvent | RetrainEvent):
            continue
        if (version is not None and event.version == version) or (alias is not None and event.alias == alias):
            found = event.extra
            return StoredVerdict(
                verdict=found.verdict, headline=found.headline, failed_stages=list(found.failed_stages)
            )
    return None


@dataclass(frozen=True)
class Clearance:
    """Why a version may move: the signature that verified and the verdict that was read."""

    version: str
    target: str
    verification: Verification | None  # None: no signing policy
    verdict: StoredVerdict | None  # the one decided in this job, else the last stored; None: never checked
    overridden: str | None = None  # why it moves although its check failed (allow_failed)


def clear(
    config: Config,
    registry: Registry,
    version: str,
    target: str,
    *,
    allow_failed: bool = False,
    verdict: StoredVerdict | None = None,
    pr: PullRecord | None = None,
    action: str = "promote",
) -> Clearance:
    """Return the clearance of `version` to move to `target`; SignatureRefused or PolicyRefused when it may not.

    `verdict` is one this job decided itself (promote --from-pr and retrain evaluate here);
    without it the version's last stored check verdict is read. `pr` additionally requires the
    signature to bind the version to that pull request.
    """
    from mlci.signing.verify import require_signed

    verified = require_signed(config, registry, version, pr=pr)  # before anything moves
    fresh = verdict is not None
    stored = verdict if verdict is not None else last_verdict(registry, version)
    overridden = None
    if stored is not None and stored.verdict == "fail":
        if not allow_failed:
            when = "when re-evaluated against production in this job" if fresh else "at its last check"
            raise PolicyRefused(
                f"version {version} {stored.failure(when)}; not {_verb(action)} it to '{target}'",
                hint=f"pass --allow-failed to {action} it anyway (recorded in the event log)",
            )
        overridden = f"--allow-failed: its check had failed: {', '.join(stored.failed_stages) or 'see the event log'}"
    return Clearance(version=version, target=target, verification=verified, verdict=stored, overridden=overridden)


def _verb(action: str) -> str:
    return {"deploy": "deploying", "promote": "promoting"}.get(action, f"{action}ing")


class Deployments:
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


def record_move(
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
    tracker = Deployments(ctx, notes)
    tracker.start(environment, model, version, description)
    tracker.finish(environment, tracker.id is not None, description)
    return notes
