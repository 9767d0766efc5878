"""Issue 12: nothing a pull request can write runs or ships.

Each test plays the attacker: a hostile model file, a tampered version, a planted symlink or
FIFO, a bomb, a hostile server. What a user sees is asserted: the exit code, one clear line,
and that nothing was lost (production unchanged, no file outside the registry touched, no
marker written by code that must not run).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from mlci.cli.output import exit_code
from mlci.errors import ServiceError
from mlci.storage import Store
from tests.support.cli import mlci_env, run_mlci
from tests.support.paths import EXAMPLE
from tests.support.tools import Preloaded, http_server

FUNCTIONS = ("numpy.full_like", "numpy.sum", "numpy.testing._private.utils.runstring")


def mlci(project: Path, *args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Return what `python -m mlci ARGS` gives as a process (most tests run it in-process: `run_mlci`)."""
    return subprocess.run(
        [sys.executable, "-m", "mlci", *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout
    )


def use_registry(project: Path, registry: str) -> None:
    text = (project / "mlci.yaml").read_text()
    (project / "mlci.yaml").write_text(re.sub(r"(?ms)^registry:\n.*?(?=^\S|\Z)", registry, text))


def hostile_bundle(template: Path, dest: Path, marker: Path) -> Path:
    """Write a bundle whose model runs Python source on transform, built only from numpy functions.

    full_like fills an object array with the source, sum concatenates it, runstring exec()s it.
    Everything but the model (manifest fields, smoke rows, profile) is copied from a real bundle.
    """
    import numpy as np
    from numpy.testing._private.utils import runstring
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from mlci.contracts.manifest import Manifest
    from mlci.modeling.bundle import write_bundle

    source = f"open({str(marker)!r}, 'a').write('code ran\\n')\n"
    model = Pipeline(
        [
            ("fill", FunctionTransformer(np.full_like, kw_args={"fill_value": source, "dtype": "O"})),
            ("join", FunctionTransformer(np.sum)),
            ("run", FunctionTransformer(runstring, kw_args={"dict": {}})),
            ("model", DummyClassifier()),
        ]
    )
    manifest = json.loads((template / "manifest.json").read_text())
    extras = {n: (template / n).read_bytes() for n in manifest["files"] if n != "model.skops"}
    for key in ("sha256", "version", "files"):
        manifest.pop(key)
    return write_bundle(dest, model, Manifest.model_validate(manifest), extras).path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two real bundles of the example (trained once) and a hostile one built from the first."""
    root = tmp_path_factory.mktemp("trained")
    project = root / "churn"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".mlci", "__pycache__"))
    out: dict[str, Path] = {}
    for name, params in (("good", "{max_iter: 40, max_depth: 3}"), ("other", "{max_iter: 30, max_depth: 2}")):
        text = re.sub(r"(?m)^  params:.*\n(?:    .*\n)*", f"  params: {params}\n", (project / "mlci.yaml").read_text())
        (project / "mlci.yaml").write_text(text)
        run = run_mlci(project, "train", "-o", str(root / name), env=mlci_env())
        assert run.returncode == 0, run.stderr
        out[name] = root / name
    out["marker"] = root / "marker.txt"
    out["hostile"] = hostile_bundle(out["good"], root / "hostile", out["marker"])
    return out


@pytest.fixture(params=["local", "s3"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """The example project on a local registry or a fresh bucket of the session's SeaweedFS."""
    if request.param == "s3":
        yield s3_project(tmp_path, request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket"))
        return
    dest = tmp_path / "churn"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".mlci", "__pycache__"))
    yield dest, mlci_env()


def s3_project(tmp_path: Path, server, bucket: str) -> tuple[Path, dict[str, str]]:
    """Return the example project with its registry in `bucket`, and the environment to run it with."""
    project = tmp_path / "churn"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".mlci", "__pycache__"))
    use_registry(
        project,
        f"registry:\n  uri: s3://{bucket}/registry\n  endpoint_url: {server.endpoint_url}\n  addressing_style: path\n",
    )
    return project, mlci_env(**server.env)


