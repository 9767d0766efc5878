"""Concurrent deploys to one environment: each move has one winner, losers exit 3, nothing live is pruned.

The deploys are real `mlci deploy` processes, forked together from one that has imported mlci
(tests/tools.Preloaded), so a round of ten costs their work and not ten interpreters' imports.
The versions are tiny models (two features, five smoke rows): the race is in the registry, and
a small model keeps twenty rounds on each store cheap while every step of a deploy still runs.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
from pathlib import Path

import pytest

from tests.support.cli import mlci_env, run_mlci
from tests.support.paths import EXAMPLE
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


def _project(tmp_path: Path, store: str, request: pytest.FixtureRequest) -> tuple[Path, dict[str, str]]:
    project = tmp_path / "churn"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".mlci", "__pycache__"))
    if store == "local":
        return project, mlci_env()
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    text = (project / "mlci.yaml").read_text()
    registry = (
        f"registry:\n  uri: s3://{bucket}/registry\n  endpoint_url: {server.endpoint_url}\n  addressing_style: path\n"
    )
    (project / "mlci.yaml").write_text(text.replace(text[text.index("registry:") :], registry))
    return project, mlci_env(**server.env)


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
    store: str, tiny_bundles: list[Path], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from mlci.config.schema import load_config
    from mlci.registry.references import open_registry

    project, env = _project(tmp_path, store, request)
    versions = []
    for bundle in tiny_bundles:
        pushed = run_mlci(project, "--json", "push", str(bundle), env=env)
        assert pushed.returncode == 0, pushed.stderr
        versions.append(json.loads(pushed.stdout)["version"])
    registry_store = open_registry(load_config(project / "mlci.yaml", env=env)).store
    rng = random.Random(23)
    forks = tmp_path / "forks"
    forks.mkdir()
    outcomes = []
    with Preloaded(forks) as mlci_fork:
        for round_ in range(ROUNDS):
            # Staggered starts, as CI jobs start: some deploys read the alias after another moved it.
            runs = [(["deploy", v, "--env", ENV], rng.uniform(0.0, 0.3)) for v in rng.sample(versions, RACERS)]
            results = mlci_fork.together(runs, project, env)
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
