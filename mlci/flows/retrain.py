"""drift and retrain: the scheduled loop that keeps a deployed model honest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.errors import ConfigError, NotFoundError, ServiceError

if TYPE_CHECKING:
    import pandas as pd

    from mlci.config.schema import Config, SplitSection, TableSource
    from mlci.contracts.document import ReportDocument
    from mlci.contracts.drift import DriftReport
    from mlci.data.engines import EngineTable
    from mlci.flows.pipeline import Run
    from mlci.github.client import GitHubClient
    from mlci.github.context import GitHubContext
    from mlci.modeling.bundle import Bundle
    from mlci.registry.registry import Registry
    from mlci.report.reporters import Delivery


def fresh_data_uri(config: Config, template: str | None = None, now: datetime | None = None) -> str:
    """Return retrain.data (or `template`) with {date} and {yesterday} filled in (UTC)."""
    template = template or (config.retrain.data if isinstance(config.retrain.data, str) else None)
    if not template:
        raise ConfigError(
            f"{config.path}: retrain.data is not set", hint="name the fresh table, e.g. data/{yesterday}.parquet"
        )
    now = now or datetime.now(timezone.utc)
    try:
        uri = template.format(date=now.date().isoformat(), yesterday=(now - timedelta(days=1)).date().isoformat())
    except (KeyError, IndexError, ValueError) as e:
        raise ConfigError(
            f"retrain.data '{template}': unknown placeholder {e}; use {{date}} or {{yesterday}}"
        ) from None
    return uri if uri.startswith("s3://") else config.locate(uri)


def production_bundle(config: Config, registry: Registry) -> Bundle | None:
    """Return the production bundle, or None when nothing is in production yet."""
    from mlci.registry.references import bundle_of

    if registry.alias("production") is None:
        return None
    return bundle_of(config, registry, "production")


def measure_drift(config: Config, bundle: Bundle, frame: pd.DataFrame) -> DriftReport:
    """Return the drift of `frame` against the bundle's reference profile, with prediction drift."""
    from mlci.modeling.sandbox import sandbox_of, score
    from mlci.modeling.training import score_of
    from mlci.stats.drift import compare_profile

    profile = bundle.profile()
    if profile is None:
        raise NotFoundError(f"version {bundle.version} has no profile.json to measure drift against (retrain it)")
    predictions = None
    features = list(bundle.manifest.features or [])
    if all(f in frame.columns for f in features):
        predictions = score_of(score(bundle, frame[features], sandbox_of(config)))
    # compare_profile names a missing column itself (unless drift.ignore lists it).
    return compare_profile(profile, frame, config.drift, predictions=predictions)


def measure_drift_in_engine(config: Config, bundle: Bundle, table: EngineTable) -> DriftReport:
    """Return the drift of an engine table against the bundle's profile, counted by aggregate queries there.

    Prediction drift needs the model to score rows, so it is measured on the deterministic
    sample (`data.sample_rows`) when one is configured, and left out otherwise.
    """
    from mlci.modeling.sandbox import sandbox_of, score
    from mlci.modeling.training import score_of
    from mlci.stats.drift import PREDICTION, compare_observed, observe_predictions, profile_columns

    profile = bundle.profile()
    if profile is None:
        raise NotFoundError(f"version {bundle.version} has no profile.json to measure drift against (retrain it)")
    rows, observed = table.observe(profile_columns(profile, config.drift))
    entry = profile.predictions
    if entry is not None and PREDICTION not in config.drift.ignore and config.data.sample_rows is not None:
        features = list(bundle.manifest.features or [])
        frame = table.sample(config.data.id, config.data.sample_rows)
        if all(f in frame.columns for f in features):
            predictions = score_of(score(bundle, frame[features], sandbox_of(config)))
            observed[PREDICTION] = observe_predictions(entry, predictions)
    return compare_observed(profile, observed, rows, config.drift)


def fresh_source(config: Config, current: TableSource | None = None, now: datetime | None = None) -> TableSource:
    """Return the fresh table: `current` from the command line (a path or a mapping), else retrain.data."""
    from mlci.data.engines import parse_source

    if current is not None:
        return parse_source(current)
    if config.retrain.data is not None and not isinstance(config.retrain.data, str):
        return config.retrain.data
    return fresh_data_uri(config, now=now)


def _fresh_confinement(config: Config, current: TableSource | None) -> Path | None:
    """Return where the fresh table's local path must lead (`mlci.data.confinement` of the path as written)."""
    from mlci.data.tables import confinement

    written = current if current is not None else config.retrain.data
    return confinement(config, written if isinstance(written, str) else "")


@dataclass
class DriftResult:
    """The drift of a fresh table against the production version's reference profile."""

    table: str
    production: str
    report: DriftReport
    exported: list[str] = field(default_factory=list)  # where its OpenMetrics went


