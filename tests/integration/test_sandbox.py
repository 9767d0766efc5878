"""A model mlci did not train in this process is checked, then scored in a contained process.

The attacker can write `versions/`: a bundle made only of default-trusted types with correct
hashes, whose tree arrays send scikit-learn's compiled loops out of bounds or round in circles,
is refused before it runs (mlci.modeling.trees; tests/unit/modeling/test_trees.py checks each
kind of tree). A model that crashes, hangs, computes or allocates without end anyway (here: a
class the project trusts by name) takes down only its contained process (mlci.modeling.sandbox):
the job ends within the deadline in one line naming the version, no core dump, production
untouched.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mlci.errors import ScoringFailed
from mlci.modeling.sandbox import Sandbox, score
from tests.support.cli import mlci_env
from tests.support.paths import EXAMPLE
from tests.support.project import ProjectCopy, version_of

# Models whose predict misbehaves, in the repository's own code (a module beside mlci.yaml) and
# listed in model.trusted_types: they run, so only the contained process can stop them.
HOSTILE_MODULE = "mlci_hostile_models"
HOSTILE = textwrap.dedent(
    """
    import ctypes, os, time
    import numpy as np

    class _Model:
        classes_ = np.array([0, 1])

        def __init__(self, pidfile=""):
            self.pidfile = pidfile

        def predict_proba(self, X):
            if self.pidfile:
                with open(self.pidfile, "w") as f:
                    f.write(str(os.getpid()))
            self.act()
            return np.full((len(X), 2), 0.5)

        def predict(self, X):
            return np.zeros(len(X), dtype="int64")

    class Crash(_Model):
        def act(self):
            ctypes.string_at(0)  # reads address 0: SIGSEGV

    class Hang(_Model):
        def act(self):
            time.sleep(3600)

    class Spin(_Model):
        def act(self):
            while True:
                pass

    class Hog(_Model):
        def act(self):
            held = [np.ones(4 << 20) for _ in range(64)]  # 32 MiB each, written: 2 GiB in all
            del held

    class Fails(_Model):
        def act(self):
            raise ValueError("no column 'plan' in these rows")
    """
)
KINDS = ("Crash", "Hang", "Spin", "Hog", "Fails")
TRUSTED = tuple(f"{HOSTILE_MODULE}.{kind}" for kind in KINDS)


@pytest.fixture(scope="module")
def models(trained, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real bundle of the example (trained once), crafted tree bundles and hostile-class bundles built from it."""
    from mlci.modeling.bundle import load_model, open_bundle

    root = tmp_path_factory.mktemp("models")
    out = {"good": trained(params={"max_iter": 20, "max_depth": 3}), "code": root / "code"}
    (root / "code").mkdir()
    (root / "code" / f"{HOSTILE_MODULE}.py").write_text(HOSTILE)

    good = open_bundle(out["good"])
    pipeline = load_model(good)
    hgb = pipeline.steps[-1][1]
    for name, edit in (
        ("predictor-child-out-of-bounds", {"left": 2**31 - 1}),
        ("predictor-loops", {"left": 0, "right": 0}),
    ):
        crafted = load_model(good)
        nodes = crafted.steps[-1][1]._predictors[0][0].nodes
        assert not nodes["is_leaf"][0] and hgb.n_features_in_ == crafted.steps[-1][1].n_features_in_
        for field, value in edit.items():
            nodes[field][0] = value
        out[name] = rebuild(good.path, crafted, root / name)
    out["tree-child-out-of-bounds"] = rebuild(good.path, crafted_decision_tree(good), root / "tree")

    sys.path.insert(0, str(root / "code"))
    try:
        import importlib

        module = importlib.import_module(HOSTILE_MODULE)
        for kind in KINDS:
            out[kind] = rebuild(good.path, getattr(module, kind)(), root / kind)
        out["Hang-pidfile"] = rebuild(good.path, module.Hang(pidfile=str(root / "hang.pid")), root / "Hang-pidfile")
    finally:
        sys.path.remove(str(root / "code"))
        sys.modules.pop(HOSTILE_MODULE, None)
    return out


