"""The PR check validates in a worker process while the fit runs; bad data stops the fit."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from mlci._internal.serial import to_data
from mlci.cli.output import exit_code
from mlci.config.schema import load_config
from mlci.errors import CheckFailed, SuiteError
from tests.support.project import ProjectCopy

# An estimator whose fit takes up to three minutes in small Python steps, and leaves markers: the
# test asserts the fit began and never reached its end (no timing is measured).
SLOW_MODEL = """
from pathlib import Path
import time

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.dummy import DummyClassifier


class Slow(BaseEstimator, ClassifierMixin):
    def __init__(self, markers="."):
        self.markers = markers

    def fit(self, X, y):
        Path(self.markers, "fit-started").touch()
        for _ in range(1800):  # bounded: 3 min at most (validation stops it in seconds; more under load)
            time.sleep(0.1)
        Path(self.markers, "fit-finished").touch()
        self.model_ = DummyClassifier().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


def build(markers="."):
    return Slow(markers)
"""


def break_plan_column(project: ProjectCopy) -> None:
    """Give train.csv a plan the suite's critical expect_column_values_to_be_in_set does not allow."""
    path = project / "data" / "train.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = (
        lines[1].replace(",basic,", ",platinum,").replace(",standard,", ",platinum,").replace(",premium,", ",platinum,")
    )
    path.write_text("".join(lines))


@pytest.fixture(autouse=True)
def in_the_worker(request, monkeypatch):
    """Validate in the worker whatever the table size (this test session has imported GX already)."""
    if "here" not in request.function.__name__:
        monkeypatch.setattr("mlci.flows.validate.VALIDATE_HERE_MAX_ROWS", -1)


def test_bad_data_stops_the_fit_and_the_check_names_the_failed_expectation(project, tmp_path):
    from mlci import Project

    markers = tmp_path / "markers"
    markers.mkdir()
    project.with_entrypoint("slow_model", SLOW_MODEL, markers=str(markers))
    break_plan_column(project)

    result = Project.load(project / "mlci.yaml").check(output_dir=project.path)

    assert (markers / "fit-started").exists()
    assert not (markers / "fit-finished").exists(), "the fit ran to its end"
    assert isinstance(result.failure, CheckFailed)
    lines = result.failure.lines()
    assert exit_code(result.failure) == 1
    assert lines[0].startswith("the data broke its expectations (")
    assert re.search(r"train\.csv: 1 of \d+ expectations failed\); training stopped", lines[0]), lines[0]
    assert any("expect_column_values_to_be_in_set on column 'plan'" in line and "platinum" in line for line in lines)
    # Nothing of the stopped fit is left: no bundle, no half-written staging directory, no version.
    assert not list((project / ".mlci" / "bundles").glob("*"))
    assert not (project / ".mlci" / "registry" / "churn" / "versions").exists()
    # The check's document still records why: no candidate, no comparison, verdict fail.
    doc = result.document
    assert doc.verdict == "fail" and doc.candidate is None and doc.comparison is None
    assert [(s.name, s.status) for s in doc.stages][:2] == [("data validation", "fail"), ("training", "skipped")]
    assert json.loads((project / "comparison.json").read_text())["verdict"] == "fail"


def test_a_suite_the_worker_cannot_read_is_the_users_error_not_a_crash(project, tmp_path):
    from mlci import Project

    markers = tmp_path / "markers"
    markers.mkdir()
    project.with_entrypoint("slow_model", SLOW_MODEL, markers=str(markers))
    (project / "expectations" / "churn.json").write_text('{"name": "churn", "expectations": [')

    with pytest.raises(SuiteError) as info:
        Project.load(project / "mlci.yaml").check(output_dir=project.path)

    assert "churn.json" in str(info.value)
    assert not (markers / "fit-finished").exists(), "the fit ran to its end"


def test_good_data_validated_in_the_worker_equals_validation_in_this_process(project):
    from mlci.data.tables import load_datasets
    from mlci.flows.validate import start_validation, validate_datasets

    config = load_config(project / "mlci.yaml", env={})
    datasets = load_datasets(config)
    pending = start_validation(config, datasets)
    try:
        assert pending.background is not None  # nothing cached yet: both tables go to the worker
        background = pending.wait()
    finally:
        pending.close()
    here = validate_datasets(config, datasets)
    strip = [{k: v for k, v in to_data(r).items() if k != "seconds"} for r in here]
    assert [{k: v for k, v in to_data(r).items() if k != "seconds"} for r in background] == strip
    assert all(r.success for r in background)
    # A second start finds both results in the cache and starts no worker.
    again = start_validation(config, datasets)
    assert again.background is None and again.wait() == background


