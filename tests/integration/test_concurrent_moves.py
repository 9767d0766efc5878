"""Concurrent moves of one alias or environment: each move has one winner, losers exit 3, nothing live is pruned.

Two `mlci promote` processes race to replace production; rounds of concurrent deploys race for
one environment. The deploys are real `mlci deploy` processes, forked together from one that
has imported mlci (tests/support/tools.Preloaded), so a round of ten costs their work and not
ten interpreters' imports.
The versions are tiny models (two features, five smoke rows): the race is in the registry, and
a small model keeps twenty rounds on each store cheap while every step of a deploy still runs.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.project import ProjectCopy
from tests.support.tools import Preloaded

pytestmark = pytest.mark.slow

ROUNDS = 20
RACERS = 10
ENV = "staging"


@pytest.fixture(scope="module")
def tiny_bundles(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Ten bundles of tiny, distinct logistic regressions, each with its smoke rows."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from mlci.contracts.manifest import Manifest
    from mlci.modeling.bundle import SMOKE, write_bundle

    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = (X.a + X.b > 0).astype(int)
    bundles = []
    for i in range(RACERS):
        model = LogisticRegression(C=0.1 * (i + 1)).fit(X, y)
        smoke = X.iloc[:5].copy()
        smoke["__mlci_prediction__"] = model.predict_proba(X.iloc[:5])[:, 1]
        rows = io.BytesIO()
        smoke.to_parquet(rows, index=False)
        manifest = Manifest(model="churn", task="classification", features=["a", "b"], created_at="2025-01-01")
        bundles.append(write_bundle(root / f"v{i}", model, manifest, {SMOKE: rows.getvalue()}).path)
    return bundles


def _project(project: ProjectCopy, store: str, request: pytest.FixtureRequest) -> ProjectCopy:
    if store == "s3":
        project.on_s3(request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket"))
    return project


def intact_smoked_releases(store, env: str) -> dict[str, set[str]]:
    """Return {version: its release folders} for the releases of `env` that are complete, unaltered and smoke-tested.

    Complete and unaltered: its manifest is the version's manifest and every file it lists is
    there with that sha256. Smoke-tested: its SMOKED.json names that version.
    """
    from mlci.errors import NotFoundError

    prefix = f"churn/deployments/{env}/releases/"
    folders = sorted({key[len(prefix) :].split("/")[0] for key in store.list(prefix)})
    intact: dict[str, set[str]] = {}
    for folder in folders:
        base = f"{prefix}{folder}/"
        try:
            smoked = json.loads(store.get(base + "SMOKED.json")[0])
            manifest_bytes = store.get(base + "manifest.json")[0]
            manifest = json.loads(manifest_bytes)
            version = manifest["version"]
            if smoked.get("version") != version:
                continue
            if store.get(f"churn/versions/{version}/manifest.json")[0] != manifest_bytes:
                continue
            if all(
                hashlib.sha256(store.get(base + name)[0]).hexdigest() == digest
                for name, digest in manifest["files"].items()
            ):
                intact.setdefault(version, set()).add(folder)
        except NotFoundError:
            continue
    return intact


def read(store, key: str) -> dict | None:
    from mlci.errors import NotFoundError

    try:
        return dict(json.loads(store.get(key)[0]))
    except NotFoundError:
        return None


@pytest.mark.parametrize("store", ["local", "s3"])
def test_concurrent_deploys_never_prune_a_live_or_previous_release_and_every_loser_exits_3(
    store: str, tiny_bundles: list[Path], project: ProjectCopy, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from mlci.config.schema import load_config
    from mlci.registry.references import open_registry

    project = _project(project, store, request)
    env = project.env
    versions = []
    for bundle in tiny_bundles:
        versions.append(project.push(bundle))
    registry_store = open_registry(load_config(project / "mlci.yaml", env=env)).store
    rng = random.Random(23)
    forks = tmp_path / "forks"
    forks.mkdir()
    outcomes = []
    with Preloaded(forks) as mlci_fork:
        for round_ in range(ROUNDS):
            # Staggered starts, as CI jobs start: some deploys read the alias after another moved it.
            runs = [(["deploy", v, "--env", ENV], rng.uniform(0.0, 0.3)) for v in rng.sample(versions, RACERS)]
            results = mlci_fork.together(runs, project.path, env)
            codes = [code for code, _, _ in results]
            outcomes.append(codes)
            for (argv, _), (code, out, err) in zip(runs, results, strict=True):
                assert code in (0, 3), (round_, argv, code, out + err)
                assert "Traceback" not in err, err
                if code == 3:  # one line naming the version and the environment
                    assert len(err.strip().splitlines()) == 1 and f"{argv[1]} to {ENV}" in err, err
            alias = read(registry_store, f"churn/aliases/{ENV}.json")
            pointer = read(registry_store, f"churn/deployments/{ENV}/CURRENT.json")
            intact = intact_smoked_releases(registry_store, ENV)
            state = (round_, codes, alias, pointer, intact)
            assert alias is not None and pointer is not None, state
            assert alias["version"] == pointer["version"], state
            assert pointer["prefix"].strip("/").split("/")[-1] in intact.get(pointer["version"], set()), state
            assert alias["version"] in intact, state
            if alias.get("previous"):
                assert alias["previous"] in intact, state
            # Every deploy ended, so none holds a lease; and old releases do get pruned: what is
            # neither live nor previous is at most the last two rounds' leftovers.
            assert registry_store.list(f"churn/deployments/{ENV}/leases/") == [], state
            releases = {
                k.split("/releases/")[1].split("/")[0]
                for k in registry_store.list(f"churn/deployments/{ENV}/releases/")
            }
            stale = {r for r in releases if r[:16] not in (alias["version"], alias.get("previous"))}
            assert len(stale) <= 2 * RACERS, (state, sorted(releases))
            # The audit log is read whole by every deploy (the version's last check, for its
            # verdict): cleared between rounds so that round 20 costs what round 1 does. Nothing
            # in the race reads it.
            for key in registry_store.list("churn/events/"):
                registry_store.delete(key)
        cpu = mlci_fork.cpu_seconds
    assert sum(codes.count(0) for codes in outcomes) >= ROUNDS, outcomes
    print(f"{store}: exit codes per round {outcomes}; deploys used {cpu:.1f} s of CPU")


WEAK = ("sklearn.tree.DecisionTreeClassifier", {"max_depth": 2})
GOOD = ("sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": 100, "learning_rate": 0.05, "max_depth": 3})
BAD = ("sklearn.tree.DecisionTreeClassifier", {"max_depth": 12})


def test_two_processes_racing_to_move_production_one_wins_one_exits_3(project):
    # Both compare against the weak model in production (the state tests/unit/flows/test_check.py starts from).
    project.with_estimator(*WEAK).with_production()
    for estimator in (GOOD, BAD):
        assert project.with_estimator(*estimator).run("check").returncode in (0, 1)
    before = project.alias("production")
    versions = [d.name for d in (project.registry / "versions").iterdir() if d.name != before]
    assert len(versions) == 2
    # Both processes compared against the same production version and now race to replace it.
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlci", "promote", v, "--to", "production", "--expect", before, "--allow-failed"],
            cwd=project,
            env=project.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in versions
    ]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 3], results
    loser_err = next(err for code, _, err in results if code == 3)
    assert "production" in loser_err and "Traceback" not in loser_err
    winner = versions[[code for code, _, _ in results].index(0)]
    record = json.loads((project.registry / "aliases" / "production.json").read_text())
    assert record["version"] == winner and record["previous"] == before
