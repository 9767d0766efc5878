"""`mlci monitor`: how the production version does on production rows once their labels arrived.

The labelled rows are either one table holding both, or the rows production served (`--predictions`)
joined to the labels that came later (`--labels`) on `data.id`. When the rows carry the version's
features, the version scores them again in the contained process (every metric, probabilities
included); otherwise their logged `prediction` column is read (metrics of labels only). The
reference is what the version shipped with: its metrics on the configured test rows, scored again
here so the change has an interval (mlci.stats.monitoring).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlci.errors import ConfigError, DataError, NotFoundError

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd
    from prometheus_client import CollectorRegistry

    from mlci.config.schema import Config
    from mlci.contracts.monitoring import MonitorReport
    from mlci.github.context import GitHubContext
    from mlci.modeling.bundle import Bundle
    from mlci.registry.registry import Registry
    from mlci.stats.evaluation import Predictions

PREDICTION = "prediction"  # the logged prediction's column, when the rows do not carry the features


@dataclass
class MonitorResult:
    """What `mlci monitor` measured, and where it reported it."""

    table: str
    report: MonitorReport
    issue_url: str | None = None
    issue_action: str | None = None
    issue_error: str | None = None
    notes: list[str] = field(default_factory=list)


def _read(config: Config, path: str, what: str) -> tuple[str, pd.DataFrame]:
    from mlci.data.tables import confinement, read_table, s3_options

    table = read_table(
        path, s3_options=s3_options(config), options=config.data.read_options, confined_to=confinement(config, path)
    )
    return table.uri, table.frame


def labelled_rows(
    config: Config, predictions: str | None, labels: str | None, table: str | None
) -> tuple[str, pd.DataFrame]:
    """Return the labelled production rows: `table`, or `predictions` joined to `labels` on data.id."""
    from mlci.data.tables import require_columns
    from mlci.errors import UsageError

    if table is not None:
        if predictions is not None or labels is not None:
            raise UsageError("give either --table, or --predictions with --labels")
        return _read(config, table, "--table")
    if predictions is None or labels is None:
        raise UsageError("give --predictions and --labels (joined on data.id), or one --table holding both")
    key = config.data.id
    if key is None:
        raise ConfigError(
            f"{config.path}: data.id is not set: --predictions and --labels are joined on it",
            hint="name the id column in data.id, or pass one --table holding predictions and labels",
        )
    served_uri, served = _read(config, predictions, "--predictions")
    labels_uri, truth = _read(config, labels, "--labels")
    require_columns(served, [key], uri=served_uri, field="data.id")
    require_columns(truth, [key, config.target], uri=labels_uri, field="data.id and data.target")
    for uri, frame in ((served_uri, served), (labels_uri, truth)):
        if frame[key].duplicated().any():
            raise DataError(f"{uri}: data.id column '{key}' repeats a value; each row needs its own id to be joined")
    truth = truth[[key, config.data.target]]
    joined = served.drop(columns=[config.data.target], errors="ignore").merge(truth, on=key, how="inner")
    if joined.empty:
        raise DataError(f"no row of {served_uri} has a label in {labels_uri} (joined on data.id '{key}')")
    return f"{served_uri} + {labels_uri}", joined


def _predictions(config: Config, bundle: Bundle, frame: pd.DataFrame, uri: str) -> tuple[Predictions, list[str]]:
    """Return the version's predictions on the rows: scored again from its features, else the logged column."""
    from mlci.flows.pipeline import predict
    from mlci.stats.evaluation import Predictions

    features = list(bundle.manifest.features or [])
    if all(f in frame.columns for f in features):
        return predict(config, bundle, frame), []
    if PREDICTION not in frame.columns:
        missing = next(f for f in features if f not in frame.columns)
        raise DataError(
            f"{uri}: neither the features of version {bundle.version} (no column '{missing}') "
            f"nor a '{PREDICTION}' column: mlci cannot tell what production predicted"
        )
    note = (
        f"{uri} lacks the version's features: its logged '{PREDICTION}' column is read, "
        "so metrics of predicted probabilities are skipped"
    )
    return Predictions(frame[PREDICTION].to_numpy()), [note]