def rebuild(template: Path, model: object, dest: Path) -> Path:
    """Write `model` as a bundle with the template's manifest fields and files, hashed as push expects."""
    from mlci.contracts.manifest import Manifest
    from mlci.modeling.bundle import write_bundle

    manifest = json.loads((template / "manifest.json").read_text())
    extras = {n: (template / n).read_bytes() for n in manifest["files"] if n != "model.skops"}
    for key in ("sha256", "version", "files"):
        manifest.pop(key)
    return write_bundle(dest, model, Manifest.model_validate(manifest), extras).path


def crafted_decision_tree(good) -> object:
    """Return the example's pipeline ending in a DecisionTreeClassifier whose root's left child is 2**31-1."""
    import pandas as pd
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.tree._tree import Tree

    from mlci.modeling.bundle import load_model

    pipeline = load_model(good)
    preprocess = pipeline[:-1]
    test = pd.read_csv(EXAMPLE / "data" / "test.csv")
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(
        preprocess.transform(test[good.manifest.features]), test["churned"]
    )
    state = tree.tree_.__getstate__()
    state["nodes"] = state["nodes"].copy()
    state["nodes"]["left_child"][0] = 2**31 - 1
    crafted = Tree(tree.tree_.n_features, tree.tree_.n_classes, tree.tree_.n_outputs)
    crafted.__setstate__(state)
    tree.tree_ = crafted
    return Pipeline([*pipeline.steps[:-1], ("model", tree)])


def rows(n: int = 5):
    import pandas as pd

    return pd.read_csv(EXAMPLE / "data" / "test.csv").head(n)


def sandbox(models: dict[str, Path], **limits: float) -> Sandbox:
    return Sandbox(trusted_types=TRUSTED, paths=(str(models["code"]),), **limits)  # type: ignore[arg-type]


def bundle(models: dict[str, Path], name: str):
    from mlci.modeling.bundle import open_bundle

    return open_bundle(models[name])


# --- the contained process ---------------------------------------------------------------------


def test_a_model_that_crashes_fails_in_one_line_and_the_caller_lives_on(models):
    with pytest.raises(ScoringFailed) as caught:
        score(bundle(models, "Crash"), rows(), sandbox(models))
    assert str(caught.value).startswith(
        f"version {version_of(models['Crash'])}: the model crashed its contained process (SIGSEGV) while scoring 5 rows"
    ), caught.value
    assert "faulthandler" not in str(caught.value) and "\n" not in str(caught.value)
    assert "Fatal Python error: Segmentation fault" in str(caught.value.__cause__)  # what -v shows


def test_a_model_that_hangs_is_killed_at_the_deadline(models):
    started = time.monotonic()
    with pytest.raises(ScoringFailed, match=r"still scoring 5 rows after model\.sandbox\.timeout_seconds = 2 s; "):
        score(bundle(models, "Hang"), rows(), sandbox(models, timeout_seconds=2))
    assert 2 <= time.monotonic() - started < 2 + 8


def test_a_model_that_computes_without_end_is_stopped_by_the_cpu_limit(models):
    started = time.monotonic()
    with pytest.raises(ScoringFailed, match=r"used more than model\.sandbox\.cpu_seconds = 1 s of CPU .*\(SIGXCPU\)"):
        score(bundle(models, "Spin"), rows(), sandbox(models, cpu_seconds=1, timeout_seconds=60))
    assert time.monotonic() - started < 30


def test_a_model_that_allocates_without_end_is_stopped_by_the_memory_limit(models):
    with pytest.raises(ScoringFailed) as caught:
        score(bundle(models, "Hog"), rows(), sandbox(models, memory_mb=256))
    assert str(caught.value).startswith(
        f"version {version_of(models['Hog'])}: needed more than model.sandbox.memory_mb = 256 MiB while scoring 5 rows"
    ), caught.value


