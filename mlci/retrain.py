"""drift and retrain: the scheduled loop that keeps a deployed model honest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.errors import ConfigError, NotFoundError, ServiceError

if TYPE_CHECKING:
    import pandas as pd

    from mlci.artifacts import Bundle
    from mlci.config import Config, SplitSection, TableSource
    from mlci.document import ReportDocument
    from mlci.drift import DriftReport
    from mlci.github.context import GitHubContext
    from mlci.registry.registry import Registry
    from mlci.sources import EngineTable

ISSUE_MARKER = "<!-- mlci:retrain:{model} -->"


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
    return uri if uri.startswith("s3://") else config.resolve(uri)


def production_bundle(config: Config, registry: Registry) -> Bundle | None:
    """Return the production bundle, or None when nothing is in production yet."""
    from mlci.references import resolve_bundle

    if registry.alias("production") is None:
        return None
    return resolve_bundle(config, registry, "production")


def measure_drift(config: Config, bundle: Bundle, frame: pd.DataFrame) -> DriftReport:
    """Return the drift of `frame` against the bundle's reference profile, with prediction drift."""
    from mlci.drift import compare_profile
    from mlci.sandbox import sandbox_of, score
    from mlci.training import score_of

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
    from mlci.drift import PREDICTION, compare_observed, observe_predictions, profile_columns
    from mlci.sandbox import sandbox_of, score
    from mlci.training import score_of

    profile = bundle.profile()
    if profile is None:
        raise NotFoundError(f"version {bundle.version} has no profile.json to measure drift against (retrain it)")
    rows, observed = table.observe(profile_columns(profile, config.drift))
    entry = profile.get("predictions")
    if entry is not None and PREDICTION not in config.drift.ignore and config.data.sample_rows is not None:
        features = list(bundle.manifest.features or [])
        frame = table.sample(config.data.id, config.data.sample_rows)
        if all(f in frame.columns for f in features):
            predictions = score_of(score(bundle, frame[features], sandbox_of(config)))
            observed[PREDICTION] = observe_predictions(entry, predictions)
    return compare_observed(profile, observed, rows, config.drift)


def fresh_source(config: Config, current: TableSource | None = None, now: datetime | None = None) -> TableSource:
    """Return the fresh table: `current` from the command line (a path or a mapping), else retrain.data."""
    from mlci.sources import parse_source

    if current is not None:
        return parse_source(current)
    if config.retrain.data is not None and not isinstance(config.retrain.data, str):
        return config.retrain.data
    return fresh_data_uri(config, now=now)


def _fresh_confinement(config: Config, current: TableSource | None) -> Path | None:
    """Return where the fresh table's local path must lead (`mlci.data.confinement` of the path as written)."""
    from mlci.data import confinement

    written = current if current is not None else config.retrain.data
    return confinement(config, written if isinstance(written, str) else "")


@dataclass
class DriftResult:
    """The drift of a fresh table against the production version's reference profile."""

    table: str
    production: str
    report: DriftReport


def drift(config: Config, current: TableSource | None = None) -> DriftResult:
    """Return the drift of a fresh table (default: retrain.data, a path or an engine table) against production."""
    from mlci.data import read_table, s3_options
    from mlci.references import open_registry
    from mlci.sources import open_table

    source = fresh_source(config, current)
    registry = open_registry(config)
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
    version: str
    alias: str
    promoted: str | None
    report_path: str
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


