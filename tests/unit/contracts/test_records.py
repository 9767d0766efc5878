"""Records on disk are read as typed models: events by `action`, profile entries by `kind`, alias records.

tests/support/data/records holds records that earlier mlci versions wrote (real runs; its README says
which): they must still read, and records a pull request's job could plant must be refused
in one line (a skipped event with a warning, exit 2 for a profile), never an internal error.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd
import pytest

from mlci.contracts.drift import CategoricalEntry, NumericEntry, Profile
from mlci.contracts.events import (
    AliasEvent,
    CheckEvent,
    DeployEvent,
    PublishEvent,
    PushEvent,
    RetrainEvent,
    RollbackEvent,
    UnpublishEvent,
    dump_event,
    parse_event,
)
from mlci.flows.policy import StoredVerdict, last_verdict
from mlci.registry import Registry
from mlci.stats.drift import compare_profile
from mlci.stats.specs import DriftSection
from mlci.storage import open_store
from tests.support.paths import EXAMPLE, RECORDS
from tests.support.project import ProjectCopy

EVENTS = sorted((RECORDS / "churn" / "events").rglob("*.json"))
FIELDS = {"time", "action", "model", "actor", "alias", "env", "version", "previous", "reason", "extra"}
FAILED = "e6961de074b6e9f0"  # failed its gates at the checks of PR 42 and PR 43 (mlci at d6dbdc2)
BOOTSTRAPPED = "547096239a700f22"  # its check (mlci at 586e876) wrote only `verdict`, `baseline`, `pr`, `sha`


@pytest.fixture
def recorded(project: ProjectCopy) -> ProjectCopy:
    """The example project over a registry holding the captured events and alias records."""
    shutil.copytree(RECORDS / "churn", project.registry)
    return project


def registry_of(recorded: ProjectCopy) -> Registry:
    return Registry(open_store(".mlci/registry", base_dir=recorded.path), "churn")


def plant(recorded: ProjectCopy, name: str, body: object) -> None:
    """Write an event file as a pull request's job could (events/pr-99/ is its namespace)."""
    folder = recorded / ".mlci" / "registry" / "churn" / "events" / "pr-99"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(body if isinstance(body, str) else json.dumps(body))


def captured(name: str) -> dict:
    return json.loads(next(p for p in EVENTS if p.name.startswith(name)).read_text())


# --- events ----------------------------------------------------------------------------------


def test_every_event_earlier_mlci_wrote_reads_as_the_model_of_its_action(recorded: ProjectCopy) -> None:
    registry = registry_of(recorded)
    events = registry.events()
    assert registry.warnings == [] and len(events) == len(EVENTS) == 49
    kinds = {PushEvent, AliasEvent, PublishEvent, UnpublishEvent, CheckEvent, RetrainEvent, DeployEvent, RollbackEvent}
    assert {type(e) for e in events} == kinds
    assert [e.time for e in events] == sorted(e.time for e in events)  # PR namespaces interleaved by time

    (stopped,) = [e for e in events if isinstance(e, CheckEvent) and e.alias == "pr-44"]
    assert stopped.version is None and stopped.extra.pr == 44 and stopped.extra.failed_stages == ["data validation"]
    (old,) = [e for e in events if isinstance(e, RetrainEvent) and e.version == "e2197b6705cf6fc2"]
    assert (old.extra.verdict, old.extra.drift, old.extra.failed_stages, old.extra.headline) == ("fail", "ok", [], "")
    assert [e.env for e in events if isinstance(e, DeployEvent) and e.extra.result == "rolled back"] == [
        "production",
        "staging",
        "staging",
    ]
    removed = [e for e in events if isinstance(e, AliasEvent) and e.version is None]
    assert [(e.alias, e.previous) for e in removed] == [("staging", FAILED), ("staging", BOOTSTRAPPED)]
    (unpublished,) = [e for e in events if isinstance(e, UnpublishEvent)]
    assert (unpublished.env, unpublished.version, unpublished.previous) == ("staging", None, BOOTSTRAPPED)

    # Written back, a record keeps every field it had; only the fields older mlci lacked are added.
    for path in EVENTS:
        stored = json.loads(path.read_text())
        again = json.loads(dump_event(parse_event(path.read_bytes(), str(path))))
        assert {k: v for k, v in again.items() if k != "extra"} == {k: v for k, v in stored.items() if k != "extra"}
        assert all(again["extra"][k] == v for k, v in stored["extra"].items()), path.name


