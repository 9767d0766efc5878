"""A private copy of an mlci project that a test arranges through structural edits of its mlci.yaml.

`ProjectCopy.of(source, dest)` copies a project (examples/churn unless told otherwise)
without its caches and reports; the `project` fixture (tests/support/fixtures.py) gives each
test one in its tmp_path. Edits load mlci.yaml as YAML, change the mapping and write it back
(comments are dropped: nothing reads them), so a test says what it changes
(`.with_estimator(...)`, `.on_s3(...)`, `.with_("model.max_model_mb", 1)`) instead of
matching the file's text. Tests about the text itself (line numbers, YAML bombs, typos) write
the text they mean.

Each edit returns the project, so arranging reads as one line:

    project.with_estimator("sklearn.tree.DecisionTreeClassifier", {"max_depth": 2}).run("check")
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.support.cli import Run, mlci_env, run_mlci, run_process
from tests.support.paths import EXAMPLE

# What a copy leaves behind: the registry and caches a previous run wrote, and its outputs.
_NOT_COPIED = shutil.ignore_patterns(".mlci", "__pycache__", "report.md", "comparison.json")


def read_config(path: Path) -> dict[str, Any]:
    """Return the mapping an mlci.yaml holds."""
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} holds no mapping"
    return data


def write_config(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as mlci.yaml (block style, keys in their order, no line wrapping)."""
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1 << 20))


def _walk(data: dict[str, Any], key: str) -> tuple[Any, str | int]:
    """Return the container holding the dotted `key` (made as needed) and the last part of the key."""
    *parents, last = key.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    return node, (int(last) if isinstance(node, list) else last)


def edit_config(path: Path, changes: dict[str, Any], *, remove: tuple[str, ...] = ()) -> None:
    """Set each dotted key of `changes` (`model.params`, `gates.1.threshold`) and delete those in `remove`."""
    data = read_config(path)
    for key in remove:
        node, last = _walk(data, key)
        if isinstance(node, list):
            del node[int(last)]
        else:
            node.pop(last, None)
    for key, value in changes.items():
        node, last = _walk(data, key)
        node[last] = value
    write_config(path, data)


def s3_registry(server: Any, bucket: str, prefix: str = "registry") -> dict[str, str]:
    """Return the registry section that keeps the registry in `bucket` of a SeaweedFS `server`."""
    return {"uri": f"s3://{bucket}/{prefix}", "endpoint_url": server.endpoint_url, "addressing_style": "path"}


