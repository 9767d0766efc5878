"""`mlci monitor` on labelled production rows, and the OpenMetrics of monitor and drift (file and Pushgateway)."""

from __future__ import annotations

import contextlib
import json
from http.server import BaseHTTPRequestHandler

import numpy as np
import pandas as pd
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from mlci.report.openmetrics import DRIFT_METRICS, MONITOR_METRICS
from tests.support.cli import mlci_env
from tests.support.project import ProjectCopy
from tests.support.tools import http_server

pytestmark = pytest.mark.slow


def _production_labels(project: ProjectCopy, frame: pd.DataFrame) -> np.ndarray:
    """Return the production version's predicted labels of `frame`, through mlci's own scorer."""
    from mlci import Project
    from mlci.flows.pipeline import predict
    from mlci.registry.references import bundle_of

    with contextlib.chdir(project.path):
        config = Project.load("mlci.yaml", variables=project.env).config
        from mlci.registry.references import open_registry

        bundle = bundle_of(config, open_registry(config), "production")
        return np.asarray(predict(config, bundle, frame).labels)


def _families(path) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(path.read_text())}


def test_monitor_reports_a_known_drop_with_its_interval_and_fails_past_the_limit(project: ProjectCopy, github_server):
    deployed = project.with_production().with_("monitor", {"max_drop": {"accuracy": 0.05}})
    deployed.with_("metrics.statistics.resamples", 300)
    # Production served the test rows; the labels that came in contradict 40 of the east region's
    # right answers: accuracy drops by exactly 40/1000 overall and 40/n_east in region=east.
    test = pd.read_csv(deployed / "data" / "test.csv")
    right = _production_labels(deployed, test) == test["churned"].to_numpy()
    east = (test["region"] == "east").to_numpy()
    flipped = np.flatnonzero(right & east)[:40]
    labels = test[["customer_id", "churned"]].copy()
    labels.loc[flipped, "churned"] = 1 - labels.loc[flipped, "churned"]
    test.drop(columns=["churned"]).to_csv(deployed / "served.csv", index=False)
    labels.to_csv(deployed / "labels.csv", index=False)

    pushed: list[tuple[str, bytes]] = []
    actions = mlci_env(**github_server.env(), GITHUB_ACTIONS="true", GITHUB_RUN_ID="7")

    class Gateway(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            pushed.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Gateway) as url:
        deployed.with_("openmetrics", {"pushgateway": url})
        args = ("monitor", "--predictions", "served.csv", "--labels", "labels.csv", "--openmetrics", "m.txt")
        ran = deployed.run("--json", *args, env=actions)
    assert ran.returncode == 1, ran.text
    report = json.loads(ran.stdout)
    overall = next(c for c in report["metrics"] if c["metric"] == "accuracy")
    assert overall["drop"] == pytest.approx(40 / 1000) and overall["status"] == "ok"
    assert overall["ci_low"] < -0.04 < overall["ci_high"]
    region = next(c for c in report["slices"] if c["metric"] == "accuracy" and c["scope"] == "region=east")
    drop = 40 / int(east.sum())
    assert region["drop"] == pytest.approx(drop) and region["status"] == "fail"
    assert region["ci_low"] < -drop < region["ci_high"]
    assert report["reasons"] == [region["reason"]] and "region=east" in region["reason"]

    families = _families(deployed / "m.txt")
    assert set(MONITOR_METRICS) <= set(families)
    sample = next(
        s
        for s in families["mlci_monitor_metric_change"]
        if s.labels["metric"] == "accuracy" and s.labels["scope"] == "region=east"
    )
    assert sample.value == pytest.approx(-drop)
    assert {
        "model": "churn",
        "environment": "production",
        "version": report["version"],
    }.items() <= sample.labels.items()
    assert [p for p, _ in pushed] == ["/metrics/job/mlci/command/monitor/environment/production/model/churn"]
    assert b"mlci_monitor_status" in pushed[0][1]

    # Within a wider limit the same drop passes; drift writes its own metrics with the feature label.
    deployed.without("openmetrics").with_("monitor", {"max_drop": {"accuracy": 0.5}})
    assert deployed.run("-q", *args, env=actions).returncode == 0
    # The model's monitoring issue, kept as the retrain keeps its own: one issue, a comment on change.
    (issue,) = github_server.issues()
    assert "<!-- mlci:monitor:churn -->" in issue["body"] and "status: **ok**" in issue["body"]
    (comment,) = github_server.comments(issue["number"])
    assert "**ok**" in comment["body"] and "/actions/runs/7" in comment["body"]
    drift = deployed.run("drift", "--current", "served.csv", "--openmetrics", "d.txt")
    assert drift.returncode == 0, drift.text
    families = _families(deployed / "d.txt")
    assert set(DRIFT_METRICS) <= set(families)
    psi = {s.labels["feature"]: s for s in families["mlci_drift_psi"]}
    assert "tenure_months" in psi and psi["tenure_months"].labels["version"] == report["version"]


def test_a_pushgateway_that_cannot_be_reached_is_one_error_naming_it_without_its_password():
    from prometheus_client import CollectorRegistry

    from mlci.config.schema import OpenMetricsSection
    from mlci.errors import ServiceError
    from mlci.report.openmetrics import push

    section = OpenMetricsSection(pushgateway="http://ops:hunter2@127.0.0.1:9", timeout_seconds=2)
    with pytest.raises(ServiceError) as refused:
        push(CollectorRegistry(), section, {"model": "churn"})
    assert "openmetrics.pushgateway" in refused.value.message and "hunter2" not in str(refused.value)