def test_an_error_the_model_raises_is_named_with_its_version(models):
    with pytest.raises(ScoringFailed) as caught:
        score(bundle(models, "Fails"), rows(), sandbox(models))
    assert caught.value.raised == "ValueError: no column 'plan' in these rows"
    assert str(caught.value) == (
        f"version {version_of(models['Fails'])}: the model raised ValueError: no column 'plan' in these rows "
        "while scoring 5 rows"
    )


def test_predictions_come_back_exactly_as_computed_in_process(models, tmp_path):
    import pandas as pd
    from sklearn.dummy import DummyClassifier

    from mlci.modeling.bundle import load_model
    from mlci.modeling.training import predictions

    good = bundle(models, "good")
    frame = rows(1000)[good.manifest.features]
    here = predictions(load_model(good), frame, "classification")
    there = score(good, frame, Sandbox())
    assert np.array_equal(there.labels, here.labels) and there.labels.dtype == here.labels.dtype
    assert np.array_equal(there.proba, here.proba)
    assert there.classes == here.classes and [type(c) for c in there.classes] == [type(c) for c in here.classes]

    # String classes: labels are objects, classes Python strings, as scikit-learn gives them.
    y = pd.Series(["stays", "churns", "stays", "stays"], dtype=object)
    dummy = DummyClassifier(strategy="stratified", random_state=0).fit(np.zeros((4, 1)), y)
    strings = load_model(open_bundle_of(rebuild(good.path, dummy, tmp_path / "dummy")))
    local = predictions(strings, frame, "classification")
    remote = score(open_bundle_of(tmp_path / "dummy"), frame, Sandbox())
    assert remote.labels.dtype == object and list(remote.labels) == list(local.labels)
    assert remote.classes == ["churns", "stays"] and all(type(c) is str for c in remote.classes)


def open_bundle_of(path: Path):
    from mlci.modeling.bundle import open_bundle

    return open_bundle(path)


class _Interrupted(BaseException):
    pass


def test_an_interrupted_caller_leaves_no_child_behind(models, tmp_path):
    """SIGTERM/SIGINT in a deploy raise in the main thread while it waits: the child is killed, not orphaned."""
    pidfile = models["Hang-pidfile"].parent / "hang.pid"
    pidfile.unlink(missing_ok=True)
    previous = signal.signal(signal.SIGUSR1, lambda *_: (_ for _ in ()).throw(_Interrupted()))

    def interrupt_once_running() -> None:
        for _ in range(600):
            if pidfile.exists() and pidfile.read_text():
                break
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGUSR1)

    threading.Thread(target=interrupt_once_running, daemon=True).start()
    try:
        with pytest.raises(_Interrupted):
            score(bundle(models, "Hang-pidfile"), rows(), sandbox(models, timeout_seconds=120))
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert_gone(int(pidfile.read_text()))


def assert_gone(pid: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"the contained process {pid} outlived its caller")


@pytest.mark.slow
def test_a_caller_killed_with_sigkill_leaves_no_child_behind(models):
    pidfile = models["Hang-pidfile"].parent / "hang.pid"
    pidfile.unlink(missing_ok=True)
    script = textwrap.dedent(
        f"""
        import pandas as pd
        from mlci.modeling.bundle import open_bundle
        from mlci.modeling.sandbox import Sandbox, score
        rows = pd.read_csv({str(EXAMPLE / "data" / "test.csv")!r}).head(5)
        score(open_bundle(__import__("pathlib").Path({str(models["Hang-pidfile"])!r})), rows,
              Sandbox(trusted_types={TRUSTED!r}, paths=({str(models["code"])!r},), timeout_seconds=600))
        """
    )
    caller = subprocess.Popen([sys.executable, "-c", script], env=mlci_env())
    try:
        for _ in range(1200):
            if pidfile.exists() and pidfile.read_text():
                break
            assert caller.poll() is None, "the caller ended before its model ran"
            time.sleep(0.05)
        caller.kill()
    finally:
        caller.kill()
        caller.wait(30)
    assert_gone(int(pidfile.read_text()))


