"""What a pull request's job can plant in the registry or the checkout is refused or ignored, in one line.

An event that is no object, an alias name with a newline, an alias record whose version is a
path, a symlinked deployment folder: the registry reads each as the data it is and never
follows it outside itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.bundles import GOOD, OTHER
from tests.support.project import ProjectCopy


@pytest.fixture
def bundles(trained) -> dict[str, Path]:
    """Two small trained versions of the example, trained once a session."""
    return {"good": trained(params=GOOD), "other": trained(params=OTHER)}


@pytest.fixture
def pushed(project: ProjectCopy, bundles: dict[str, Path]) -> tuple[ProjectCopy, str]:
    """The example project (local registry) with the good version pushed; returns it and that version."""
    return project, project.push(bundles["good"])


def test_a_non_object_event_is_skipped_with_a_warning(pushed):
    project, version = pushed
    events = project / ".mlci" / "registry" / "churn" / "events"
    (events / "20300101T000000.000000Z-planted.json").write_text("[1, 2, 3]")
    run = project.run("--json", "history")
    assert run.returncode == 0, run.stderr
    assert "warning: skipped event" in run.stderr and "20300101T000000.000000Z-planted.json" in run.stderr
    assert [e["action"] for e in json.loads(run.stdout)["events"]] == ["push"]
    promoted = project.run("promote", version, "--to", "staging")
    assert promoted.returncode == 0, promoted.stderr


def test_a_name_with_a_trailing_newline_is_refused(pushed):
    project, version = pushed
    run = project.run("promote", version, "--to", "evil\n")
    assert run.returncode == 2
    assert "invalid alias name 'evil\\n'" in run.stderr
    assert not list((project / ".mlci" / "registry" / "churn").glob("aliases/evil*"))


def test_an_alias_record_without_a_well_formed_version_is_refused(pushed):
    project, _ = pushed
    (project / ".mlci" / "registry" / "churn" / "aliases").mkdir(parents=True, exist_ok=True)
    (project / ".mlci" / "registry" / "churn" / "aliases" / "staging.json").write_text(
        json.dumps({"version": "../../../etc", "previous": None})
    )
    run = project.run("deploy", "staging", "--env", "production")
    assert run.returncode == 2
    assert "is not a valid alias record: field 'version' is \"../../../etc\": not a version id" in run.stderr


def test_publish_never_follows_a_symlinked_deployment_directory(pushed, tmp_path):
    project, version = pushed
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    deployments = project / ".mlci" / "registry" / "churn" / "deployments"
    deployments.mkdir(parents=True)
    (deployments / "production").symlink_to(outside)

    run = project.run("deploy", version, "--env", "production")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "deployments/production: is a symlink inside the registry; mlci does not follow it" in run.stderr
    assert [p.name for p in outside.iterdir()] == ["precious.txt"]
    assert (outside / "precious.txt").read_text() == "keep me"
