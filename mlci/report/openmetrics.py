"""OpenMetrics text of `mlci drift` and `mlci monitor`, for Prometheus (a file it scrapes, or a Pushgateway).

Written with prometheus_client's own exposition (`CollectorRegistry` + `openmetrics.exposition.
generate_latest`), so names, label values and numbers are escaped and formatted as the format
requires. Every metric carries the labels `model`, `version` and `environment`; drift's per-feature
gauges add `feature`, monitor's per-metric gauges `metric` and `scope` (`overall`, or
`<column>=<category>` for a slice). docs/monitoring.md lists them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlci.errors import ServiceError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from mlci.config.schema import OpenMetricsSection
    from mlci.contracts.drift import DriftReport
    from mlci.contracts.monitoring import MonitorReport

STATUS = {"ok": 0, "warn": 1, "fail": 2}  # mlci_*_status values

# name -> help; the names docs/monitoring.md documents (tests check the text carries them)
DRIFT_METRICS = {
    "mlci_drift_status": "Drift of the fresh table against the version's reference profile: 0 ok, 1 warn, 2 fail.",
    "mlci_drift_rows": "Rows of the fresh table.",
    "mlci_drift_psi": "Population stability index of one feature (or of the predictions).",
    "mlci_drift_p_value": "p-value of the feature's two-sample test (KS for numeric, chi-square for categorical).",
    "mlci_drift_null_rate": "Share of null values of the feature in the fresh table.",
}
MONITOR_METRICS = {
    "mlci_monitor_status": "Production performance on labelled rows: 0 ok, 2 a metric dropped past monitor.max_drop.",
    "mlci_monitor_rows": "Labelled production rows scored.",
    "mlci_monitor_metric_current": "The metric on labelled production rows.",
    "mlci_monitor_metric_shipped": "The metric on the test rows the version shipped with.",
    "mlci_monitor_metric_change": "Current minus shipped.",
    "mlci_monitor_metric_change_low": "Lower bound of the change's interval (metrics.statistics.confidence).",
    "mlci_monitor_metric_change_high": "Upper bound of the change's interval.",
}


class _Families:
    """A prometheus_client collector of gauges built from one result (a custom collector: no global state)."""

    def __init__(self, helps: dict[str, str], common: dict[str, str]) -> None:
        self.helps = helps
        self.common = common
        self.samples: dict[str, list[tuple[dict[str, str], float]]] = {name: [] for name in helps}

    def add(self, name: str, value: float | None, **labels: str) -> None:
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            self.samples[name].append(({**self.common, **labels}, float(value)))

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        for name, rows in self.samples.items():
            if not rows:
                continue
            keys = list(rows[0][0])
            family = GaugeMetricFamily(name, self.helps[name], labels=keys)
            for labels, value in rows:
                family.add_metric([labels[k] for k in keys], value)
            yield family


def _registry(families: _Families) -> CollectorRegistry:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(families)
    return registry


def drift_registry(report: DriftReport, *, model: str, version: str, environment: str) -> CollectorRegistry:
    """Return the registry of a drift report's gauges."""
    families = _Families(DRIFT_METRICS, {"model": model, "version": version, "environment": environment})
    families.add("mlci_drift_status", STATUS[report.status])
    families.add("mlci_drift_rows", report.rows_cur)
    for f in report.features:
        families.add("mlci_drift_psi", f.psi, feature=f.feature)
        families.add("mlci_drift_p_value", f.p_value, feature=f.feature)
        families.add("mlci_drift_null_rate", f.null_rate_cur, feature=f.feature)
    return _registry(families)


def monitor_registry(report: MonitorReport) -> CollectorRegistry:
    """Return the registry of a monitor report's gauges, overall and per slice."""
    families = _Families(
        MONITOR_METRICS, {"model": report.model, "version": report.version, "environment": report.environment}
    )
    families.add("mlci_monitor_status", STATUS[report.status])
    families.add("mlci_monitor_rows", report.rows)
    for c in [*report.metrics, *report.slices]:
        labels = {"metric": c.metric, "scope": c.scope}
        families.add("mlci_monitor_metric_current", c.current, **labels)
        families.add("mlci_monitor_metric_shipped", c.shipped, **labels)
        families.add("mlci_monitor_metric_change", c.change, **labels)
        families.add("mlci_monitor_metric_change_low", c.ci_low, **labels)
        families.add("mlci_monitor_metric_change_high", c.ci_high, **labels)
    return _registry(families)


def exposition(registry: CollectorRegistry) -> bytes:
    """Return the registry's OpenMetrics text (ending in `# EOF`)."""
    from prometheus_client.openmetrics.exposition import generate_latest

    return bytes(generate_latest(registry))


def push(registry: CollectorRegistry, section: OpenMetricsSection, grouping: dict[str, str]) -> str:
    """Push the registry to `openmetrics.pushgateway` under its job and `grouping`; return where (redacted).

    ServiceError (one line, credentials redacted) when the gateway cannot be reached or refuses.
    """
    from prometheus_client import push_to_gateway

    from mlci._internal.redaction import redact

    assert section.pushgateway is not None
    where = redact(section.pushgateway)
    try:
        push_to_gateway(
            section.pushgateway,
            job=section.job,
            registry=registry,
            grouping_key=grouping,
            timeout=section.timeout_seconds,
        )
    except Exception as e:  # urllib's URLError/HTTPError, OSError, ValueError for a malformed URL
        raise ServiceError(
            f"openmetrics.pushgateway {where}: push failed ({redact(f'{type(e).__name__}: {e}')})",
            hint="check the URL in mlci.yaml and that the Pushgateway is up",
        ) from None
    return where