def test_history_json_lists_each_event_as_its_typed_model(recorded: ProjectCopy) -> None:
    run = recorded.run("--json", "history")
    assert run.returncode == 0, run.stderr
    assert "warning" not in run.stderr
    events = json.loads(run.stdout)["events"]
    assert len(events) == 49 and all(set(e) == FIELDS for e in events)
    # A check event of mlci at 586e876 lists the fields a check records now, empty where it had none.
    (old,) = [e for e in events if e["action"] == "check" and e["version"] == BOOTSTRAPPED]
    assert old["extra"] == {
        "verdict": "bootstrap",
        "headline": "",
        "failed_stages": [],
        "baseline": None,
        "pr": None,
        "sha": None,
    }
    (retrain,) = [e for e in events if e["action"] == "retrain" and e["version"] == "84e8de0a70d106a4"]
    assert retrain["extra"]["drift"] == "ok" and retrain["extra"]["failed_stages"] == ["gates"]

    text = recorded.run("history", "--alias", "pr-42")
    assert text.returncode == 0, text.stderr
    lines = [line.split() for line in text.stdout.split("\nevents:\n")[1].splitlines()]
    assert lines == [
        [
            "2026-12-03T10:29:07.761826Z",
            "alias",
            "pr-42",
            FAILED,
            "github:octocat",
            "reason:",
            "mlci",
            "check:",
            "fail",
        ],
        ["2026-12-03T10:29:07.766423Z", "check", "pr-42", FAILED, "verdict=fail", "github:octocat"],
    ]


def test_a_foreign_or_malformed_event_is_skipped_with_a_warning_naming_it(recorded: ProjectCopy) -> None:
    check = captured("20261203T102907.766423Z")  # PR 42's check of FAILED, written by a PR job
    later = "2026-12-04T00:00:00.000000Z"
    plant(recorded, "note.json", {**check, "action": "note", "time": later})
    plant(recorded, "verdict.json", {**check, "time": later, "extra": {**check["extra"], "verdict": "great"}})
    plant(recorded, "stages.json", {**check, "time": later, "extra": {**check["extra"], "failed_stages": "gates"}})
    plant(recorded, "extra.json", {**check, "time": later, "extra": ["pass"]})
    plant(recorded, "list.json", [check])
    plant(recorded, "broken.json", '{"action": "check", ')

    run = recorded.run("--json", "history")
    assert run.returncode == 0, run.stderr
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr
    listed = json.loads(run.stdout)
    assert len(listed["events"]) == 49
    warnings = sorted(listed["warnings"], key=lambda w: w.split(": ")[0])
    assert [w.split("events/pr-99/")[1] for w in warnings] == [
        "broken.json: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 21 (char 20))",
        "extra.json: field 'extra' is [\"pass\"]: input should be a valid dictionary",
        "list.json: not a JSON object",
        'note.json: not an event mlci writes (action "note")',
        "stages.json: field 'extra.failed_stages' is \"gates\": input should be a valid list",
        "verdict.json: field 'extra.verdict' is \"great\": input should be 'pass', 'fail' or 'bootstrap'",
    ]
    assert all(w.startswith("skipped event ") for w in warnings)
    assert sum(line.startswith("warning: skipped event ") for line in run.stderr.splitlines()) == 6


def test_last_verdict_reads_the_typed_check_and_retrain_events(recorded: ProjectCopy) -> None:
    registry = registry_of(recorded)
    headline = captured("20261203T102945.277780Z")["extra"]["headline"]  # PR 43's check, the later one
    assert last_verdict(registry, FAILED) == StoredVerdict(verdict="fail", headline=headline, failed_stages=["gates"])
    assert last_verdict(registry, alias="pr-44").failure() == (  # the data stopped it: no version
        "failed data validation at its last check (data validation failed: 1 of 15 expectations on data/train.csv)"
    )
    # Events of mlci at 586e876 carry the verdict alone: the failure names no stage.
    assert last_verdict(registry, BOOTSTRAPPED) == StoredVerdict(verdict="bootstrap")
    assert last_verdict(registry, "e2197b6705cf6fc2").failure() == "failed its check at its last check"

    # A later record that says "pass" but is not of a check's shape is not believed.
    forged = captured("20261203T102945.277780Z")
    plant(recorded, "forged.json", {**forged, "time": "2026-12-04T00:00:00Z", "extra": {"verdict": "pass", "pr": "43"}})
    registry = registry_of(recorded)
    assert last_verdict(registry, FAILED) == StoredVerdict(verdict="fail", headline=headline, failed_stages=["gates"])
    assert len(registry.warnings) == 1 and "field 'extra.pr' is \"43\"" in registry.warnings[0]


def stored_version(recorded: ProjectCopy, profile: bytes, *, features: list[str] | None = None) -> str:
    """Store a version (a stand-in model, never loaded here) with `profile` as its profile.json; return its id."""
    bundle = recorded / "bundle"
    bundle.mkdir()
    model = hashlib.sha256(profile).digest() * 64
    (bundle / "model.skops").write_bytes(model)
    (bundle / "profile.json").write_bytes(profile)
    sha = hashlib.sha256(model).hexdigest()
    files = {"model.skops": sha, "profile.json": hashlib.sha256(profile).hexdigest()}
    manifest = {"version": sha[:16], "sha256": sha, "files": files, "model": "churn", "features": features or []}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return registry_of(recorded).push(bundle, actor="test").version


