"""comparison.json: its published JSON Schema, and refusing documents this mlci did not write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mlci.contracts.document import SCHEMA_PATH, json_schema, load_document
from mlci.errors import DataError
from tests.unit.report.test_markdown import comparison, drift_report, make_doc, validation_results


def test_the_published_schema_is_the_one_the_model_generates():
    written = json.loads(SCHEMA_PATH.read_text())
    assert written == json_schema(), (
        "docs/comparison.schema.json is stale: run `python -m mlci.contracts.document > docs/comparison.schema.json`"
    )


@pytest.mark.parametrize("kind", ["pass", "fail", "bootstrap"])
def test_documents_validate_against_the_published_schema(kind: str, tmp_path: Path):
    doc = make_doc(comparison(kind), validation=validation_results(), drift=drift_report())
    data = json.loads(doc.to_json())
    Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(data)
    path = tmp_path / "comparison.json"
    path.write_text(doc.to_json())
    assert load_document(path) == doc


def test_the_schema_rejects_a_document_without_a_verdict():
    data = json.loads(make_doc(comparison("pass")).to_json())
    del data["verdict"]
    assert list(Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).iter_errors(data))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"mlci_version": "0.1.0", "model": "churn", "comparison": {}}, "not an mlci comparison.json"),
        ({"schema_version": 1, "mlci_version": "0.0.9"}, "schema_version 1 (mlci 0.0.9); this mlci reads"),
        ([1, 2, 3], "not an mlci comparison.json"),
        ({"schema_version": 2, "model": "churn"}, "mlci_version: Field required"),
    ],
)
def test_an_old_or_foreign_document_is_refused_in_one_line(tmp_path: Path, content: object, message: str):
    path = tmp_path / "comparison.json"
    path.write_text(json.dumps(content))
    with pytest.raises(DataError) as raised:
        load_document(path)
    assert message in str(raised.value)
    assert len(raised.value.lines()) == 1 and str(path) in str(raised.value)


def test_mlci_report_refuses_an_old_document_with_exit_2(project):
    (project / "comparison.json").write_text(json.dumps({"mlci_version": "0.1.0", "model": "churn"}))
    run = project.run("report")
    assert run.returncode == 2, run.text
    assert run.stderr.splitlines() == [
        "comparison.json: not an mlci comparison.json (no schema_version) "
        "(re-run `mlci check` or `mlci evaluate` with this mlci to write a current one)"
    ]
    assert "Traceback" not in run.text
