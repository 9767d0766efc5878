"""Input that is malformed on purpose or by accident is one clear line and its exit code.

GitHub answers that break its API description (a `Retry-After: soon`, a comment whose body is
a number), YAML and JSON nested thousands of levels deep, and table paths that are FIFOs,
devices or symlinks out of the repository: each is refused in one line naming the file, field
or value, never `internal error`, never a hang.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlci.github.client import GitHubClient
from tests.integration.test_pr_report_on_github import actions_env, pr_event
from tests.support.cli import mlci_env, run_mlci
from tests.support.github_server import GitHubServer
from tests.support.paths import EXAMPLE

DEEP = 5000


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dest = tmp_path / "churn"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".mlci", "__pycache__"))
    return dest


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "internal error" not in lines[0] and "Traceback" not in stderr
    return lines[0]


# --- GitHub answers -----------------------------------------------------------------------


def write_document(project: Path) -> None:
    """Write a comparison.json for `mlci report` (a check the data stopped: nothing to train)."""
    from mlci.contracts.document import report_document
    from mlci.github.context import GitHubContext

    doc = report_document(
        model="churn",
        comparison=None,
        validation=[],
        candidate=None,
        baseline=None,
        data=None,
        ctx=GitHubContext(),
        training="the data failed its expectations",
    )
    (project / "comparison.json").write_text(doc.to_json())


@pytest.fixture
def posting(project: Path, tmp_path: Path, github_server: GitHubServer, monkeypatch) -> dict[str, str]:
    """Return the environment of `mlci report --post` in a PR job; the client's waits are recorded, not slept."""
    waits: list[float] = []
    monkeypatch.setattr(GitHubClient, "_sleep", lambda self, seconds: waits.append(seconds))
    write_document(project)
    event = tmp_path / "event.json"
    pr_event(event, github_server)
    return actions_env(tmp_path, github_server, event)


def test_a_rate_limit_with_retry_after_soon_is_exit_4_after_the_bounded_wait(project, posting, github_server):
    github_server.rate_limit_next(reset_in=3600, retry_after="soon")

    run = run_mlci(project, "report", "--post", env=posting)

    assert run.returncode == 4, run.stderr
    line = one_line(run.stderr.replace(f"::add-mask::{github_server.token}", ""))
    assert line.startswith("GitHub rate limit exhausted until ")
    assert line.endswith("(in 60 s); mlci waits at most 60 s — re-run later")
    assert github_server.comments(42) == []


def test_a_comment_whose_body_is_a_number_is_exit_4_naming_the_field(project, posting, github_server):
    github_server.add_comment(42, "looks good", user="reviewer")
    github_server.corrupt_next("body", 12345, method="GET")

    run = run_mlci(project, "report", "--post", env=posting)

    assert run.returncode == 4, run.stderr
    assert one_line(run.stderr.replace(f"::add-mask::{github_server.token}", "")) == (
        "GitHub API GET /repos/octo-org/ml-repo/issues/42/comments: in GitHub's answer, `[0].body` is a number, "
        "not a string (GitHub's API description does not allow that answer (a proxy, or a change at GitHub?); "
        "re-run later, and report it if it persists)"
    )
    assert [c["body"] for c in github_server.comments(42)] == ["looks good"]


# --- nesting ------------------------------------------------------------------------------


def test_an_mlci_yaml_nested_5000_levels_deep_is_refused_before_it_is_parsed(project):
    (project / "mlci.yaml").write_text("model:\n  name: churn\n  params: " + "[" * DEEP + "]" * DEEP + "\n")

    run = run_mlci(project, "config", "check")

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

    run = run_mlci(project, "config", "check")

    assert run.returncode == 2, run.stderr
    line = one_line(run.stderr)
    assert line.startswith("mlci.yaml:")
    assert "YAML (its aliases expanded) nested more than 64 levels deep; refusing to read it" in line


