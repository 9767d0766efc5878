"""Deploys always restore: whatever interrupts one, production is served by a version that passed its smoke test.

A rival's promote during the deploy, a signal lost on its way, SIGKILL, SIGTERM or SIGINT at
random points, S3 going down mid-deploy, a file missing from the version: after each, the alias
and the pointer a serving system reads name a complete release that passed its smoke test.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlci.cli.output import exit_code
from tests.support.bundles import GOOD, OTHER, hostile_bundle
from tests.support.project import ProjectCopy, version_of
from tests.support.tools import Preloaded


@pytest.fixture(scope="module")
def bundles(trained, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small trained versions of the example and a hostile one built from the first (and the file it writes)."""
    root = tmp_path_factory.mktemp("hostile")
    out = {"good": trained(params=GOOD), "other": trained(params=OTHER), "marker": root / "marker.txt"}
    out["hostile"] = hostile_bundle(out["good"], root / "hostile", out["marker"])
    return out


@pytest.fixture
def pushed(project: ProjectCopy, bundles: dict[str, Path]) -> tuple[ProjectCopy, str]:
    """The example project (local registry) with the good version pushed; returns it and that version."""
    return project, project.push(bundles["good"])


@pytest.mark.parametrize("when", ["before the alias moves", "after the pointer switched"])
def test_a_concurrent_promote_during_a_deploy_is_exit_3_and_publishes_nothing_unsmoked(
    pushed, bundles, monkeypatch, when
):
    from mlci.config.schema import load_config
    from mlci.errors import DeployFailed
    from mlci.flows.deploy import deploy
    from mlci.github.context import GitHubContext
    from mlci.registry.references import open_registry
    from mlci.registry.registry import Registry

    project, good = pushed
    env = project.env
    config = load_config(project / "mlci.yaml", env=env)
    assert deploy(config, open_registry(config), good, "production", ctx=GitHubContext()).ok
    other = project.run("--json", "push", str(bundles["other"]))
    other_version = json.loads(other.stdout)["version"]
    # A third version, never smoke-tested in production: what a racing `promote` moves in.
    racer = json.loads(project.run("--json", "push", str(bundles["hostile"])).stdout)["version"]

    hook = "mark_smoked" if when == "before the alias moves" else "switch"
    original = getattr(Registry, hook)

    def racing(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        if kwargs.get("reason", "").startswith("deploy") or hook == "mark_smoked":
            monkeypatch.setattr(Registry, hook, original)  # once
            rival = open_registry(config)
            rival.set_alias("production", racer, actor="someone else", reason="promote")
        return result

    monkeypatch.setattr(Registry, hook, racing)
    with pytest.raises(DeployFailed) as failed:
        deploy(config, open_registry(config), other_version, "production", ctx=GitHubContext())
    assert exit_code(failed.value) == 3
    assert f"moved to {racer}" in str(failed.value) or "moved from" in str(failed.value)
    registry = open_registry(config)
    assert registry.alias("production").version == racer  # the rival's move is kept
    assert registry.published_version("production") == good  # neither ours nor the unsmoked one


def _interrupt_then_raise_ebadf(original, monkeypatch):
    """SIGINT lands inside a library call whose cleanup then raises (a socket closed under it: EBADF)."""
    import errno
    import signal

    def interrupted_io(self, *args, **kwargs):
        monkeypatch.setattr(type(self), original.__name__, original)
        try:
            os.kill(os.getpid(), signal.SIGINT)  # its handler runs at the next bytecode, in here
            for _ in range(1000):  # bounded: the handler raises long before
                original(self, *args, **kwargs)
        finally:
            raise OSError(errno.EBADF, "Bad file descriptor")

    return interrupted_io


def _interrupt_inside_a_del(original, monkeypatch):
    """SIGINT's exception is raised in a __del__ (ZipFile's, seen in the kill test): Python discards it."""
    import signal

    class Swallowing:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # its handler runs at the next bytecode, in here
            for _ in range(1000):  # bounded
                pass

    def then_swallowed(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        Swallowing()  # made and dropped at once: __del__ runs now
        return result

    return then_swallowed


@pytest.mark.parametrize(
    ("step", "interrupt"), [("mark_smoked", _interrupt_then_raise_ebadf), ("stage", _interrupt_inside_a_del)]
)
def test_a_signal_lost_on_the_way_still_interrupts_the_deploy_quietly(
    pushed, bundles, monkeypatch, capfd, step, interrupt
):
    # Whether another error replaced the signal's exception while unwinding, or Python discarded
    # it (printing "Exception ignored ... Traceback"), the deploy must still say it was
    # interrupted (exit 130), restore production and print no traceback.
    from mlci.config.schema import load_config
    from mlci.errors import DeployFailed
    from mlci.flows.deploy import deploy
    from mlci.github.context import GitHubContext
    from mlci.registry.references import open_registry
    from mlci.registry.registry import Registry

    project, good = pushed
    env = project.env
    config = load_config(project / "mlci.yaml", env=env)
    assert deploy(config, open_registry(config), good, "production", ctx=GitHubContext()).ok
    other = json.loads(project.run("--json", "push", str(bundles["other"])).stdout)["version"]
    monkeypatch.setattr(Registry, step, interrupt(getattr(Registry, step), monkeypatch))
    capfd.readouterr()
    with pytest.raises(DeployFailed) as failed:
        deploy(config, open_registry(config), other, "production", ctx=GitHubContext())
    assert exit_code(failed.value) == 130, str(failed.value)
    assert "failed: interrupted by SIGINT; rolled back" in str(failed.value)
    assert "Exception ignored" not in capfd.readouterr().err
    registry = open_registry(config)
    assert registry.alias("production").version == good and registry.published_version("production") == good


def deployment_state(store, env: str = "production") -> tuple[str | None, str | None, set[str]]:
    """Return (alias version, published pointer version, versions whose release passed its smoke test)."""
    from mlci.errors import NotFoundError

    def read(key: str) -> dict | None:
        try:
            return dict(json.loads(store.get(key)[0]))
        except NotFoundError:
            return None

    alias = read(f"churn/aliases/{env}.json")
    pointer = read(f"churn/deployments/{env}/CURRENT.json")
    prefix = f"churn/deployments/{env}/releases/"
    # A release is <version>-<rand>: one per deploy.
    smoked = {k[len(prefix) :][:16] for k in store.list(prefix) if k.endswith("/SMOKED.json")}
    return (alias or {}).get("version"), (pointer or {}).get("version"), smoked


def assert_serving_a_smoke_tested_version(store, released: dict[str, bytes]) -> None:
    """The pointer names a complete release that passed its smoke test, with the files of its version."""
    alias, pointer, smoked = deployment_state(store)
    assert pointer in smoked and alias in smoked, (alias, pointer, smoked)
    current = json.loads(store.get("churn/deployments/production/CURRENT.json")[0])
    base = f"churn/deployments/production/{current['prefix']}"
    assert store.get(base + "SMOKED.json")[0] and store.get(base + "manifest.json")[0]
    assert store.get(base + "model.skops")[0] == released[str(pointer)]


def interrupted_deploy(
    mlci_fork: Preloaded, project: ProjectCopy, env: dict[str, str], store, versions: list[str], after: float, interrupt
):
    """Deploy the version not in production; after `after` seconds send signal `interrupt` (or stop that server)."""
    import time

    target = versions[1] if deployment_state(store)[0] == versions[0] else versions[0]
    argv = ["deploy", target, "--env", "production"]
    if isinstance(interrupt, int):
        mlci_fork.start(argv, project.path, env, signal=interrupt, after=after)
    else:
        mlci_fork.start(argv, project.path, env)
        time.sleep(after)
        interrupt.stop(kill=True)
    code, _, err = mlci_fork.wait()
    return code, err


@pytest.mark.slow
def test_deploys_killed_at_random_points_leave_alias_and_published_copy_on_a_smoke_tested_version(
    project, bundles, tmp_path, monkeypatch
):
    """20 deploys killed by SIGKILL, SIGTERM or SIGINT at seeded random points, then a missing file.

    The deploys are real processes forked from one that has imported mlci (tests/support/tools.Preloaded),
    so the kill points spread over the deploy's own work rather than a fresh interpreter's imports.

    Guarantee checked after every run: the pointer a serving system reads names a complete
    release that passed its smoke test, and so does the alias. After SIGTERM/SIGINT they are
    the same version; after SIGKILL they may differ (alias moved, pointer not yet switched)
    until the next deploy or rollback, which reconciles them first.
    """
    from tests.support.s3_server import SeaweedFS

    # A server of this test's own: the S3-down run stops it.
    s3_server = SeaweedFS(tmp_path / "weed")
    s3_server.start()
    request_stop = s3_server.stop
    forks = tmp_path / "forks"
    forks.mkdir()
    try:
        with Preloaded(forks) as mlci_fork:
            _kill_deploys(mlci_fork, s3_server, project, bundles, monkeypatch)
    finally:
        request_stop(kill=True)


def _kill_deploys(mlci_fork: Preloaded, s3_server, project: ProjectCopy, bundles, monkeypatch) -> None:
    import random
    import signal
    import time

    from mlci.config.schema import load_config
    from mlci.registry.references import open_registry

    s3_bucket = s3_server.make_bucket()
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    env = project.on_s3(s3_server, s3_bucket).env
    store = open_registry(load_config(project / "mlci.yaml", env=env)).store
    versions = []
    released = {}
    for name in ("good", "other"):
        assert project.run("push", str(bundles[name])).returncode == 0
        versions.append(version_of(bundles[name]))
        released[versions[-1]] = (bundles[name] / "model.skops").read_bytes()
    # A whole deploy, measured here (the faster of two: the first pays lazy imports and
    # connections the later ones do not): the kill points spread over it.
    fulls = []
    for version in (versions[1], versions[0]):
        started = time.monotonic()
        mlci_fork.start(["deploy", version, "--env", "production"], project.path, env)
        assert mlci_fork.wait()[0] == 0
        fulls.append(time.monotonic() - started)
    full = min(fulls)

    rng = random.Random(12)
    signals = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]
    outcomes: list[tuple[str, int]] = []

    def interrupted() -> list[tuple[str, int]]:  # the runs a signal ended mid-way (killed, or caught and rolled back)
        return [o for o in outcomes if o[1] in (-9, -15, 130, 143)]

    # 20 runs, and up to 10 more while fewer than 10 were interrupted mid-way: on a loaded machine
    # a deploy can finish before a kill point measured on a quieter one (bounded either way).
    for i in range(30):
        if i >= 20 and len(interrupted()) >= 10:
            break
        sig = signals[i % 3]
        code, err = interrupted_deploy(
            mlci_fork, project, env, store, versions, rng.uniform(0.05, 0.95) * full, sig.value
        )
        outcomes.append((sig.name, code))
        alias, pointer, _ = deployment_state(store)
        assert_serving_a_smoke_tested_version(store, released)
        assert "Traceback" not in err, err
        if "rolled back" in err:  # SIGINT/SIGTERM caught mid-deploy: restored before exiting
            assert code in (130, 143) and alias == pointer, (err, alias, pointer)
        if alias != pointer:  # only a SIGKILL (now or in a run no deploy has reconciled since)
            assert any(code == -9 for _, code in outcomes), (outcomes, alias, pointer)
    assert len(interrupted()) >= 10, f"too few runs were interrupted mid-way: {outcomes}"

    # S3 goes down in the middle of a deploy: exit 4, and after it is back nothing is half.
    code, err = interrupted_deploy(mlci_fork, project, env, store, versions, rng.uniform(0.5, 1.0) * full, s3_server)
    assert code in (0, 4), err
    if code == 4:
        assert "S3" in err and "Traceback" not in err
    s3_server.start()
    assert_serving_a_smoke_tested_version(store, released)

    # A missing file in the version: refused before anything moves.
    alias, pointer, _ = deployment_state(store)
    other = versions[1] if alias == versions[0] else versions[0]
    for key in store.list(f"churn/deployments/production/releases/{other}"):
        if key.endswith("/SMOKED.json"):
            store.delete(key)
    store.delete(f"churn/versions/{other}/smoke.parquet")
    missing = project.run("deploy", other, "--env", "production")
    assert missing.returncode == 2, missing.stderr
    assert f"churn/versions/{other}/smoke.parquet does not exist" in missing.stderr
    after = deployment_state(store)
    assert after[0] == after[1] == alias, (after, outcomes)  # the deploy's reconcile ran first
    assert_serving_a_smoke_tested_version(store, released)