class Builds:
    """Projects brought to a state once per session (a checked and deployed model) and copied from then on.

    A state is keyed by every file of the project and the environment it was built with, so
    two tests asking for the same state share it and a test that changed anything gets its own.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: dict[str, Path] = {}

    def get(self, project: ProjectCopy, what: str, build: Callable[[ProjectCopy], None]) -> Path:
        """Return a copy of `project` on which `build` ran (built now, the first time it is asked for)."""
        digest = hashlib.sha256(what.encode())
        for path in sorted(project.files()):
            digest.update(str(path.relative_to(project.path)).encode() + b"\0" + path.read_bytes() + b"\0")
        digest.update(json.dumps(sorted(project.env.items())).encode())
        key = digest.hexdigest()[:16]
        if key not in self.built:
            copy = project.copy(self.root / key / project.path.name)
            build(copy)
            self.built[key] = copy.path
        return self.built[key]


class ProjectCopy:
    """A project directory a test owns; runs `mlci` in it with `env` unless told otherwise."""

    def __init__(self, path: Path, env: dict[str, str] | None = None, builds: Builds | None = None) -> None:
        self.path = path
        self.env = env if env is not None else mlci_env()
        self._builds = builds

    @classmethod
    def of(cls, source: Path = EXAMPLE, dest: Path | None = None, *, builds: Builds | None = None) -> ProjectCopy:
        """Copy `source` (without its registry, caches and reports) to `dest`; return the copy.

        The copy measures no permutation importance (`importance.enabled: false`, appended so the
        file's text and line numbers stay as written): it scores every model of a check again on
        rows x features x repeats permuted rows, which the suite's many checks need not pay.
        Tests of importance turn it on (`.with_("importance.enabled", True)`).
        """
        assert dest is not None, "where to copy the project to"
        shutil.copytree(source, dest, ignore=_NOT_COPIED)
        config = dest / "mlci.yaml"
        if config.is_file() and "importance" not in read_config(config):
            with config.open("a") as f:
                f.write("\nimportance:\n  enabled: false\n")
        return cls(dest, builds=builds)

    def copy(self, dest: Path, *, everything: bool = False) -> ProjectCopy:
        """Return a copy of this project at `dest`: its files, and with `everything` its registry and outputs too."""
        shutil.copytree(self.path, dest, ignore=None if everything else _NOT_COPIED)
        return ProjectCopy(dest, dict(self.env), self._builds)

    # -- the directory ----------------------------------------------------------------------

    def __truediv__(self, other: str | os.PathLike[str]) -> Path:
        return self.path / other

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"ProjectCopy({self.path})"

    @property
    def config_path(self) -> Path:
        return self.path / "mlci.yaml"

    @property
    def config(self) -> dict[str, Any]:
        """The mapping mlci.yaml holds now (a copy: change it through the `with_` methods)."""
        return read_config(self.config_path)

    @property
    def registry(self) -> Path:
        """The local registry's folder of the example's model."""
        return self.path / ".mlci" / "registry" / "churn"

    def files(self) -> Iterator[Path]:
        """Yield the project's own files (not what runs wrote)."""
        for path in self.path.rglob("*"):
            parts = path.relative_to(self.path).parts
            if path.is_file() and not {".mlci", "__pycache__"} & set(parts) and parts[0] not in _OUTPUTS:
                yield path

    def alias(self, name: str) -> str | None:
        """Return the version the local registry's alias `name` points at (None: no such alias)."""
        record = self.registry / "aliases" / f"{name}.json"
        return str(json.loads(record.read_text())["version"]) if record.exists() else None

    # -- structural edits of mlci.yaml ------------------------------------------------------

    def with_(self, key: str, value: Any) -> ProjectCopy:
        """Set the dotted `key` of mlci.yaml (`model.max_model_mb`, `gates.0.threshold`) to `value`."""
        edit_config(self.config_path, {key: value})
        return self

    def without(self, *keys: str) -> ProjectCopy:
        """Delete the dotted `keys` of mlci.yaml."""
        edit_config(self.config_path, {}, remove=keys)
        return self

    def with_estimator(self, dotted: str, params: dict[str, Any] | None = None) -> ProjectCopy:
        """Train `dotted` (an importable estimator class) with `params` instead of the configured model."""
        edit_config(
            self.config_path, {"model.estimator": dotted, "model.params": params or {}}, remove=("model.entrypoint",)
        )
        return self

    def with_params(self, params: dict[str, Any]) -> ProjectCopy:
        """Give the configured estimator these `params` (all of them: the old ones are dropped)."""
        return self.with_("model.params", params)

    def with_entrypoint(self, module: str, source: str, function: str = "build", **params: Any) -> ProjectCopy:
        """Write `source` as MODULE.py beside mlci.yaml and build the model with MODULE:FUNCTION(**params)."""
        (self.path / f"{module}.py").write_text(source)
        edit_config(
            self.config_path,
            {"model.entrypoint": f"{module}:{function}", "model.params": params},
            remove=("model.estimator",),
        )
        return self

    def on_s3(self, server: Any, bucket: str, prefix: str = "registry") -> ProjectCopy:
        """Keep the registry in `bucket` of SeaweedFS `server`; runs get the server's AWS_* credentials."""
        self.with_("registry", s3_registry(server, bucket, prefix))
        self.env.update(server.env)
        return self

    def with_registry(self, **section: Any) -> ProjectCopy:
        """Replace the registry section with `section` (uri, public_uri, endpoint_url, ...)."""
        return self.with_("registry", section)

    def with_signing(self, policy: dict[str, Any] | None) -> ProjectCopy:
        """Give mlci.yaml this `signing` section (None: none)."""
        return self.with_("signing", policy) if policy is not None else self.without("signing")

    def with_retrain(self, **section: Any) -> ProjectCopy:
        """Give mlci.yaml this `retrain` section (data, promote, ...)."""
        return self.with_("retrain", section)

    def with_production(self) -> ProjectCopy:
        """Check the configured model and deploy its candidate to production (the registry is local).

        Built once per session for the same project files and environment, then copied here:
        the check and the deploy cost seconds every test asking for this state would pay.
        """

        def build(copy: ProjectCopy) -> None:
            checked = copy.run("check")
            assert checked.returncode == 0, checked.text
            deployed = copy.run("deploy", "candidate", "--env", "production")
            assert deployed.returncode == 0, deployed.text

        assert not (self.path / ".mlci").exists(), "with_production() starts from a project no run has touched"
        assert str(self.config.get("registry", {}).get("uri", "")).find("s3://") == -1, "a local registry only"
        if self._builds is None:
            build(self)
            return self
        built = self._builds.get(self, "check, deploy candidate to production", build)
        shutil.copytree(built, self.path, dirs_exist_ok=True)
        return self

    # -- running mlci ----------------------------------------------------------------------

    def env_with(self, **variables: str) -> dict[str, str]:
        """Return this project's environment with `variables` set as well."""
        return {**self.env, **variables}

    def run(self, *args: str, env: dict[str, str] | None = None) -> Run:
        """Run `mlci ARGS` here, in this process, with exactly `env` (default: the project's)."""
        return run_mlci(self.path, *args, env=self.env if env is None else env)

    def process(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
        """Run `python -m mlci ARGS` here as a real process (a signal, a race, a deadline is the point)."""
        return run_process(self.path, *args, env=self.env if env is None else env, timeout=timeout)

    def train(self, dest: Path) -> Path:
        """Train the configured model into the bundle folder `dest`; return it."""
        trained = self.run("train", "-o", str(dest))
        assert trained.returncode == 0, trained.text
        return dest

    def push(self, bundle: Path, *, alias: str | None = None, env: dict[str, str] | None = None) -> str:
        """Push `bundle` (under `alias`); return its version."""
        pushed = self.run("--json", "push", str(bundle), *(["--alias", alias] if alias else []), env=env)
        assert pushed.returncode == 0, pushed.text
        return str(json.loads(pushed.stdout)["version"])


# Files a run writes at the project's root.
_OUTPUTS = {"report.md", "comparison.json"}


def version_of(bundle: Path) -> str:
    """Return the version id a bundle's manifest names."""
    return str(json.loads((bundle / "manifest.json").read_text())["version"])