def _worker_reporting_its_modules(conn, report) -> None:
    """Run the validation worker, then report which optional modules it imported."""
    import sys

    from mlci.data.background import _worker

    _worker(conn)
    report.send({name: sys.modules.get(name) is not None for name in ("rfc3987_syntax", "great_expectations")})


def test_the_worker_does_not_build_jsonschemas_iri_grammar_and_validates_the_same(project):
    # rfc3987-syntax compiles an Earley grammar on import (~1.2 s of the core the fit needs);
    # the signing extra installs it, and jsonschema (imported by GX) imports it when present.
    import importlib.util
    import multiprocessing

    from mlci._internal.serial import from_data
    from mlci.contracts.validation import ValidationResult
    from mlci.data.tables import load_datasets
    from mlci.flows.validate import validate_datasets

    assert importlib.util.find_spec("rfc3987_syntax") is not None, "installed by mlci[signing], which [test] has"
    config = load_config(project / "mlci.yaml", env={})
    datasets = load_datasets(config)
    ctx = multiprocessing.get_context("spawn")
    conn, child = ctx.Pipe()
    report, report_child = ctx.Pipe()
    process = ctx.Process(target=_worker_reporting_its_modules, args=(child, report_child), daemon=True)
    process.start()
    try:
        child.close()
        report_child.close()
        assert config.expectations is not None
        jobs = [(name, datasets.sources.get(name, name), getattr(datasets, name)) for name in ("train", "test")]
        conn.send((str(config.locate(config.expectations.suite)), jobs))
        results = []
        while (message := conn.recv())[0] == "result":
            results.append(from_data(ValidationResult, message[2]))
        assert message == ("done",), message
        assert report.poll(60), "the worker sent no report"
        assert report.recv() == {"rfc3987_syntax": False, "great_expectations": True}
    finally:
        process.join(30)
        if process.is_alive():
            process.kill()
    here = validate_datasets(config, datasets)
    strip = [{k: v for k, v in to_data(r).items() if k != "seconds"} for r in here]
    assert [{k: v for k, v in to_data(r).items() if k != "seconds"} for r in results] == strip


def test_small_tables_are_validated_here_once_gx_is_imported_and_bad_data_never_starts_the_fit(project, tmp_path):
    import great_expectations  # noqa: F401 - what a test session or a notebook has already paid for

    from mlci import Project
    from mlci.data.tables import load_datasets
    from mlci.flows.validate import start_validation, validate_datasets

    config = load_config(project / "mlci.yaml", env={})
    datasets = load_datasets(config)
    pending = start_validation(config, datasets)
    assert pending.background is None  # no worker: both tables were validated in this process
    here = pending.wait()
    assert all(r.success for r in here) and [Path(r.table).name for r in here] == ["train.csv", "test.csv"]
    plain = validate_datasets(config, datasets, cached=False)
    assert [{k: v for k, v in to_data(r).items() if k != "seconds"} for r in here] == [
        {k: v for k, v in to_data(r).items() if k != "seconds"} for r in plain
    ]

    markers = tmp_path / "markers"
    markers.mkdir()
    project.with_entrypoint("slow_model", SLOW_MODEL, markers=str(markers))
    break_plan_column(project)
    failure = Project.load(project / "mlci.yaml").check(output_dir=project.path).failure
    assert failure is not None
    assert not (markers / "fit-started").exists(), "the fit started on data that had failed already"
    assert "; training stopped" in failure.lines()[0]
    assert any("expect_column_values_to_be_in_set on column 'plan'" in line for line in failure.lines())


def test_openmp_is_told_to_yield_only_when_a_worker_starts_beside_the_fit(project, monkeypatch):
    from mlci.cli.app import _yielding_openmp
    from mlci.data.tables import load_datasets
    from mlci.flows.validate import start_validation

    config = load_config(project / "mlci.yaml", env={})
    datasets = load_datasets(config)
    calls = []
    first = start_validation(config, datasets, lambda: calls.append("worker"))
    try:
        assert first.background is not None and calls == ["worker"]
        first.wait()
    finally:
        first.close()
    again = start_validation(config, datasets, lambda: calls.append("worker"))
    assert again.background is None and calls == ["worker"]  # all cached: no worker, OpenMP untouched

    # The CLI's hook: PASSIVE unless the user chose a policy.
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    _yielding_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    _yielding_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
