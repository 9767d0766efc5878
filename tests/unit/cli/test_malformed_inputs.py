"""Input that is malformed on purpose or by accident is one clear line and its exit code.

YAML and JSON nested thousands of levels deep, a zip bomb in a model file, and table paths that
are devices or symlinks out of the repository: each is refused in one line naming the file,
field or value, never `internal error`. (Inputs that could hang a reader run as processes under
a deadline: tests/integration/test_inputs_that_could_hang.py; GitHub's malformed answers:
tests/integration/test_hostile_github_servers.py.)
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.support.bundles import GOOD, rehash
from tests.support.cli import one_line
from tests.support.project import ProjectCopy

DEEP = 5000


# --- nesting ------------------------------------------------------------------------------


def test_an_mlci_yaml_nested_5000_levels_deep_is_refused_before_it_is_parsed(project):
    (project / "mlci.yaml").write_text("model:\n  name: churn\n  params: " + "[" * DEEP + "]" * DEEP + "\n")

    run = project.run("config", "check")

    assert run.returncode == 2, run.stderr
    assert one_line(run.stderr) == (
        "mlci.yaml:3 YAML nested more than 64 levels deep; refusing to read it "
        "(no file mlci reads needs more than a few levels)"
    )


def test_yaml_aliases_that_nest_deeply_once_expanded_are_refused(project):
    # Each anchor is 40 levels deep and holds the one before it: shallow as written, 1,000 levels expanded.
    lines = ["a0: &a0 " + "[" * 40 + "]" * 40]
    for i in range(1, 25):
        lines.append(f"a{i}: &a{i} " + "[" * 39 + f"*a{i - 1}" + "]" * 39)
    (project / "mlci.yaml").write_text("\n".join(lines) + "\nmodel: *a24\n")

    run = project.run("config", "check")

    assert run.returncode == 2, run.stderr
    line = one_line(run.stderr)
    assert line.startswith("mlci.yaml:")
    assert "YAML (its aliases expanded) nested more than 64 levels deep; refusing to read it" in line


def test_a_deeply_nested_table_argument_is_refused(project):
    run = project.run("validate", "--data", "{sql: " + "[" * DEEP + "]" * DEEP + "}")

    assert run.returncode == 2, run.stderr
    line = one_line(run.stderr)
    assert line.startswith("{sql: [[[[")
    assert "…: YAML nested more than 64 levels deep; refusing to read it" in line


def deep_json() -> str:
    return '{"version": ' + "[" * DEEP + "]" * DEEP + "}"


def test_a_deeply_nested_alias_record_is_refused_in_one_line(project):
    aliases = project / ".mlci" / "registry" / "churn" / "aliases"
    aliases.mkdir(parents=True)
    (aliases / "staging.json").write_text(deep_json())

    run = project.run("deploy", "staging", "--env", "production")

    assert run.returncode == 2, run.stderr
    assert one_line(run.stderr) == (
        f"{aliases / 'staging.json'} is not a valid alias record: JSON nested more than 64 levels deep; "
        "refusing to read it"
    )


def test_a_deeply_nested_event_is_skipped_with_a_warning(project):
    events = project / ".mlci" / "registry" / "churn" / "events"
    events.mkdir(parents=True)
    (events / "20300101T000000.000000Z-planted.json").write_text(deep_json())

    run = project.run("--json", "history")

    assert run.returncode == 0, run.stderr
    assert "warning: skipped event" in run.stderr and "20300101T000000.000000Z-planted.json" in run.stderr
    assert json.loads(run.stdout)["events"] == []


@pytest.mark.parametrize("where", ["expectations/churn.json", "comparison.json"])
def test_a_deeply_nested_suite_or_comparison_is_refused_in_one_line(project, where):
    (project / where).write_text(deep_json())
    args = ["validate", "--data", "test"] if where.startswith("expectations") else ["report"]

    run = project.run(*args)

    assert run.returncode == 2, run.stderr
    assert one_line(run.stderr).endswith(f"{where}: JSON nested more than 64 levels deep; refusing to read it")


def test_a_device_named_on_the_command_line_is_refused(project):
    run = project.run("validate", "--data", "/dev/null")

    assert run.returncode == 2, run.stderr
    assert (
        one_line(run.stderr) == "/dev/null: is a device, not a regular file; mlci reads tables only from regular files"
    )


def test_a_data_symlink_leaving_the_repository_is_refused(project):
    train = project / "data" / "train.csv"
    train.unlink()
    train.symlink_to("/etc/passwd")

    run = project.run("validate", "--data", "train")

    assert run.returncode == 2, run.stderr
    assert one_line(run.stderr) == (
        f"{train}: leads to /etc/passwd, outside the repository {project}; mlci reads a relative table path "
        "only inside the repository (put the file in the repository, or name it by an absolute path)"
    )


def test_the_repository_is_the_git_work_tree_and_absolute_paths_are_explicit(project, tmp_path):
    # mlci.yaml one level below the work tree's root: a symlink to a table elsewhere in the
    # work tree is inside the repository; a file outside it is read only when named absolutely.
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".git").mkdir()
    shutil.move(project.path, repo / "churn")
    project = ProjectCopy(repo / "churn")
    shared = repo / "shared"
    shared.mkdir()
    shutil.move(project / "data" / "test.csv", shared / "test.csv")
    (project / "data" / "test.csv").symlink_to(shared / "test.csv")
    outside = tmp_path / "fresh.csv"
    shutil.copy(shared / "test.csv", outside)

    assert project.run("validate", "--data", "test").returncode == 0

    relative = os.path.relpath(outside, project)
    refused = project.run("validate", "--data", relative)
    assert refused.returncode == 2, refused.stderr
    assert one_line(refused.stderr).startswith(f"{relative}: leads to {outside}, outside the repository {repo};")

    explicit = project.run("validate", "--data", str(outside))
    assert explicit.returncode == 0, explicit.stderr


# --- bombs ----------------------------------------------------------------------------------


def test_skops_zip_bomb_is_refused_before_it_is_inflated(project, trained, tmp_path):
    import zipfile

    project.with_("model.max_model_mb", 1)
    good = trained(params=GOOD)
    bomb = tmp_path / "bomb.skops"
    with zipfile.ZipFile(good / "model.skops") as src, zipfile.ZipFile(bomb, "w") as out:
        for info in src.infolist():
            out.writestr(info.filename, src.read(info.filename))
        out.writestr("padding.npy", b"\0" * (8 * 1024 * 1024), compress_type=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 1024 * 1024
    bundle = tmp_path / "bundle"
    shutil.copytree(good, bundle)
    rehash(bundle, bomb.read_bytes())

    run = project.run("evaluate", "--candidate", str(bundle))
    assert run.returncode == 2, run.stderr
    assert "member 'padding.npy' expands to 8 MiB" in run.stderr and "model.max_model_mb = 1" in run.stderr
