"""Nothing a pull request can write runs or ships: hostile model files, tampered versions, forged records.

Each test plays the attacker who can write `versions/` (or the checkout): a model that runs code
when it is used, a version whose bytes were swapped, a manifest of the wrong types, a forged
check event, a hijacked alias, a planted cache entry. What a user sees is asserted: the exit code,
one clear line, and that nothing was lost (production unchanged, no marker written by code that
must not run). Where the store matters, each runs on a local registry and on a SeaweedFS bucket.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mlci.storage import Store
from tests.support.actions import write_pr_event
from tests.support.bundles import FUNCTIONS, GOOD, OTHER, claimed, hostile_bundle
from tests.support.project import ProjectCopy, version_of


@pytest.fixture(scope="module")
def bundles(trained, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small trained versions of the example and a hostile one built from the first (and the file it writes)."""
    root = tmp_path_factory.mktemp("hostile")
    out = {"good": trained(params=GOOD), "other": trained(params=OTHER), "marker": root / "marker.txt"}
    out["hostile"] = hostile_bundle(out["good"], root / "hostile", out["marker"])
    return out


@pytest.fixture(params=["local", "s3"])
def store_project(request: pytest.FixtureRequest, project: ProjectCopy) -> ProjectCopy:
    """The example project on a local registry or on a fresh bucket of the session's SeaweedFS."""
    if request.param == "s3":
        project.on_s3(request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket"))
    return project


@pytest.fixture
def pushed(project: ProjectCopy, bundles: dict[str, Path]) -> tuple[ProjectCopy, str]:
    """The example project (local registry) with the good version pushed; returns it and that version."""
    return project, project.push(bundles["good"])


def history(project: Path, env: dict[str, str]) -> dict:
    run = project.run("--json", "history")
    assert run.returncode == 0, run.stderr
    return dict(json.loads(run.stdout))


def alias_of(project: Path, env: dict[str, str], name: str) -> str | None:
    return next((a["version"] for a in history(project, env)["aliases"] if a["alias"] == name), None)


# --- loading: exact trust, content addressing -------------------------------------------------


def assert_refused_untrusted(run: subprocess.CompletedProcess[str], marker: Path) -> None:
    assert run.returncode == 2, run.stdout + run.stderr
    assert all(name in run.stderr for name in FUNCTIONS), run.stderr
    assert "model.trusted_types" in run.stderr and "Traceback" not in run.stderr
    assert not marker.exists(), "the hostile model's code ran"


@pytest.mark.slow
def test_numpy_only_code_running_model_is_refused_everywhere_and_never_runs(store_project, bundles):
    project, env = store_project, store_project.env
    hostile, marker = bundles["hostile"], bundles["marker"]
    good = version_of(bundles["good"])

    assert_refused_untrusted(project.run("evaluate", "--candidate", str(hostile)), marker)

    # The PR role can write versions/: the hostile version is stored, but nothing trusted runs it.
    assert project.run("push", str(hostile)).returncode == 0
    bad = version_of(hostile)
    assert_refused_untrusted(project.run("deploy", bad, "--env", "production"), marker)
    assert alias_of(project, env, "production") is None

    # A check whose baseline is the hostile version refuses it before it predicts anything.
    assert project.run("push", str(hostile), "--alias", "production").returncode == 0
    assert_refused_untrusted(project.run("check"), marker)

    # Rollback to it: production's previous version is the hostile one.
    for bundle in (bundles["good"], bundles["other"]):
        assert project.run("push", str(bundle)).returncode == 0
    assert project.run("deploy", good, "--env", "production").returncode == 0
    assert_refused_untrusted(project.run("rollback", "--env", "production"), marker)
    assert alias_of(project, env, "production") == good


def good_deployed_beside_other(
    project: ProjectCopy, env: dict[str, str], bundles: dict[str, Path]
) -> tuple[str, str, Store]:
    """Push `good` and `other`, deploy `good` to production; return both ids and the registry's store."""
    from mlci.config.schema import load_config
    from mlci.registry.references import open_registry

    good, other = version_of(bundles["good"]), version_of(bundles["other"])
    for bundle in (bundles["good"], bundles["other"]):
        assert project.run("push", str(bundle)).returncode == 0
    assert project.run("deploy", good, "--env", "production").returncode == 0
    # (the s3 variant's AWS_* variables are in this process's environment: see s3_bucket)
    return good, other, open_registry(load_config(project / "mlci.yaml", env=env)).store


@pytest.mark.slow
def test_swapped_model_bytes_with_a_consistent_manifest_are_refused_by_deploy(store_project, bundles, tmp_path):
    project, env = store_project, store_project.env
    good, other, store = good_deployed_beside_other(project, env, bundles)
    # Under version `other`, put the good model's bytes and a manifest that agrees with them.
    swapped = (bundles["good"] / "model.skops").read_bytes()
    manifest = json.loads((bundles["good"] / "manifest.json").read_text())
    store.put(f"churn/versions/{other}/model.skops", swapped)
    store.put(f"churn/versions/{other}/manifest.json", json.dumps(manifest).encode())

    run = project.run("deploy", other, "--env", "production")
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"describes version {good}, not {other}" in run.stderr and "Traceback" not in run.stderr
    assert alias_of(project, env, "production") == good
    current = json.loads(store.get("churn/deployments/production/CURRENT.json")[0])
    assert current["version"] == good


@pytest.mark.slow
@pytest.mark.parametrize(("field", "value"), [("pr", "7"), ("data", []), ("features", "tenure")])
def test_a_stored_manifest_with_a_wrong_type_is_refused_in_one_line_and_nothing_is_deployed(
    store_project, bundles, field, value
):
    """A PR's job can write any manifest.json: a field of the wrong type is exit 2, never a traceback."""
    project, env = store_project, store_project.env
    good, other, store = good_deployed_beside_other(project, env, bundles)
    # Content addressing still holds (sha256, files, version untouched): only the type is wrong.
    manifest = json.loads((bundles["other"] / "manifest.json").read_text())
    store.put(f"churn/versions/{other}/manifest.json", json.dumps({**manifest, field: value}).encode())
    shutil.rmtree(project / ".mlci" / "versions", ignore_errors=True)  # a fresh checkout's job

    for args in (("deploy", other, "--env", "production"), ("evaluate", "--candidate", other)):
        run = project.run(*args)
        assert run.returncode == 2, run.stdout + run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
        line = run.stderr.strip()
        assert f"{other}/manifest.json: field '{field}' is {json.dumps(value)}" in line, line
        assert "train and push the bundle again" in line and "internal error" not in line
    assert alias_of(project, env, "production") == good
    current = json.loads(store.get("churn/deployments/production/CURRENT.json")[0])
    assert current["version"] == good
    # history still lists the other versions and says which one it skipped
    listed = history(project, env)
    assert [v["version"] for v in listed["versions"]] == [good]
    assert any(w.startswith(f"skipped version {other}: ") and f"field '{field}'" in w for w in listed["warnings"])


def test_a_production_directory_in_the_checkout_does_not_change_the_baseline(pushed, bundles):
    project, version = pushed
    assert project.run("promote", version, "--to", "production").returncode == 0
    # The PR adds a weak "production" bundle to the checkout (here: the other model).
    shutil.copytree(bundles["other"], project / "production")
    run = project.run("--json", "evaluate", "--candidate", str(bundles["other"]))
    assert run.returncode in (0, 1), run.stderr
    assert json.loads(run.stdout)["baseline"]["version"] == version
    # Written as a path, the directory is still usable on purpose.
    own = project.run("--json", "evaluate", "--candidate", "./production", "--baseline", "production")
    assert json.loads(own.stdout)["candidate"]["version"] == version_of(bundles["other"])


@pytest.mark.slow
def test_forged_event_hijacked_alias_and_planted_cache_entry_get_nothing_promoted_or_reused(
    project, s3_server, s3_bucket, bundles, github_server, tmp_path
):
    from mlci.contracts.events import CheckDetails, CheckEvent
    from mlci.registry.references import open_registry

    env = project.on_s3(s3_server, s3_bucket).env
    gh = {**env, **github_server.env()}
    good = version_of(bundles["good"])
    assert project.run("push", str(bundles["good"]), "--alias", "production").returncode == 0

    # PR 12's check: a model that fails the gates against production.
    head12 = "1" * 40
    github_server.add_pull(12, head_sha=head12, merged=True)
    project.with_estimator("sklearn.tree.DecisionTreeClassifier", {"max_depth": 12})
    pr12 = {**env, "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(write_pr_event(tmp_path, 12, head12))}
    checked = project.run("--json", "check", env=pr12)
    assert checked.returncode == 1, checked.stderr
    failing = json.loads(checked.stdout)["candidate"]["version"]

    # 1. A forged event says it passed: the merge job re-evaluates and refuses.
    from mlci.config.schema import load_config

    registry = open_registry(load_config(project / "mlci.yaml", env=env))
    lie = CheckEvent(actor="github:attacker", alias="pr-12", version=failing, extra=CheckDetails(verdict="pass"))
    registry.log_event(lie)
    forged = project.run("promote", "--from-pr", "12", "--to", "staging", env=gh)
    assert forged.returncode == 1, forged.stdout + forged.stderr
    assert f"version {failing} failed its gates when re-evaluated against production in this job" in forged.stderr
    assert "stored verdict, informational only: pass" in forged.stdout

    # 2. PR 13's job points pr-12 at its own version: it was stored for PR 13.
    hijack = claimed(bundles["other"], tmp_path / "pr13", pr=13, git_sha="3" * 40)
    assert project.run("push", str(hijack), "--alias", "pr-12").returncode == 0
    hijacked = project.run("promote", "--from-pr", "12", "--to", "staging", env=gh)
    assert hijacked.returncode == 1
    assert "which was stored for PR #13, not #12" in hijacked.stderr

    # ... and a manifest that claims PR 12 but names another head than GitHub's record.
    liar = claimed(bundles["good"], tmp_path / "liar", pr=12, git_sha="f" * 40)
    registry.store.put(f"churn/versions/{good}/manifest.json", (liar / "manifest.json").read_bytes())
    registry.set_alias("pr-12", good, actor="github:attacker", reason="hijack")
    shutil.rmtree(project / ".mlci" / "versions")  # a merge job starts from a fresh checkout
    lied = project.run("promote", "--from-pr", "12", "--to", "staging", env=gh)
    assert lied.returncode == 1
    assert f"trained from commit {'f' * 40}, but GitHub records PR #12's head as {head12}" in lied.stderr
    assert registry.alias("staging") is None

    # 3. The failing version sits under the cache key every PR with this config computes;
    # PR 14's check must not reuse it (it is in no alias history of PR 14).
    pr14 = {
        **env,
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(write_pr_event(tmp_path, 14, "4" * 40)),
    }
    fresh = project.run("check", env=pr14)
    assert "train cache hit" not in fresh.stdout and "trained version" in fresh.stdout, fresh.stdout + fresh.stderr