# --- through the commands: evaluate, deploy, rollback ------------------------------------------


@pytest.fixture
def production(models, project) -> tuple[ProjectCopy, dict[str, str], str]:
    """The example project with small limits, trusting the hostile classes, the good version in production."""
    shutil.copy(models["code"] / f"{HOSTILE_MODULE}.py", project.path)
    project.with_("model.trusted_types", list(TRUSTED)).with_("model.sandbox", {"timeout_seconds": 5, "memory_mb": 256})
    env = project.env
    good = project.push(models["good"])
    deployed = project.run("deploy", good, "--env", "production")
    assert deployed.returncode == 0, deployed.stderr
    return project, env, good


def production_state(project: ProjectCopy) -> tuple[str | None, str | None]:
    root = project / ".mlci" / "registry" / "churn"
    alias = json.loads((root / "aliases" / "production.json").read_text())["version"]
    current = json.loads((root / "deployments" / "production" / "CURRENT.json").read_text())["version"]
    return alias, current


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("predictor-child-out-of-bounds", "node 0's left child is 2147483647, outside its"),
        ("predictor-loops", "node 0's left child is 0, itself or an earlier node"),
        ("tree-child-out-of-bounds", "node 0's left child is 2147483647, outside its"),
        ("Hog", "needed more than model.sandbox.memory_mb = 256 MiB while scoring"),
    ],
)
def test_a_hostile_version_fails_evaluate_deploy_and_rollback_in_one_line_and_production_stays(
    models, production, name, problem
):
    project, _env, good = production
    bad = version_of(models[name])
    assert project.run("push", str(models[name])).returncode == 0
    for args, code in (
        (("evaluate", "--candidate", bad), 2),
        (("deploy", bad, "--env", "production"), 1),  # its smoke test failed: undone
        (("rollback", "--env", "production", "--to", bad), 1),
    ):
        started = time.monotonic()
        run = project.run(*args)
        assert time.monotonic() - started < 60
        assert run.returncode == code, (args, run.stdout, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and bad in lines[0] and problem in lines[0], (args, run.stderr)
        assert "Traceback" not in run.stderr and "internal error" not in run.stderr
        assert production_state(project) == (good, good)


def _raised_core_limit() -> None:
    # So that a crash would leave a core file here if the contained process did not forbid it.
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


@pytest.mark.slow
def test_a_crashing_model_ends_evaluate_as_a_process_with_one_line_and_no_core_dump(models, production):
    project, env, good = production
    bad = version_of(models["Crash"])
    assert project.run("push", str(models["Crash"])).returncode == 0
    run = subprocess.run(
        [sys.executable, "-m", "mlci", "evaluate", "--candidate", bad],
        cwd=project.path, env=env, capture_output=True, text=True, timeout=180, preexec_fn=_raised_core_limit,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"version {bad}: the model crashed its contained process (SIGSEGV) while scoring 1,000 rows "
        "(a model that crashes its library is corrupt or was crafted to; nothing else ran it)"
    ]
    assert not list(project.path.glob("core*")) and production_state(project) == (good, good)


@pytest.mark.slow
def test_a_hanging_model_ends_deploy_as_a_process_at_the_deadline(models, production):
    project, _env, good = production
    bad = version_of(models["Hang"])
    assert project.run("push", str(models["Hang"])).returncode == 0
    run = project.process("deploy", bad, "--env", "production", timeout=180)
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"deploy of churn {bad} to production failed: smoke test of {bad} in production: "
        "still scoring 50 rows after model.sandbox.timeout_seconds = 5 s; its contained process was killed "
        "(a model that never finishes is corrupt or hostile; if it is only slow, raise "
        f"model.sandbox.timeout_seconds in mlci.yaml); rolled back: production is {good} again"
    ], run.stderr
    assert production_state(project) == (good, good)