def drift(config: Config, registry: Registry, current: TableSource | None = None) -> DriftResult:
    """Return the drift of a fresh table (default: retrain.data, a path or an engine table) against production."""
    from mlci.data.engines import open_table
    from mlci.data.tables import read_table, s3_options

    source = fresh_source(config, current)
    bundle = production_bundle(config, registry)
    if bundle is None:
        raise NotFoundError(
            f"model '{config.model.name}' has nothing in production to measure drift against",
            hint="deploy a version first: mlci deploy REF --env production",
        )
    if not isinstance(source, str):
        engine = open_table(source, field="--current" if current is not None else "retrain.data")
        report = measure_drift_in_engine(config, bundle, engine)
        return DriftResult(table=engine.label, production=bundle.version, report=report)
    table = read_table(
        source,
        s3_options=s3_options(config),
        options=config.data.read_options,
        confined_to=_fresh_confinement(config, current),
    )
    return DriftResult(table=table.uri, production=bundle.version, report=measure_drift(config, bundle, table.frame))


# --- the scheduled job --------------------------------------------------------------------


@dataclass
class RetrainResult:
    """What the scheduled job found and did; `document` holds its verdict, stages and report."""

    data: str
    document: ReportDocument
    version: str | None  # None: the fresh data broke its expectations and nothing was trained
    alias: str
    promoted: str | None
    report_path: str
    refused: str | None = None  # why the release policy refused to promote the candidate
    aliases: dict[str, str] = field(default_factory=dict)
    issue_url: str | None = None
    issue_action: str | None = None
    # Why the tracking issue could not be updated (the run's own results stand regardless).
    issue_error: str | None = None
    comment_url: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """Return the candidate's overall verdict (pass, fail or bootstrap)."""
        return self.document.verdict

    @property
    def drift(self) -> str:
        """Return the drift status against production (ok, warn, fail), or none without production."""
        return self.document.drift.status if self.document.drift is not None else "none"

    def raise_for_outcome(self) -> None:
        """Raise what went wrong once every output of the run is written: the data, the policy, or GitHub."""
        from mlci.errors import ExpectationsFailed, PolicyRefused, ServiceError

        data = self.document.stage("data validation")
        if data is not None and data.status == "fail":
            raise ExpectationsFailed(f"the fresh data broke its expectations ({data.summary}); nothing was promoted")
        if self.refused:
            raise PolicyRefused(self.refused)
        if self.issue_error:
            raise ServiceError(
                f"{self.issue_error}; the run itself finished: version {self.version}, "
                f"promoted: {self.promoted or 'no'} (outputs, report and step summary are written)"
            )


def retrain(
    config: Config,
    registry: Registry,
    ctx: GitHubContext,
    *,
    webhook_secret: str = "",
    now: datetime | None = None,
    output_dir: Path | None = None,
) -> RetrainResult:
    """Validate fresh data, measure drift, retrain, compare with production, store, maybe promote, report.

    One run of the pipeline (mlci.flows.pipeline) on the fresh table split by retrain.holdout,
    stored as retrain-<date>. `retrain.promote` moves staging through the release policy
    (signature, deployment record), or deploys to production; `webhook_secret` signs that
    deploy's notice. comparison.json and the report are written to `output_dir` (default:
    here), as `mlci check` writes them. `ctx` is the Actions run (actor, tracking issue).
    """
    from mlci.contracts.document import Sample
    from mlci.contracts.events import RetrainDetails
    from mlci.data.engines import frame_fingerprint, open_table
    from mlci.data.tables import Datasets, feature_columns, read_table, require_columns, s3_options, split_table
    from mlci.flows.pipeline import run
    from mlci.report.reporters import write_files

    now = now or datetime.now(timezone.utc)
    source = fresh_source(config, now=now)
    production = production_bundle(config, registry)
    engines: dict[str, EngineTable] = {}
    sample = None
    if isinstance(source, str):
        table = read_table(
            source,
            s3_options=s3_options(config),
            options=config.data.read_options,
            confined_to=_fresh_confinement(config, None),
        )
        uri, frame, fingerprint = table.uri, table.frame, table.sha256
        drift_report = measure_drift(config, production, frame) if production is not None else None
    else:
        # Validation and drift see the whole table in its engine; training its deterministic sample.
        engine = open_table(source, field="retrain.data")
        frame = engine.sample(config.data.id, config.data.sample_rows)
        uri, fingerprint = engine.label, frame_fingerprint(frame, engine.label)
        engines["table"] = engine
        sample = Sample(rows=config.data.sample_rows, id=config.data.id, pulled={"table": len(frame)})
        drift_report = measure_drift_in_engine(config, production, engine) if production is not None else None
    require_columns(frame, [config.target], uri=uri, field="data.target")

    # Same split rule as a one-table config, with the holdout share of retrain.holdout.
    train, test = split_table(frame, config, _split(config))
    features = feature_columns(config, train)
    fingerprints = {"table": fingerprint, "split": f"holdout={config.retrain.holdout}"}
    datasets = Datasets.of(
        train,
        test,
        config.target,
        features,
        fingerprints,
        {"train": uri, "test": uri},
        engines=engines,
        sample=sample,
    )
    date = now.date().isoformat()
    alias = f"retrain-{date}"
    drift_status = drift_report.status if drift_report else "none"
    outcome = run(
        config,
        registry,
        datasets,
        ctx,
        alias=alias,
        drift=drift_report,
        details=lambda document: RetrainDetails.of(document, drift=drift_status, data=uri),
        tables=["train", "test"],
    )
    document = outcome.document
    promoted, notes, refused = _promote(config, registry, ctx, outcome, date, webhook_secret)
    _, report_path = write_files(config, document, output_dir)
    result = RetrainResult(
        data=uri,
        document=document,
        version=outcome.push.version if outcome.push is not None else None,
        alias=alias,
        promoted=promoted,
        report_path=str(report_path),
        notes=notes,
        refused=refused,
    )
    for name in ("staging", "production"):
        record = registry.alias(name)
        if record is not None:
            result.aliases[name] = record.version
    _track(config, result, ctx, date)
    return result