def retrain(
    config: Config,
    *,
    ctx: GitHubContext,
    env: Mapping[str, str],
    now: datetime | None = None,
    output_dir: Path | None = None,
) -> RetrainResult:
    """Validate fresh data, measure drift, retrain, compare with production, store, maybe promote, report.

    `ctx` is the Actions run (actor, tracking issue); `env` the process environment, passed on
    to a deploy for its webhook secret. comparison.json and the report are written to
    `output_dir` (default: here), as `mlci check` writes them.
    """
    from mlci.check import judge, store_candidate, train_candidate, validate_datasets, write_report
    from mlci.data import Datasets, Sample, feature_columns, read_table, require_columns, s3_options, split_table
    from mlci.deploy import deploy
    from mlci.references import actor, baseline_bundle, open_registry
    from mlci.signing import version_signer
    from mlci.sources import frame_fingerprint, open_table

    now = now or datetime.now(timezone.utc)
    source = fresh_source(config, now=now)
    registry = open_registry(config)
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
    require_columns(frame, [config.data.target], uri=uri, field="data.target")

    # Same split rule as a one-table config, with the holdout share of retrain.holdout.
    train, test = split_table(frame, config, _split(config))
    features = feature_columns(config, train)
    fingerprints = {"table": fingerprint, "split": f"holdout={config.retrain.holdout}"}
    datasets = Datasets.of(
        train,
        test,
        config.data.target,
        features,
        fingerprints,
        {"train": uri, "test": uri},
        engines=engines,
        sample=sample,
    )
    validation = validate_datasets(config, datasets, ["train", "test"]) if config.expectations else []

    date = now.date().isoformat()
    alias = f"retrain-{date}"
    candidate = train_candidate(config, datasets, ctx=ctx)
    base = baseline_bundle(config, registry, "production")
    _, document = judge(config, registry, datasets, candidate, validation, base, alias, ctx, drift=drift_report)
    verdict = document.verdict
    who = actor(ctx)
    drift_status = drift_report.status if drift_report else "none"
    signer = version_signer(config, registry, ctx, action="retrain", actor=who)
    pushed = store_candidate(
        registry, candidate, document, actor=who, action="retrain", attach=signer, drift=drift_status, data=uri
    )
    if signer is not None and signer.signed is not None:
        document = document.with_signature(signer.signed)

    promoted = None
    notes: list[str] = []
    target = config.retrain.promote
    if target != "none" and verdict in ("pass", "bootstrap"):
        current = registry.alias(target)
        if current is None or current.version != pushed.version:
            reason = f"retrain {date}: gates {verdict}"
            if target == "production":
                deploy(config, pushed.version, "production", ctx=ctx, env=env, reason=reason)
            else:
                registry.set_alias(target, pushed.version, actor=who, reason=reason)
            promoted = target
    elif target != "none":
        notes.append(f"not promoting to {target}: the candidate's verdict is {verdict} ({document.headline})")

    _, report_path = write_report(config, document, output_dir)
    result = RetrainResult(
        data=uri,
        document=document,
        version=pushed.version,
        alias=alias,
        promoted=promoted,
        report_path=str(report_path),
        notes=notes,
    )
    for name in ("staging", "production"):
        record = registry.alias(name)
        if record is not None:
            result.aliases[name] = record.version
    _track(config, result, ctx, date)
    return result


def _split(config: Config) -> SplitSection:
    from mlci.config import SplitSection

    return SplitSection(test_size=config.retrain.holdout, stratify=True, seed=config.model.random_state)


def _track(config: Config, result: RetrainResult, ctx: GitHubContext, date: str) -> None:
    """Keep one GitHub issue per model current; comment when this run changed something."""
    from mlci.document import render_report
    from mlci.report import COMMENT_LIMIT

    if not (ctx.token and ctx.repository):
        result.notes.append("no GitHub token or repository: no tracking issue updated")
        return
    marker = ISSUE_MARKER.format(model=config.model.name)
    # The body holds only the state of the model, not the run, so an unchanged run leaves it
    # unchanged (and adds no comment); the run link goes into the comment.
    document = result.document
    validation = [replace(v, seconds=None) for v in document.validation]
    stable = document.model_copy(update={"run_url": None, "timings": None, "validation": validation})
    # Where the aliases point now: a promotion changes this line, a repeated run does not.
    aliases = ", ".join(f"{name}: `{version}`" for name, version in sorted(result.aliases.items())) or "no aliases"
    state = (
        f"{marker}\n**Model `{config.model.name}`: latest scheduled retrain**\n\n"
        f"- fresh data: `{Path(result.data).name}`\n- drift: **{result.drift}**\n"
        f"- candidate: `{result.version}` (alias `{result.alias}`), verdict **{result.verdict}**\n"
        f"- {aliases}\n\n"
    )
    body = state + render_report(config, stable, limit=COMMENT_LIMIT - len(state) - 100)
    title = f"mlci: scheduled retraining of {config.model.name}"
    try:
        _update_issue(ctx, result, marker, title, body, date)
    except ServiceError as e:
        # The run may have promoted: its outputs, report and summary must still be written.
        lacks = getattr(e, "permission", None)
        why = f" (the token lacks `{lacks}`)" if lacks else ""
        result.issue_error = f"could not update the tracking issue{why}: {e}"


def _update_issue(ctx: GitHubContext, result: RetrainResult, marker: str, title: str, body: str, date: str) -> None:
    from mlci.github.client import GitHubClient

    with GitHubClient.from_context(ctx) as client:
        issue = client.upsert_issue(marker, title, body, labels=["mlci"])
        result.issue_url, result.issue_action = issue.url, issue.action
        if issue.action == "updated":
            run = f" ([run]({ctx.run_url}))" if ctx.run_url else ""
            summary = (
                f"Retrain {date}{run}: drift **{result.drift}**, candidate `{result.version}` verdict "
                f"**{result.verdict}**, promoted: {result.promoted or 'no'}."
            )
            result.comment_url = client.add_issue_comment(issue.number, summary)