def monitor(
    config: Config,
    registry: Registry,
    *,
    predictions: str | None = None,
    labels: str | None = None,
    table: str | None = None,
    environment: str = "production",
) -> MonitorResult:
    """Return the version in `environment` measured on labelled production rows against what it shipped with."""
    from mlci.contracts.monitoring import MonitorReport
    from mlci.data.tables import load_datasets, require_columns
    from mlci.flows.pipeline import predict
    from mlci.registry.references import bundle_of
    from mlci.stats.monitoring import METHOD, performance

    if registry.alias(environment) is None:
        raise NotFoundError(
            f"model '{config.model.name}' has nothing in {environment} to monitor",
            hint=f"deploy a version first: mlci deploy REF --env {environment}",
        )
    bundle = bundle_of(config, registry, environment)
    uri, rows = labelled_rows(config, predictions, labels, table)
    target = config.target
    require_columns(rows, [target], uri=uri, field="data.target")
    rows = rows[rows[target].notna()].reset_index(drop=True)
    if rows.empty:
        raise DataError(f"{uri}: no row has a label in '{target}' (data.target)")
    current, notes = _predictions(config, bundle, rows, uri)
    test = load_datasets(config).test
    shipped = predict(config, bundle, test)
    slices = {
        c: (test[c].to_numpy(), rows[c].to_numpy()) for c in config.data.slices if c in test.columns and c in rows
    }
    overall, per_slice = performance(
        (test[target].to_numpy(), shipped),
        (rows[target].to_numpy(), current),
        task=config.task,
        metrics=config.metrics.names,
        primary=config.metrics.primary,
        statistics=config.metrics.statistics,
        settings=config.monitor,
        slices=slices,
        positive_class=config.data.positive_class,
    )
    recorded = bundle.manifest.metrics or {}
    for c in overall:
        stored = recorded.get(c.metric)
        if stored is not None and c.shipped is not None and abs(stored - c.shipped) > 1e-9:
            notes.append(
                f"{c.metric} on today's test table is {c.shipped:.4f}, but version {bundle.version} was stored "
                f"with {stored:.4f}: the test table changed since"
            )
    failed = [c for c in [*overall, *per_slice] if c.status == "fail"]
    report = MonitorReport(
        model=config.model.name,
        version=bundle.version,
        environment=environment,
        rows=len(rows),
        confidence=config.metrics.statistics.confidence,
        method=METHOD,
        status="fail" if failed else "ok",
        metrics=overall,
        slices=per_slice,
        reasons=[c.reason for c in failed],
        notes=notes,
    )
    return MonitorResult(table=uri, report=report, notes=list(notes))


def track(config: Config, result: MonitorResult, ctx: GitHubContext) -> None:
    """Keep the model's monitoring issue current, as the retrain keeps its own (mlci.flows.retrain.tracked)."""
    from mlci.flows.retrain import tracked
    from mlci.report.reporters import MonitorIssue

    issue, result.issue_error = tracked(
        ctx, lambda client: MonitorIssue(config, ctx, client, table=result.table).report(result.report), result.notes
    )
    if issue is not None:
        result.issue_url, result.issue_action = issue.where, issue.action


def export(
    config: Config, metrics: CollectorRegistry, path: Path | None, *, command: str, environment: str
) -> list[str]:
    """Write the OpenMetrics text to `path` and push it to `openmetrics.pushgateway` (when set); return what was done."""
    from mlci.report.openmetrics import exposition, push

    done = []
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(exposition(metrics))
        done.append(f"OpenMetrics written to {path}")
    if config.openmetrics.pushgateway:
        grouping = {"model": config.model.name, "environment": environment, "command": command}
        done.append(f"OpenMetrics pushed to {push(metrics, config.openmetrics, grouping)}")
    return done