def _promote(
    config: Config, registry: Registry, ctx: GitHubContext, outcome: Run, date: str, webhook_secret: str
) -> tuple[str | None, list[str], str | None]:
    """Move retrain.promote to the stored candidate when its verdict allows; return (moved alias, notes, refusal).

    The move goes through the release policy like every other: staging by `promote` (signature,
    deployment record), production by a smoke-tested deploy. The policy's refusal is returned,
    not raised, so the run's report, outputs and tracking issue still say what it found.
    """
    from mlci.errors import CheckFailed
    from mlci.flows.deploy import deploy
    from mlci.flows.policy import StoredVerdict
    from mlci.flows.release import promote

    target = config.retrain.promote
    document = outcome.document
    if target == "none":
        return None, [], None
    if outcome.push is None or document.verdict not in ("pass", "bootstrap"):
        why = f"the candidate's verdict is {document.verdict} ({document.headline})"
        return None, [f"not promoting to {target}: {why}"], None
    version = outcome.push.version
    current = registry.alias(target)
    if current is not None and current.version == version:
        return None, [], None
    reason = f"retrain {date}: gates {document.verdict}"
    try:
        if target == "production":
            deployed = deploy(
                config, registry, version, "production", ctx=ctx, webhook_secret=webhook_secret, reason=reason
            )
            return target, deployed.notes, None
        moved = promote(config, registry, version, target, reason=reason, ctx=ctx, verdict=StoredVerdict.of(document))
        return target, moved.notes, None
    except CheckFailed as e:
        return None, [], f"not promoting {version} to {target}: {e.message}"


def _split(config: Config) -> SplitSection:
    from mlci.config.schema import SplitSection

    return SplitSection(test_size=config.retrain.holdout, stratify=True, seed=config.model.random_state)


def _track(config: Config, result: RetrainResult, ctx: GitHubContext, date: str) -> None:
    """Keep one GitHub issue per model current (mlci.report.reporters.TrackingIssue); note why when it cannot."""
    from mlci.report.reporters import TrackingIssue

    def deliver(client: GitHubClient) -> Delivery:
        return TrackingIssue(
            config,
            ctx,
            client,
            data=result.data,
            version=result.version,
            alias=result.alias,
            aliases=result.aliases,
            promoted=result.promoted,
            date=date,
        ).report(result.document)

    issue, result.issue_error = tracked(ctx, deliver, result.notes)
    if issue is not None:
        result.issue_url, result.issue_action = issue.where, issue.action
        result.comment_url = issue.follow_up


def tracked(
    ctx: GitHubContext, deliver: Callable[[GitHubClient], Delivery], notes: list[str]
) -> tuple[Delivery | None, str | None]:
    """Return what `deliver` did to a tracking issue and why it could not (the run's own results stand regardless).

    Without a token or a repository nothing is tried: `notes` says so.
    """
    from mlci.github.client import GitHubClient

    if not (ctx.token and ctx.repository):
        notes.append("no GitHub token or repository: no tracking issue updated")
        return None, None
    try:
        with GitHubClient.from_context(ctx) as client:
            return deliver(client), None
    except ServiceError as e:
        # The run may have promoted: its outputs, report and summary must still be written.
        lacks = getattr(e, "permission", None)
        why = f" (the token lacks `{lacks}`)" if lacks else ""
        return None, f"could not update the tracking issue{why}: {e}"