def version_of(bundle: Path) -> str:
    return str(json.loads((bundle / "manifest.json").read_text())["version"])


def history(project: Path, env: dict[str, str]) -> dict:
    run = run_mlci(project, "--json", "history", env=env)
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
def test_numpy_only_code_running_model_is_refused_everywhere_and_never_runs(project, trained):
    project, env = project
    hostile, marker = trained["hostile"], trained["marker"]
    good = version_of(trained["good"])

    assert_refused_untrusted(run_mlci(project, "evaluate", "--candidate", str(hostile), env=env), marker)

    # The PR role can write versions/: the hostile version is stored, but nothing trusted runs it.
    assert run_mlci(project, "push", str(hostile), env=env).returncode == 0
    bad = version_of(hostile)
    assert_refused_untrusted(run_mlci(project, "deploy", bad, "--env", "production", env=env), marker)
    assert alias_of(project, env, "production") is None

    # A check whose baseline is the hostile version refuses it before it predicts anything.
    assert run_mlci(project, "push", str(hostile), "--alias", "production", env=env).returncode == 0
    assert_refused_untrusted(run_mlci(project, "check", env=env), marker)

    # Rollback to it: production's previous version is the hostile one.
    for bundle in (trained["good"], trained["other"]):
        assert run_mlci(project, "push", str(bundle), env=env).returncode == 0
    assert run_mlci(project, "deploy", good, "--env", "production", env=env).returncode == 0
    assert_refused_untrusted(run_mlci(project, "rollback", "--env", "production", env=env), marker)
    assert alias_of(project, env, "production") == good


def good_deployed_beside_other(project: Path, env: dict[str, str], trained: dict[str, Path]) -> tuple[str, str, Store]:
    """Push `good` and `other`, deploy `good` to production; return both ids and the registry's store."""
    from mlci.config.schema import load_config
    from mlci.registry.references import open_registry

    good, other = version_of(trained["good"]), version_of(trained["other"])
    for bundle in (trained["good"], trained["other"]):
        assert run_mlci(project, "push", str(bundle), env=env).returncode == 0
    assert run_mlci(project, "deploy", good, "--env", "production", env=env).returncode == 0
    # (the s3 variant's AWS_* variables are in this process's environment: see s3_bucket)
    return good, other, open_registry(load_config(project / "mlci.yaml", env=env)).store


@pytest.mark.slow
def test_swapped_model_bytes_with_a_consistent_manifest_are_refused_by_deploy(project, trained, tmp_path):
    project, env = project
    good, other, store = good_deployed_beside_other(project, env, trained)
    # Under version `other`, put the good model's bytes and a manifest that agrees with them.
    swapped = (trained["good"] / "model.skops").read_bytes()
    manifest = json.loads((trained["good"] / "manifest.json").read_text())
    store.put(f"churn/versions/{other}/model.skops", swapped)
    store.put(f"churn/versions/{other}/manifest.json", json.dumps(manifest).encode())

    run = run_mlci(project, "deploy", other, "--env", "production", env=env)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"describes version {good}, not {other}" in run.stderr and "Traceback" not in run.stderr
    assert alias_of(project, env, "production") == good
    current = json.loads(store.get("churn/deployments/production/CURRENT.json")[0])
    assert current["version"] == good


@pytest.mark.slow
@pytest.mark.parametrize(("field", "value"), [("pr", "7"), ("data", []), ("features", "tenure")])
def test_a_stored_manifest_with_a_wrong_type_is_refused_in_one_line_and_nothing_is_deployed(
    project, trained, field, value
):
    """A PR's job can write any manifest.json: a field of the wrong type is exit 2, never a traceback."""
    project, env = project
    good, other, store = good_deployed_beside_other(project, env, trained)
    # Content addressing still holds (sha256, files, version untouched): only the type is wrong.
    manifest = json.loads((trained["other"] / "manifest.json").read_text())
    store.put(f"churn/versions/{other}/manifest.json", json.dumps({**manifest, field: value}).encode())
    shutil.rmtree(project / ".mlci" / "versions", ignore_errors=True)  # a fresh checkout's job

    for args in (("deploy", other, "--env", "production"), ("evaluate", "--candidate", other)):
        run = run_mlci(project, *args, env=env)
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