def test_a_deeply_nested_table_argument_is_refused(project):
    run = run_mlci(project, "validate", "--data", "{sql: " + "[" * DEEP + "]" * DEEP + "}")

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

    run = run_mlci(project, "deploy", "staging", "--env", "production")

    assert run.returncode == 2, run.stderr
    assert one_line(run.stderr) == (
        f"{aliases / 'staging.json'} is not a valid alias record: JSON nested more than 64 levels deep; "
        "refusing to read it"
    )


def test_a_deeply_nested_event_is_skipped_with_a_warning(project):
    events = project / ".mlci" / "registry" / "churn" / "events"
    events.mkdir(parents=True)
    (events / "20300101T000000.000000Z-planted.json").write_text(deep_json())

    run = run_mlci(project, "--json", "history")

    assert run.returncode == 0, run.stderr
    assert "warning: skipped event" in run.stderr and "20300101T000000.000000Z-planted.json" in run.stderr
    assert json.loads(run.stdout)["events"] == []


@pytest.mark.parametrize("where", ["expectations/churn.json", "comparison.json"])
def test_a_deeply_nested_suite_or_comparison_is_refused_in_one_line(project, where):
    (project / where).write_text(deep_json())
    args = ["validate", "--data", "test"] if where.startswith("expectations") else ["report"]

    run = run_mlci(project, *args)

    assert run.returncode == 2, run.stderr
    assert one_line(run.stderr).endswith(f"{where}: JSON nested more than 64 levels deep; refusing to read it")


# --- table paths --------------------------------------------------------------------------


def mlci_process(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A whole process with a deadline: a reader opening a FIFO would wait for a writer forever.
    return subprocess.run(
        [sys.executable, "-m", "mlci", *args], cwd=project, env=mlci_env(), capture_output=True, text=True, timeout=60
    )


def test_a_fifo_named_as_data_train_or_as_the_config_is_refused_at_once(project):
    train = project / "data" / "train.csv"
    train.unlink()
    os.mkfifo(train)
    os.mkfifo(project / "fifo.yaml")

    run = mlci_process(project, "validate", "--data", "train")
    config = mlci_process(project, "-c", "fifo.yaml", "config", "check")

    assert run.returncode == 2, run.stderr
    assert one_line(run.stderr) == f"{train}: is a FIFO, not a regular file; mlci reads tables only from regular files"
    assert config.returncode == 2, config.stderr
    assert one_line(config.stderr) == "fifo.yaml: not a regular file; mlci reads its config only from a file"


def test_a_device_named_on_the_command_line_is_refused(project):
    run = run_mlci(project, "validate", "--data", "/dev/null")

    assert run.returncode == 2, run.stderr
    assert (
        one_line(run.stderr) == "/dev/null: is a device, not a regular file; mlci reads tables only from regular files"
    )


def test_a_data_symlink_leaving_the_repository_is_refused(project):
    train = project / "data" / "train.csv"
    train.unlink()
    train.symlink_to("/etc/passwd")

    run = run_mlci(project, "validate", "--data", "train")

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
    shutil.move(project, repo / "churn")
    project = repo / "churn"
    shared = repo / "shared"
    shared.mkdir()
    shutil.move(project / "data" / "test.csv", shared / "test.csv")
    (project / "data" / "test.csv").symlink_to(shared / "test.csv")
    outside = tmp_path / "fresh.csv"
    shutil.copy(shared / "test.csv", outside)

    assert run_mlci(project, "validate", "--data", "test").returncode == 0

    relative = os.path.relpath(outside, project)
    refused = run_mlci(project, "validate", "--data", relative)
    assert refused.returncode == 2, refused.stderr
    assert one_line(refused.stderr).startswith(f"{relative}: leads to {outside}, outside the repository {repo};")

    explicit = run_mlci(project, "validate", "--data", str(outside))
    assert explicit.returncode == 0, explicit.stderr