def test_promote_refuses_a_version_whose_check_failed_in_an_old_format_event(recorded: ProjectCopy) -> None:
    version = stored_version(recorded, (RECORDS / "profiles" / "586e876.json").read_bytes())
    old = captured("20261203T103408.312001Z")  # a check event of mlci at 586e876
    event = {**old, "version": version, "extra": {**old["extra"], "verdict": "fail"}}
    (recorded / ".mlci" / "registry" / "churn" / "events" / "20261203T103408.999999Z-0000.json").write_text(
        json.dumps(event)
    )
    run = recorded.run("promote", version, "--to", "staging")
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"version {version} failed its check at its last check; not promoting it to 'staging'" in run.stderr


# --- alias records -----------------------------------------------------------------------------


def test_alias_records_earlier_mlci_wrote_read_and_write_back_the_same_bytes(recorded: ProjectCopy) -> None:
    records = registry_of(recorded).aliases()
    assert sorted(a.name for a in records) == ["candidate", "pr-42", "pr-43", "production", "retrain-2026-12-03"]
    for record in records:
        assert record.to_json() == (RECORDS / "churn" / "aliases" / f"{record.name}.json").read_bytes()
        assert record.etag
    production = next(a for a in records if a.name == "production")
    assert (production.version, production.previous) == ("f98546abb02f04c1", "3c0c990510fe1625")
    assert production.reason.startswith("automatic rollback: ")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"version": FAILED, "previous": 7}, "field 'previous' is 7: input should be a valid string"),
        ({"version": FAILED, "actor": ["x"]}, "field 'actor' is [\"x\"]: input should be a valid string"),
        ('{"version": ', "is not a valid alias record: not valid JSON"),
    ],
)
def test_a_malformed_alias_record_is_one_line_exit_2(recorded: ProjectCopy, body: object, message: str) -> None:
    alias = recorded / ".mlci" / "registry" / "churn" / "aliases" / "staging.json"
    alias.write_text(body if isinstance(body, str) else json.dumps(body))
    run = recorded.run("history")
    assert run.returncode == 2, run.stdout + run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert "aliases/staging.json is not a valid alias record" in line and message in line


# --- drift profiles ----------------------------------------------------------------------------


@pytest.mark.parametrize("commit", ["d6dbdc2", "586e876"])
def test_profiles_earlier_mlci_wrote_read_typed_and_write_back_the_same_bytes(commit: str) -> None:
    raw = (RECORDS / "profiles" / f"{commit}.json").read_bytes()
    profile = Profile.parse(raw, f"{commit}.json")
    assert profile.dump() == raw
    assert profile.rows == 3000 and isinstance(profile.predictions, NumericEntry)
    assert isinstance(profile.features["tenure_months"], NumericEntry)
    assert isinstance(profile.features["plan"], CategoricalEntry)
    report = compare_profile(profile, pd.read_csv(EXAMPLE / "data" / "test.csv"), DriftSection())
    assert sorted(f.feature for f in report.features) == sorted(profile.features)
    assert report.rows_ref == 3000 and report.status == "ok"


NUMERIC = {"kind": "numeric", "edges": [None, 1.5, None], "counts": [2, 1], "n": 3, "null_rate": 0.0}


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (b'{"rows": 3, "features": {', "profile.json: not valid JSON"),
        (
            {"rows": 3, "features": {"age": {**NUMERIC, "counts": [1, 1, 1]}}},
            "field 'features.age' is",
        ),
        (
            {"rows": 3, "features": {"age": {**NUMERIC, "edges": [None, float("nan"), None]}}},
            "profile.json: the number NaN is not JSON",
        ),
        (
            {"rows": 3, "features": {"age": {**NUMERIC, "kind": "text"}}},
            'field \'features.age\' is {"kind": "text"',
        ),
        (
            {"rows": 3, "features": {"age": {**NUMERIC, "counts": [2, "1"]}}},
            "field 'features.age.counts.1' is \"1\": input should be a valid integer",
        ),
    ],
    ids=["not-json", "counts-for-no-bins", "nan-edge", "unknown-kind", "string-count"],
)
def test_a_malformed_profile_is_one_line_exit_2(recorded: ProjectCopy, profile: object, message: str) -> None:
    raw = profile if isinstance(profile, bytes) else json.dumps(profile).encode()
    version = stored_version(recorded, raw, features=["not-in-the-table"])  # no prediction drift: no model load
    registry_of(recorded).set_alias("production", version, actor="test", reason="test")
    (recorded / "fresh.csv").write_text("age\n1\n2\n3\n")
    run = recorded.run("drift", "--current", "fresh.csv")
    assert run.returncode == 2, run.stdout + run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert "internal error" not in line and f"{version}/profile.json" in line and message in line