# --- bounds ------------------------------------------------------------------------------------


def test_yaml_bomb_in_mlci_yaml_is_refused_at_once(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    (tmp_path / "mlci.yaml").write_text("\n".join(lines) + "\nmodel: *a9\n")
    assert (tmp_path / "mlci.yaml").stat().st_size < 2048
    # A whole process with a 30 s bound: the bomb is refused at once, not after it expanded.
    run = mlci(tmp_path, "config", "check", env=mlci_env(), timeout=30)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == (
        "mlci.yaml:6 YAML anchors and aliases expand to more than 100,000 nodes; refusing to load (a YAML bomb?) "
        "(write the values out instead of nesting aliases)"
    )


def test_skops_zip_bomb_is_refused_before_it_is_inflated(trained, tmp_path):
    import zipfile

    project = tmp_path / "churn"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".mlci", "__pycache__"))
    text = (
        (project / "mlci.yaml")
        .read_text()
        .replace("  task: classification\n", "  task: classification\n  max_model_mb: 1\n")
    )
    (project / "mlci.yaml").write_text(text)
    bomb = tmp_path / "bomb.skops"
    with zipfile.ZipFile(trained["good"] / "model.skops") as src, zipfile.ZipFile(bomb, "w") as out:
        for info in src.infolist():
            out.writestr(info.filename, src.read(info.filename))
        out.writestr("padding.npy", b"\0" * (8 * 1024 * 1024), compress_type=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 1024 * 1024
    bundle = tmp_path / "bundle"
    shutil.copytree(trained["good"], bundle)
    rehash(bundle, bomb.read_bytes())

    run = run_mlci(project, "evaluate", "--candidate", str(bundle), env=mlci_env())
    assert run.returncode == 2, run.stderr
    assert "member 'padding.npy' expands to 8 MiB" in run.stderr and "model.max_model_mb = 1" in run.stderr


def rehash(bundle: Path, model: bytes) -> str:
    """Replace the bundle's model and make its manifest agree (what an attacker with write access does)."""
    import hashlib

    (bundle / "model.skops").write_bytes(model)
    manifest = json.loads((bundle / "manifest.json").read_text())
    digest = hashlib.sha256(model).hexdigest()
    manifest.update(sha256=digest, version=digest[:16])
    manifest["files"]["model.skops"] = digest
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return digest[:16]


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[str]:
    """One HTTP server for the GitHub transport tests: trickles, floods, redirects."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/repos/o/r/trickle"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                for _ in range(1000):  # one byte every 0.2 s: each read "succeeds", the request never ends
                    if stopping.wait(0.2):
                        return
                    self.wfile.write(b" ")
                    self.wfile.flush()
            elif self.path.startswith("/repos/o/r/huge"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(3 * 1024**3))
                self.end_headers()
                block = b" " * (1024 * 1024)
                try:
                    for _ in range(3 * 1024):  # 3 GiB, made on the fly: neither side may hold it
                        self.wfile.write(block)
                        sent[0] += len(block)
                except OSError:
                    return
            else:
                self.do_POST()

        def do_POST(self) -> None:
            self.send_response(301)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere?token=s3cr3t")
            self.send_header("Content-Length", "0")
            self.end_headers()

    stopping = threading.Event()
    sent = [0]
    with http_server(Handler) as url:
        try:
            yield url
        finally:
            stopping.set()  # ends a trickle in progress before the server shuts down


def client(url: str, **kwargs: object):
    from mlci.github.client import GitHubClient

    return GitHubClient(url, "ghs_" + "x" * 36, "o/r", retries=0, **kwargs)  # type: ignore[arg-type]


def test_a_trickling_github_server_hits_the_total_deadline(hostile_server):
    with pytest.raises(ServiceError) as error:
        client(hostile_server, deadline=1.0, timeout=5.0).get("/repos/o/r/trickle")
    assert exit_code(error.value) == 4
    assert str(error.value).startswith("GitHub API GET /repos/o/r/trickle gave no complete answer within 1 s")


def test_a_3_gb_github_response_is_cut_at_the_size_cap_without_holding_it(hostile_server):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ServiceError) as error:
        client(hostile_server, max_response_bytes=8 * 1024 * 1024, deadline=60).get("/repos/o/r/huge")
    assert exit_code(error.value) == 4
    assert "GitHub API GET /repos/o/r/huge answered more than 8 MiB; mlci stopped reading" in str(error.value)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 512, f"peak memory grew by {grown_mib:.0f} MiB"


def test_a_redirect_is_not_followed_and_does_not_leak_its_token(hostile_server):
    with pytest.raises(ServiceError) as error:
        client(hostile_server).create_status("a" * 40, "success", "mlci/churn")
    assert exit_code(error.value) == 4
    message = str(error.value)
    assert message.startswith(f"GitHub API POST /repos/o/r/statuses/{'a' * 40} answered 301 (a redirect to")
    assert "s3cr3t" not in message and "mlci does not follow redirects" in message


# --- the registry: names, events, files ---------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path, trained) -> tuple[Path, dict[str, str], str]:
    """A local-registry project with the good version pushed; returns (project, env, version)."""
    project = tmp_path / "churn"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".mlci", "__pycache__"))
    env = mlci_env()
    run = run_mlci(project, "--json", "push", str(trained["good"]), env=env)
    assert run.returncode == 0, run.stderr
    return project, env, json.loads(run.stdout)["version"]


def test_a_non_object_event_is_skipped_with_a_warning(local):
    project, env, version = local
    events = project / ".mlci" / "registry" / "churn" / "events"
    (events / "20300101T000000.000000Z-planted.json").write_text("[1, 2, 3]")
    run = run_mlci(project, "--json", "history", env=env)
    assert run.returncode == 0, run.stderr
    assert "warning: skipped event" in run.stderr and "20300101T000000.000000Z-planted.json" in run.stderr
    assert [e["action"] for e in json.loads(run.stdout)["events"]] == ["push"]
    promoted = run_mlci(project, "promote", version, "--to", "staging", env=env)
    assert promoted.returncode == 0, promoted.stderr


def test_a_name_with_a_trailing_newline_is_refused(local):
    project, env, version = local
    run = run_mlci(project, "promote", version, "--to", "evil\n", env=env)
    assert run.returncode == 2
    assert "invalid alias name 'evil\\n'" in run.stderr
    assert not list((project / ".mlci" / "registry" / "churn").glob("aliases/evil*"))


def test_an_alias_record_without_a_well_formed_version_is_refused(local):
    project, env, _ = local
    (project / ".mlci" / "registry" / "churn" / "aliases").mkdir(parents=True, exist_ok=True)
    (project / ".mlci" / "registry" / "churn" / "aliases" / "staging.json").write_text(
        json.dumps({"version": "../../../etc", "previous": None})
    )
    run = run_mlci(project, "deploy", "staging", "--env", "production", env=env)
    assert run.returncode == 2
    assert "is not a valid alias record: field 'version' is \"../../../etc\": not a version id" in run.stderr


def test_publish_never_follows_a_symlinked_deployment_directory(local, tmp_path):
    project, env, version = local
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    deployments = project / ".mlci" / "registry" / "churn" / "deployments"
    deployments.mkdir(parents=True)
    (deployments / "production").symlink_to(outside)

    run = run_mlci(project, "deploy", version, "--env", "production", env=env)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "deployments/production: is a symlink inside the registry; mlci does not follow it" in run.stderr
    assert [p.name for p in outside.iterdir()] == ["precious.txt"]
    assert (outside / "precious.txt").read_text() == "keep me"


def test_a_symlink_or_fifo_in_a_bundle_is_refused_by_push(local, trained, tmp_path):
    project, env, _ = local
    for kind in ("symlink", "fifo"):
        bundle = tmp_path / kind
        shutil.copytree(trained["good"], bundle)
        (bundle / "smoke.parquet").unlink()
        if kind == "symlink":
            (bundle / "smoke.parquet").symlink_to(trained["good"] / "smoke.parquet")
        else:
            os.mkfifo(bundle / "smoke.parquet")
        # A whole process with a bound: opening a FIFO for reading would block it forever.
        run = mlci(project, "push", str(bundle), env=env, timeout=60)
        assert run.returncode == 2, run.stderr
        what = "a symlink" if kind == "symlink" else "not a regular file"
        assert f"smoke.parquet: is {what}; a bundle holds only regular files" in run.stderr


def test_orphaned_temporary_files_are_swept(tmp_path):
    from mlci.storage.local import LocalStore

    store = LocalStore(tmp_path / "registry")
    store.put("churn/events/a.json", b"{}")
    orphan = tmp_path / "registry" / "churn" / "events" / ".mlci-tmp-0123456789ab-b.json"
    orphan.write_bytes(b"half")
    os.utime(orphan, (0, 0))  # a process that died long ago
    fresh = orphan.with_name(".mlci-tmp-fedcba987654-c.json")
    fresh.write_bytes(b"in flight")  # another process's write in progress: left alone
    LocalStore(tmp_path / "registry").put("churn/events/d.json", b"{}")
    assert not orphan.exists() and fresh.exists()


# --- secrets in URIs ------------------------------------------------------------------------------


def test_credentials_in_uris_are_redacted_in_output_events_and_refusals(local):
    project, env, version = local
    secret = "hunter2-very-secret"
    text = (project / "mlci.yaml").read_text() + (
        "deploy:\n  webhook: http://hook:${HOOK_PASSWORD}@127.0.0.1:1/notify?token=${HOOK_PASSWORD}\n"
    )
    (project / "mlci.yaml").write_text(text)
    run_env = {**env, "HOOK_PASSWORD": secret, "MLCI_WEBHOOK_SECRET": "signing-key"}
    run = run_mlci(project, "deploy", version, "--env", "production", env=run_env)
    assert run.returncode == 0, run.stderr
    assert "warning: deploy.webhook http://***@127.0.0.1:1/notify?token=*** failed" in run.stdout
    assert secret not in run.stdout + run.stderr
    registry = project / ".mlci" / "registry"
    assert not [p for p in registry.rglob("*.json") if secret in p.read_text()]

    use_registry(project, f"registry:\n  uri: s3://bucket/r\n  endpoint_url: http://key:{secret}@127.0.0.1:1\n")
    refused = run_mlci(project, "history", env=run_env)
    assert refused.returncode == 2
    assert refused.stderr.startswith("registry.endpoint_url http://***@127.0.0.1:1 carries credentials")
    assert secret not in refused.stderr


# --- references and trusted promotion -------------------------------------------------------------


def test_a_production_directory_in_the_checkout_does_not_change_the_baseline(local, trained):
    project, env, version = local
    assert run_mlci(project, "promote", version, "--to", "production", env=env).returncode == 0
    # The PR adds a weak "production" bundle to the checkout (here: the other model).
    shutil.copytree(trained["other"], project / "production")
    run = run_mlci(project, "--json", "evaluate", "--candidate", str(trained["other"]), env=env)
    assert run.returncode in (0, 1), run.stderr
    assert json.loads(run.stdout)["baseline"]["version"] == version
    # Written as a path, the directory is still usable on purpose.
    own = run_mlci(project, "--json", "evaluate", "--candidate", "./production", "--baseline", "production", env=env)
    assert json.loads(own.stdout)["candidate"]["version"] == version_of(trained["other"])


def pr_event(tmp_path: Path, number: int, head: str) -> Path:
    event = tmp_path / f"pr-{number}.json"
    event.write_text(json.dumps({"number": number, "pull_request": {"number": number, "head": {"sha": head}}}))
    return event


def claimed(bundle: Path, dest: Path, **claims: object) -> Path:
    """Copy a bundle and make its manifest claim `claims` (the model, hence the version id, is unchanged)."""
    shutil.copytree(bundle, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest.update(claims)
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


@pytest.mark.slow
def test_forged_event_hijacked_alias_and_planted_cache_entry_get_nothing_promoted_or_reused(
    s3_server, s3_bucket, trained, github_server, tmp_path
):
    from mlci.contracts.events import CheckDetails, CheckEvent
    from mlci.flows.demo import _set_estimator
    from mlci.registry.references import open_registry

    project, env = s3_project(tmp_path, s3_server, s3_bucket)
    gh = {**env, **github_server.env()}
    good = version_of(trained["good"])
    assert run_mlci(project, "push", str(trained["good"]), "--alias", "production", env=env).returncode == 0

    # PR 12's check: a model that fails the gates against production.
    head12 = "1" * 40
    github_server.add_pull(12, head_sha=head12, merged=True)
    _set_estimator(project / "mlci.yaml", "sklearn.tree.DecisionTreeClassifier", "{max_depth: 12}")
    pr12 = {**env, "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(pr_event(tmp_path, 12, head12))}
    checked = run_mlci(project, "--json", "check", env=pr12)
    assert checked.returncode == 1, checked.stderr
    failing = json.loads(checked.stdout)["candidate"]["version"]

    # 1. A forged event says it passed: the merge job re-evaluates and refuses.
    from mlci.config.schema import load_config

    registry = open_registry(load_config(project / "mlci.yaml", env=env))
    lie = CheckEvent(actor="github:attacker", alias="pr-12", version=failing, extra=CheckDetails(verdict="pass"))
    registry.log_event(lie)
    forged = run_mlci(project, "promote", "--from-pr", "12", "--to", "staging", env=gh)
    assert forged.returncode == 1, forged.stdout + forged.stderr
    assert f"version {failing} failed its gates when re-evaluated against production in this job" in forged.stderr
    assert "stored verdict, informational only: pass" in forged.stdout

    # 2. PR 13's job points pr-12 at its own version: it was stored for PR 13.
    hijack = claimed(trained["other"], tmp_path / "pr13", pr=13, git_sha="3" * 40)
    assert run_mlci(project, "push", str(hijack), "--alias", "pr-12", env=env).returncode == 0
    hijacked = run_mlci(project, "promote", "--from-pr", "12", "--to", "staging", env=gh)
    assert hijacked.returncode == 1
    assert "which was stored for PR #13, not #12" in hijacked.stderr

    # ... and a manifest that claims PR 12 but names another head than GitHub's record.
    liar = claimed(trained["good"], tmp_path / "liar", pr=12, git_sha="f" * 40)
    registry.store.put(f"churn/versions/{good}/manifest.json", (liar / "manifest.json").read_bytes())
    registry.set_alias("pr-12", good, actor="github:attacker", reason="hijack")
    shutil.rmtree(project / ".mlci" / "versions")  # a merge job starts from a fresh checkout
    lied = run_mlci(project, "promote", "--from-pr", "12", "--to", "staging", env=gh)
    assert lied.returncode == 1
    assert f"trained from commit {'f' * 40}, but GitHub records PR #12's head as {head12}" in lied.stderr
    assert registry.alias("staging") is None

    # 3. The failing version sits under the cache key every PR with this config computes;
    # PR 14's check must not reuse it (it is in no alias history of PR 14).
    pr14 = {**env, "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(pr_event(tmp_path, 14, "4" * 40))}
    fresh = run_mlci(project, "check", env=pr14)
    assert "train cache hit" not in fresh.stdout and "trained version" in fresh.stdout, fresh.stdout + fresh.stderr


# --- deploys always restore -------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["before the alias moves", "after the pointer switched"])
def test_a_concurrent_promote_during_a_deploy_is_exit_3_and_publishes_nothing_unsmoked(
    local, trained, monkeypatch, when
):
    from mlci.config.schema import load_config
    from mlci.errors import DeployFailed
    from mlci.flows.deploy import deploy
    from mlci.github.context import GitHubContext
    from mlci.registry.references import open_registry
    from mlci.registry.registry import Registry

    project, env, good = local
    config = load_config(project / "mlci.yaml", env=env)
    assert deploy(config, open_registry(config), good, "production", ctx=GitHubContext()).ok
    other = run_mlci(project, "--json", "push", str(trained["other"]), env=env)
    other_version = json.loads(other.stdout)["version"]
    # A third version, never smoke-tested in production: what a racing `promote` moves in.
    racer = json.loads(run_mlci(project, "--json", "push", str(trained["hostile"]), env=env).stdout)["version"]

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
    local, trained, monkeypatch, capfd, step, interrupt
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

    project, env, good = local
    config = load_config(project / "mlci.yaml", env=env)
    assert deploy(config, open_registry(config), good, "production", ctx=GitHubContext()).ok
    other = json.loads(run_mlci(project, "--json", "push", str(trained["other"]), env=env).stdout)["version"]
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
    mlci_fork: Preloaded, project: Path, env: dict[str, str], store, versions: list[str], after: float, interrupt
):
    """Deploy the version not in production; after `after` seconds send signal `interrupt` (or stop that server)."""
    import time

    target = versions[1] if deployment_state(store)[0] == versions[0] else versions[0]
    argv = ["deploy", target, "--env", "production"]
    if isinstance(interrupt, int):
        mlci_fork.start(argv, project, env, signal=interrupt, after=after)
    else:
        mlci_fork.start(argv, project, env)
        time.sleep(after)
        interrupt.stop(kill=True)
    code, _, err = mlci_fork.wait()
    return code, err


@pytest.mark.slow
def test_deploys_killed_at_random_points_leave_alias_and_published_copy_on_a_smoke_tested_version(
    trained, tmp_path, monkeypatch
):
    """20 deploys killed by SIGKILL, SIGTERM or SIGINT at seeded random points, then a missing file.

    The deploys are real processes forked from one that has imported mlci (tests/tools.Preloaded),
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
            _kill_deploys(mlci_fork, s3_server, trained, tmp_path, monkeypatch)
    finally:
        request_stop(kill=True)


def _kill_deploys(mlci_fork: Preloaded, s3_server, trained, tmp_path, monkeypatch) -> None:
    import random
    import signal
    import time

    from mlci.config.schema import load_config
    from mlci.registry.references import open_registry

    s3_bucket = s3_server.make_bucket()
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    project, env = s3_project(tmp_path, s3_server, s3_bucket)
    store = open_registry(load_config(project / "mlci.yaml", env=env)).store
    versions = []
    released = {}
    for name in ("good", "other"):
        assert run_mlci(project, "push", str(trained[name]), env=env).returncode == 0
        versions.append(version_of(trained[name]))
        released[versions[-1]] = (trained[name] / "model.skops").read_bytes()
    # A whole deploy, measured here (the faster of two: the first pays lazy imports and
    # connections the later ones do not): the kill points spread over it.
    fulls = []
    for version in (versions[1], versions[0]):
        started = time.monotonic()
        mlci_fork.start(["deploy", version, "--env", "production"], project, env)
        assert mlci_fork.wait()[0] == 0
        fulls.append(time.monotonic() - started)
    full = min(fulls)

    rng = random.Random(12)
    signals = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]
    outcomes = []
    for i in range(20):
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
    interrupted = [o for o in outcomes if o[1] in (-9, -15, 130, 143)]
    assert len(interrupted) >= 10, f"too few runs were interrupted mid-way: {outcomes}"

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
    missing = run_mlci(project, "deploy", other, "--env", "production", env=env)
    assert missing.returncode == 2, missing.stderr
    assert f"churn/versions/{other}/smoke.parquet does not exist" in missing.stderr
    after = deployment_state(store)
    assert after[0] == after[1] == alias, (after, outcomes)  # the deploy's reconcile ran first
    assert_serving_a_smoke_tested_version(store, released)
