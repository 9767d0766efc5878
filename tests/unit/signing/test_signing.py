"""Model signing (OpenSSF Model Signing) and the ML-BOM: every stored version signed, verified before it ships.

Keys and a certificate authority are made here with `cryptography`; signatures are made
and checked by the real model_signing library. Sigstore's public services cannot be
reached from here: its tests go up to that boundary and skip, with the reason, past it.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlci.flows.demo import _set_estimator
from tests.support.cli import mlci_env, run_mlci
from tests.support.paths import EVENTS, EXAMPLE
from tests.support.tools import http_server

pytestmark = pytest.mark.slow

OTHER = ("sklearn.linear_model.LogisticRegression", "{max_iter: 300}")
THIRD = ("sklearn.linear_model.LogisticRegression", "{max_iter: 300, C: 0.5}")
KEY_POLICY = """
signing:
  method: key
  private_key: ${MLCI_SIGNING_KEY:-}
  public_keys: [keys/team.pub]
"""
CERT_POLICY = """
signing:
  method: certificate
  private_key: ${MLCI_SIGNING_KEY:-}
  certificate: ${MLCI_SIGNING_CERT:-}
  certificate_chain: [keys/ca.crt]
  identities:
    - identity: ml-release@example.com
"""
SIGSTORE_POLICY = """
signing:
  method: sigstore
  identities:
    - repository: octo-org/ml-repo
      workflow: .github/workflows/pr-check.yml
      ref: refs/pull/*/merge
"""


# --- keys, certificates, projects -----------------------------------------------------------


def _write_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    path.with_suffix(".pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.with_suffix(".pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _certificate(
    subject: str,
    key: object,
    issuer_name: str,
    issuer_key: object,
    *,
    ca: bool = False,
    email: str | None = None,
    uri: str | None = None,
    extra: list[object] | None = None,
) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    names: list[x509.GeneralName] = []
    if email:
        names.append(x509.RFC822Name(email))
    if uri:
        names.append(x509.UniformResourceIdentifier(uri))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    for ext in extra or []:
        builder = builder.add_extension(ext, critical=False)  # type: ignore[arg-type]
    cert = builder.sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.PEM)


def _ec_key(path: Path) -> object:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Key pairs team.* and other.*, a CA (ca.*), and signing certificates it issued for two people."""
    root = tmp_path_factory.mktemp("keys")
    _write_key(root / "team")
    _write_key(root / "other")
    ca_key = _ec_key(root / "ca.pem")
    (root / "ca.crt").write_bytes(_certificate("mlci test CA", ca_key, "mlci test CA", ca_key, ca=True))
    for who in ("ml-release", "intern"):
        leaf = _ec_key(root / f"{who}.pem")
        (root / f"{who}.crt").write_bytes(_certificate(who, leaf, "mlci test CA", ca_key, email=f"{who}@example.com"))
    # A certificate for the right person from a CA the policy does not trust.
    rogue_ca = _ec_key(root / "rogue-ca.pem")
    leaf = _ec_key(root / "rogue.pem")
    (root / "rogue.crt").write_bytes(
        _certificate("ml-release", leaf, "rogue CA", rogue_ca, email="ml-release@example.com")
    )
    return root


def mlci(project: Path, *args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Return what `python -m mlci ARGS` gives as a process (most tests run it in-process: `run_mlci`)."""
    return subprocess.run(
        [sys.executable, "-m", "mlci", *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three trained bundles (the example's model and two others), made once for the module."""
    root = tmp_path_factory.mktemp("bundles")
    project = root / "churn"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".mlci", "__pycache__"))
    out = {}
    for name, estimator in (("good", None), ("other", OTHER), ("third", THIRD)):
        if estimator:
            _set_estimator(project / "mlci.yaml", *estimator)
        run = run_mlci(project, "train", "-o", str(root / name), env=mlci_env())
        assert run.returncode == 0, run.stderr
        out[name] = root / name
    return out


def make_project(tmp_path: Path, keys: Path, policy: str, registry: str | None = None) -> Path:
    dest = tmp_path / "churn"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".mlci", "__pycache__"))
    shutil.copytree(keys, dest / "keys")
    text = (dest / "mlci.yaml").read_text()
    if registry:
        text = re.sub(r"(?ms)^registry:\n.*?(?=^\S|\Z)", registry, text)
    (dest / "mlci.yaml").write_text(text + policy)
    return dest


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def registry_section(store: str, request: pytest.FixtureRequest) -> str | None:
    """The registry section for the parametrised store (None: the local default)."""
    if store == "local":
        return None
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return (
        f"registry:\n  uri: s3://{bucket}/registry\n  endpoint_url: {server.endpoint_url}\n  addressing_style: path\n"
    )


@pytest.fixture
def env(store: str, request: pytest.FixtureRequest) -> dict[str, str]:
    if store == "s3":
        return mlci_env(**request.getfixturevalue("s3_server").env)
    return mlci_env()


def version_of(bundle: Path) -> str:
    return str(json.loads((bundle / "manifest.json").read_text())["version"])


def key_fingerprint(pub: Path) -> str:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(pub.read_bytes())
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def published_version(project: Path, env: dict[str, str], environment: str = "production") -> str | None:
    """Return what the environment's alias and its published copy hold (they must agree)."""
    from mlci.config.schema import load_config
    from mlci.registry.references import open_registry

    registry = open_registry(load_config(project / "mlci.yaml", env=env))
    alias = registry.alias(environment)
    published = registry.published_version(environment)
    assert (alias.version if alias else None) == published
    return published


# --- key mode -------------------------------------------------------------------------------


def test_check_signs_and_deploy_verifies_and_ships_through_s3(tmp_path, keys, s3_server, s3_bucket, github_server):
    registry = (
        f"registry:\n  uri: s3://{s3_bucket}/registry\n  endpoint_url: {s3_server.endpoint_url}\n"
        "  addressing_style: path\n"
    )
    project = make_project(tmp_path, keys, KEY_POLICY, registry)
    env = mlci_env(**s3_server.env)
    team = key_fingerprint(keys / "team.pub")

    checked = run_mlci(project, "check", env={**env, "MLCI_SIGNING_KEY": "keys/team.pem"})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"signed by key sha256:{team[:16]}" in checked.stdout
    version = json.loads((project / "comparison.json").read_text())["candidate"]["version"]
    keys_in_bucket = [
        o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket, Prefix="registry/")["Contents"]
    ]
    signatures = [k for k in keys_in_bucket if f"churn/versions/{version}/signatures/" in k]
    assert {k.rsplit("/", 1)[1] for k in signatures} == {"model.sig", "provenance.json", "bom.cdx.json"}
    report = (project / "report.md").read_text()
    assert f"key sha256:{team[:16]}" in report and "bom.cdx.json" in report

    gh = {**env, **github_server.env(), "GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "41", "GITHUB_SHA": "d" * 40}
    github_server.add_commit("d" * 40, "release")
    deployed = run_mlci(project, "deploy", "candidate", "--env", "production", env=gh)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert f"signature verified: {version} signed by key sha256:{team[:16]}" in deployed.stdout
    (deployment,) = github_server.deployments()
    bom_key = next(k for k in signatures if k.endswith("/bom.cdx.json"))
    assert deployment["payload"]["ml_bom"] == f"s3://{s3_bucket}/{bom_key}"
    assert deployment["payload"]["signed_by"] == f"key sha256:{team[:16]}"
    assert "smoke test passed" in deployed.stdout
    assert published_version(project, env) == version
    verified = run_mlci(project, "--json", "verify", "production", env=env)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["signature"]["signer"]["fingerprint"] == team


def test_unsigned_and_foreign_signed_versions_are_refused_and_production_keeps_serving(
    tmp_path, keys, bundles, store, registry_section, env
):
    project = make_project(tmp_path, keys, KEY_POLICY, registry_section)
    good, other = version_of(bundles["good"]), version_of(bundles["other"])
    signed = run_mlci(project, "push", str(bundles["good"]), env={**env, "MLCI_SIGNING_KEY": "keys/team.pem"})
    assert signed.returncode == 0, signed.stderr
    assert run_mlci(project, "deploy", good, "--env", "production", env=env).returncode == 0

    # Pushed by someone without the key: stored, but unsigned.
    unsigned = run_mlci(project, "push", str(bundles["other"]), "--alias", "pr-9", env=env)
    assert unsigned.returncode == 0, unsigned.stderr
    assert "not signed: signing.private_key is empty" in unsigned.stdout
    for args in (("promote", other, "--to", "staging"), ("deploy", other, "--env", "production")):
        refused = run_mlci(project, *args, env=env)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"version {other} of churn is not signed: nobody signed it" in refused.stderr
        assert "the policy expects a signature by one of signing.public_keys: keys/team.pub" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert published_version(project, env) == good

    # Signed, but by another key: named in the refusal, with what the policy expects.
    foreign = run_mlci(project, "push", str(bundles["other"]), env={**env, "MLCI_SIGNING_KEY": "keys/other.pem"})
    assert foreign.returncode == 0, foreign.stderr
    them, team = key_fingerprint(keys / "other.pub"), key_fingerprint(keys / "team.pub")
    for args in (("promote", other, "--to", "staging"), ("deploy", other, "--env", "production")):
        refused = run_mlci(project, *args, env=env)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"is by key sha256:{them[:16]}, which is not in signing.public_keys" in refused.stderr
        assert f"keys/team.pub (sha256:{team[:16]})" in refused.stderr
    assert published_version(project, env) == good
    history = json.loads(run_mlci(project, "--json", "history", env=env).stdout)
    assert "staging" not in [a["alias"] for a in history["aliases"]]
    listed = {v["version"]: v["signatures"] for v in history["versions"]}
    assert [s["signer"]["fingerprint"] for s in listed[good]] == [team]
    assert [s["signer"]["fingerprint"] for s in listed[other]] == [them]

    # A rollback to it is refused the same way: production still serves the signed version.
    back = run_mlci(project, "rollback", "--env", "production", "--to", other, env=env)
    assert back.returncode == 1 and "not in signing.public_keys" in back.stderr
    assert published_version(project, env) == good


def test_a_signature_copied_from_another_version_does_not_verify(tmp_path, keys, bundles):
    project = make_project(tmp_path, keys, KEY_POLICY)
    env = mlci_env()
    signed = run_mlci(project, "push", str(bundles["good"]), env={**env, "MLCI_SIGNING_KEY": "keys/team.pem"})
    assert signed.returncode == 0
    assert run_mlci(project, "push", str(bundles["other"]), env=env).returncode == 0
    versions = project / ".mlci" / "registry" / "churn" / "versions"
    good, other = version_of(bundles["good"]), version_of(bundles["other"])
    # Whoever can write the bucket copies the team's valid signature of `good` beside `other`.
    shutil.copytree(versions / good / "signatures", versions / other / "signatures")

    refused = run_mlci(project, "verify", other, env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "does not verify: the signed digest of manifest.json differs" in refused.stderr
    assert "the signed digest of model.skops differs" in refused.stderr
    assert run_mlci(project, "verify", good, env=env).returncode == 0


# --- signatures planted by a bucket writer ---------------------------------------------------

FAR_FUTURE = "9999-12-31T23:59:59.999999+00:00"
JUNK = 60


def plant_junk(store, version: str, team: dict[str, bytes], foreign: dict[str, bytes]) -> None:
    """Plant JUNK signature folders beside `version`, all dated 9999 and named to be listed first.

    Five kinds: another key's real signature; the team's real signature beside an edited
    provenance; the team's statement with forged signature bytes; an unreadable model.sig;
    and a model.sig over the 1 MiB read limit (docs/signing.md). `team`/`foreign` are real folders (file name -> bytes).
    """

    def dated(provenance: bytes) -> bytes:
        return json.dumps({**json.loads(provenance), "signed_at": FAR_FUTURE}).encode()

    forged = json.loads(team["model.sig"])
    forged["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(b"\x30" * 70).decode()
    kinds = [
        {**foreign, "provenance.json": dated(foreign["provenance.json"])},
        {**team, "provenance.json": dated(team["provenance.json"])},
        {**team, "model.sig": json.dumps(forged).encode()},
        {"model.sig": b"{not a sigstore bundle", "provenance.json": dated(team["provenance.json"])},
        {"model.sig": b" " * (2**20 + 1), "provenance.json": dated(team["provenance.json"])},
    ]
    for i in range(JUNK):
        for name, data in kinds[i % len(kinds)].items():
            store.put(f"churn/versions/{version}/signatures/{i:016x}/{name}", data)


def signature_folders(store, version: str) -> dict[str, dict[str, bytes]]:
    prefix = f"churn/versions/{version}/signatures/"
    folders: dict[str, dict[str, bytes]] = {}
    for key in store.list(prefix):
        sid, name = key[len(prefix) :].split("/", 1)
        folders.setdefault(sid, {})[name] = store.get(key)[0]
    return folders


def test_planted_signatures_never_hide_a_valid_one_and_alone_are_refused_in_bounded_time(
    tmp_path, keys, bundles, store, registry_section, env, monkeypatch
):
    import time

    from mlci.config.schema import load_config
    from mlci.registry.references import open_registry

    project = make_project(tmp_path, keys, KEY_POLICY, registry_section)
    registry_store = open_registry(load_config(project / "mlci.yaml", env=env)).store
    good, other, third = (version_of(bundles[n]) for n in ("good", "other", "third"))
    team = {**env, "MLCI_SIGNING_KEY": "keys/team.pem"}
    for name in ("good", "other"):
        assert run_mlci(project, "push", str(bundles[name]), env=team).returncode == 0
    (valid,) = signature_folders(registry_store, good).items()
    assert (
        run_mlci(project, "push", str(bundles["third"]), env={**env, "MLCI_SIGNING_KEY": "keys/other.pem"}).returncode
        == 0
    )
    (foreign,) = signature_folders(registry_store, third).values()
    assert run_mlci(project, "deploy", good, "--env", "production", env=env).returncode == 0
    assert run_mlci(project, "deploy", other, "--env", "production", env=env).returncode == 0
    plant_junk(registry_store, good, valid[1], foreign)
    plant_junk(registry_store, third, valid[1], foreign)

    # Beside a valid signature: verify, deploy and an emergency rollback to it all go through.
    started = time.monotonic()
    verified = run_mlci(project, "--json", "verify", good, env=env)
    seconds = time.monotonic() - started
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["signature"]["id"] == valid[0]
    deployed = run_mlci(project, "deploy", good, "--env", "staging", env=env)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert f"signature verified: {good} signed by key sha256:" in deployed.stdout
    back = run_mlci(project, "rollback", "--env", "production", env=env)
    assert back.returncode == 0, back.stdout + back.stderr
    assert published_version(project, env) == good

    # Junk alone (and another key's real signature): one clear line, exit 1, in bounded time.
    started = time.monotonic()
    refused = run_mlci(project, "verify", third, env=env)
    seconds = max(seconds, time.monotonic() - started)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    line = refused.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, line
    assert f"version {third} of churn is not signed as the policy requires: 49 signature(s) examined" in line
    assert "which is not in signing.public_keys" in line and "and 44 more like these" in line
    assert f"is {2**20 + 1} bytes, over the {2**20}-byte limit for it; not read" in line
    assert "and 9 more signatures not read for their size" in line
    assert "the policy expects a signature by one of signing.public_keys: keys/team.pub" in line
    assert seconds < 30, f"verification took {seconds:.1f} s"

    # The count is bounded too: past it, folders are counted, not read, and the refusal says so.
    monkeypatch.setattr("mlci.signing.sign.MAX_SIGNATURES", 20)
    capped = run_mlci(project, "verify", good, env=env)
    assert capped.returncode == 1, capped.stdout + capped.stderr
    assert "41 more signature folder(s) were not read: mlci reads at most 20 signatures" in capped.stderr


# --- certificate mode ---------------------------------------------------------------------


def test_certificate_mode_refuses_a_certificate_for_the_wrong_identity_or_from_another_ca(tmp_path, keys, bundles):
    project = make_project(tmp_path, keys, CERT_POLICY)
    env = mlci_env()

    def push(bundle: str, who: str) -> None:
        signer = {"MLCI_SIGNING_KEY": f"keys/{who}.pem", "MLCI_SIGNING_CERT": f"keys/{who}.crt"}
        run = run_mlci(project, "push", str(bundles[bundle]), env={**env, **signer})
        assert run.returncode == 0, run.stderr

    push("good", "ml-release")
    ok = run_mlci(project, "verify", version_of(bundles["good"]), env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "by ml-release@example.com verifies" in ok.stdout

    push("other", "intern")
    wrong = run_mlci(project, "verify", version_of(bundles["other"]), env=env)
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert "is by intern@example.com, which no signing.identities entry allows" in wrong.stderr
    assert "issued by signing.certificate_chain (keys/ca.crt) for ml-release@example.com" in wrong.stderr

    push("other", "rogue")  # the right name, from a CA the policy does not trust
    rogue = run_mlci(project, "deploy", version_of(bundles["other"]), "--env", "production", env=env)
    assert rogue.returncode == 1, rogue.stdout + rogue.stderr
    assert "by ml-release@example.com does not verify" in rogue.stderr
    assert published_version(project, env) is None


# --- binding a candidate to its PR (keys) ---------------------------------------------------


def pr_event(tmp_path: Path, number: int, head: str) -> Path:
    event = json.loads((EVENTS / "pull_request.json").read_text())
    event["number"] = number
    event["pull_request"]["number"] = number
    event["pull_request"]["head"]["sha"] = head
    path = tmp_path / f"pr-{number}.json"
    path.write_text(json.dumps(event))
    return path


def stamped(bundle: Path, dest: Path, **manifest: object) -> Path:
    """Return a copy of `bundle` whose manifest says `manifest` (as a PR role can write any manifest)."""
    shutil.copytree(bundle, dest)
    data = json.loads((dest / "manifest.json").read_text())
    data.update(manifest)
    (dest / "manifest.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return dest


def test_promote_from_pr_needs_a_signature_made_for_that_pr_at_its_head(tmp_path, keys, bundles, github_server):
    # The manifest's `pr` and `git_sha` are the PR role's to write, and promote checks them
    # against GitHub first; the signature's provenance is what the signing job saw. These
    # versions pass the manifest checks, so only the signature's binding can refuse them.
    project = make_project(tmp_path, keys, KEY_POLICY)
    env = mlci_env()
    head = "a" * 40
    github_server.add_pull(7, head_sha=head, merged=True)
    github_server.add_pull(8, head_sha="b" * 40, merged=True)
    gh = {**env, **github_server.env(), "GITHUB_ACTIONS": "true"}
    pr7 = {**env, "MLCI_SIGNING_KEY": "keys/team.pem", "GITHUB_EVENT_NAME": "pull_request",
           "GITHUB_EVENT_PATH": str(pr_event(tmp_path, 7, head))}  # fmt: skip
    # PR 7's job signs its candidate; it also stores one whose manifest claims PR 8 under pr-8.
    # (A version is its model's bytes: each needs a model of its own.)
    ours = stamped(bundles["good"], tmp_path / "pr7", pr=7, git_sha=head)
    assert run_mlci(project, "push", str(ours), "--alias", "pr-7", env=pr7).returncode == 0
    claimed = stamped(bundles["other"], tmp_path / "pr8", pr=8, git_sha="b" * 40)
    assert run_mlci(project, "push", str(claimed), "--alias", "pr-8", env=pr7).returncode == 0

    stolen = run_mlci(project, "promote", "--from-pr", "8", "--to", "staging", env=gh)
    assert stolen.returncode == 1, stolen.stdout + stolen.stderr
    assert "was made for PR #7, not PR #8" in stolen.stderr

    promoted = run_mlci(project, "--json", "promote", "--from-pr", "7", "--to", "staging", env=gh)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    # --json: stdout is the JSON alone; the notes go to stderr.
    assert "GitHub confirms PR #7 merged" in promoted.stderr
    assert json.loads(promoted.stdout)["signature"]["provenance"]["head_sha"] == head

    # A new commit on PR 7, and a version whose manifest names it but whose signature was made
    # at the old head: not what GitHub now says PR 7 is.
    github_server.add_pull(7, head_sha="c" * 40, merged=True)
    moved = stamped(bundles["third"], tmp_path / "pr7-moved", pr=7, git_sha="c" * 40)
    assert run_mlci(project, "push", str(moved), "--alias", "pr-7", env=pr7).returncode == 0
    stale = run_mlci(project, "promote", "--from-pr", "7", "--to", "production", env=gh)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert f"made at commit {head[:12]}, but GitHub says PR #7's head is {'c' * 12}" in stale.stderr


# --- sigstore -------------------------------------------------------------------------------


class _TokenService(http.server.BaseHTTPRequestHandler):
    """The runner's OIDC token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL): GET ?audience=… → {"value": JWT}."""

    token = ""

    def do_GET(self) -> None:
        body = json.dumps({"count": 1, "value": self.token}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def token_service() -> Iterator[str]:
    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    claims = {
        "iss": "https://token.actions.githubusercontent.com",
        "aud": "sigstore",
        "sub": "repo:octo-org/ml-repo:pull_request",
        "job_workflow_ref": "octo-org/ml-repo/.github/workflows/pr-check.yml@refs/pull/7/merge",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    _TokenService.token = f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims)}.{b64({'sig': 'none'})}"
    with http_server(_TokenService) as url:
        yield f"{url}/token?api-version=2.0"


def test_sigstore_without_the_jobs_oidc_identity_stores_unsigned_and_says_why(tmp_path, keys, bundles):
    project = make_project(tmp_path, keys, SIGSTORE_POLICY)
    outside = run_mlci(project, "push", str(bundles["good"]), env=mlci_env())
    assert outside.returncode == 0, outside.stdout + outside.stderr
    assert "not signed: signing.method sigstore signs with the GitHub Actions job's OIDC identity" in outside.stdout
    assert "this is not a GitHub Actions job" in outside.stdout
    no_permission = run_mlci(project, "push", str(bundles["good"]), env=mlci_env(GITHUB_ACTIONS="true"))
    assert no_permission.returncode == 0, no_permission.stderr
    assert "this job may not request one" in no_permission.stdout
    assert "add `permissions: id-token: write` to the job" in no_permission.stdout
    refused = run_mlci(project, "verify", version_of(bundles["good"]), env=mlci_env())
    assert refused.returncode == 1 and "nobody signed it" in refused.stderr
    assert "a sigstore signature by octo-org/ml-repo .github/workflows/pr-check.yml on refs/pull/*/merge" in (
        refused.stderr
    )


def test_sigstore_signing_goes_as_far_as_sigstore_itself(tmp_path, keys, bundles, token_service):
    project = make_project(tmp_path, keys, SIGSTORE_POLICY)
    env = mlci_env(GITHUB_ACTIONS="true", ACTIONS_ID_TOKEN_REQUEST_URL=token_service,
                   ACTIONS_ID_TOKEN_REQUEST_TOKEN="runner-token")  # fmt: skip
    # A whole process with a bound: sigstore's services are outside, and a hang must fail in 120 s.
    run = mlci(project, "push", str(bundles["good"]), env=env, timeout=120)
    # The token came from the runner's endpoint; the real library then needs Sigstore's trust
    # root, Fulcio and Rekor, which are outside services: exit 4, one line, nothing stored.
    assert run.returncode == 4, run.stdout + run.stderr
    assert "sigstore signing failed" in run.stderr and "Traceback" not in run.stderr
    assert not (project / ".mlci" / "registry" / "churn" / "versions" / version_of(bundles["good"])).exists()
    pytest.skip(f"signing past the network boundary needs sigstore.dev: {run.stderr.strip().splitlines()[-1]}")


def test_sigstore_policy_binds_a_candidate_to_the_pull_request_run_of_its_pr(tmp_path, keys, bundles):
    """A forged sigstore bundle naming PR 7's workflow run: refused for PR 8 without any network, and
    for PR 7 only sigstore's trust root can tell (skipped here, where it cannot be fetched)."""
    from cryptography import x509

    project = make_project(tmp_path, keys, SIGSTORE_POLICY)
    env = mlci_env()
    # Store the version unsigned, then write a signature in sigstore's bundle format whose
    # certificate claims PR 7's pull_request run, issued by a CA the attacker made.
    assert run_mlci(project, "push", str(bundles["good"]), "--alias", "pr-7", env=env).returncode == 0
    version = version_of(bundles["good"])
    identity = "https://github.com/octo-org/ml-repo/.github/workflows/pr-check.yml@refs/pull/7/merge"
    issuer = x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), b"https://token.actions.githubusercontent.com"
    )
    ca = _ec_key(tmp_path / "forger-ca.pem")
    leaf = _ec_key(tmp_path / "forger.pem")
    (tmp_path / "forger.crt").write_bytes(_certificate("sigstore", leaf, "sigstore-intermediate", ca, uri=identity,
                                                       extra=[issuer]))  # fmt: skip
    forged_project = make_project(tmp_path / "forger", keys, CERT_POLICY)
    signer = {"MLCI_SIGNING_KEY": str(tmp_path / "forger.pem"), "MLCI_SIGNING_CERT": str(tmp_path / "forger.crt")}
    shutil.rmtree(forged_project / ".mlci", ignore_errors=True)
    assert run_mlci(forged_project, "push", str(bundles["good"]), env={**env, **signer}).returncode == 0
    forged_root = forged_project / ".mlci" / "registry" / "churn" / "versions" / version / "signatures"
    (sid,) = [p.name for p in forged_root.iterdir()]
    sig = json.loads((forged_root / sid / "model.sig").read_text())
    chain = sig["verificationMaterial"].pop("x509CertificateChain")
    sig["verificationMaterial"]["certificate"] = chain["certificates"][0]
    (forged_root / sid / "model.sig").write_text(json.dumps(sig))
    shutil.copytree(forged_root, project / ".mlci" / "registry" / "churn" / "versions" / version / "signatures")

    wrong_pr = run_mlci(project, "verify", "pr-7", "--pr", "8", env=env)
    assert wrong_pr.returncode == 1, wrong_pr.stdout + wrong_pr.stderr
    assert "was made on refs/pull/7/merge, not by the pull_request run of PR #8 (refs/pull/8/merge)" in wrong_pr.stderr

    # A whole process with a bound: sigstore's trust root is outside, and a hang must fail in 120 s.
    right_pr = mlci(project, "verify", "pr-7", "--pr", "7", env=env, timeout=120)
    if right_pr.returncode == 4:
        pytest.skip(f"sigstore's trust root cannot be fetched here: {right_pr.stderr.strip().splitlines()[-1]}")
    # With sigstore reachable, the real verifier rejects a certificate Fulcio never issued.
    assert right_pr.returncode == 1, right_pr.stdout + right_pr.stderr
    assert "does not verify" in right_pr.stderr


# --- the ML-BOM, config, and nothing without a signing section ------------------------------


def test_ml_bom_validates_against_the_cyclonedx_schema(tmp_path, keys, bundles):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    project = make_project(tmp_path, keys, KEY_POLICY)
    pushed = run_mlci(project, "--json", "push", str(bundles["good"]), env=mlci_env(MLCI_SIGNING_KEY="keys/team.pem"))
    assert pushed.returncode == 0, pushed.stderr
    bom_path = Path(json.loads(pushed.stdout)["signature"]["bom_uri"])
    text = bom_path.read_text()
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    assert validator.validate_str(text) is None

    bom = json.loads(text)
    manifest = json.loads((bundles["good"] / "manifest.json").read_text())
    model = bom["metadata"]["component"]
    assert model["type"] == "machine-learning-model" and model["version"] == manifest["version"]
    assert model["hashes"] == [{"alg": "SHA-256", "content": manifest["sha256"]}]
    properties = {p["name"]: p["value"] for p in model["properties"]}
    assert properties["mlci:signature:identity"].startswith("key sha256:")
    components = {c["bom-ref"]: c for c in bom["components"]}
    assert components["data:train"]["hashes"][0]["content"] == manifest["data"]["fingerprints"]["train"]
    assert components["pypi:scikit-learn@" + manifest["libraries"]["scikit-learn"]]["purl"].startswith("pkg:pypi/")
    assert model["modelCard"]["modelParameters"]["datasets"] == [{"ref": "data:test"}, {"ref": "data:train"}]

    # The validator is not a rubber stamp: a model card with an unknown field fails it.
    model["modelCard"]["accuracy"] = 0.9
    assert validator.validate_str(json.dumps(bom)) is not None


def test_without_a_signing_section_nothing_is_signed_or_checked(tmp_path, keys, bundles):
    project = make_project(tmp_path, keys, "")
    env = mlci_env(MLCI_SIGNING_KEY="keys/team.pem")
    assert run_mlci(project, "push", str(bundles["other"]), env=env).returncode == 0
    assert run_mlci(project, "promote", version_of(bundles["other"]), "--to", "staging", env=env).returncode == 0
    assert not list((project / ".mlci" / "registry").rglob("signatures"))
    history = json.loads(run_mlci(project, "--json", "history", env=env).stdout)
    assert all(v.get("signatures") is None for v in history["versions"])  # none listed: signing is off
    refused = run_mlci(project, "verify", "staging", env=env)
    assert refused.returncode == 2 and "no 'signing' section" in refused.stderr


def test_a_missing_signing_extra_is_one_clear_line(monkeypatch):
    from mlci.errors import ConfigError
    from mlci.signing import sign as signing

    monkeypatch.setitem(sys.modules, "model_signing", None)  # what `import` sees when it is not installed
    with pytest.raises(ConfigError) as raised:
        signing.model_signing_library()
    assert str(raised.value) == (
        "mlci.yaml has a 'signing' section, but model-signing is not installed (pip install 'mlci[signing]')"
    )


def test_signing_config_is_in_the_json_schema_and_checked_at_load(tmp_path):
    from mlci.config.schema import json_schema, load_config
    from mlci.errors import ConfigError

    schema = json_schema()
    assert "signing" in schema["properties"]
    signing = schema["$defs"]["SigningSection"]["properties"]
    assert set(signing) == {"method", "private_key", "certificate", "public_keys", "certificate_chain", "identities"}
    text = (EXAMPLE / "mlci.yaml").read_text()
    for section, problem in (
        ("signing:\n  method: keys\n", "signing.method: Input should be 'key', 'certificate' or 'sigstore'"),
        ("signing:\n  method: certificate\n  private_key: k.pem\n", "give both"),
        ("signing:\n  method: sigstore\n  identities: [{ref: main}]\n", "give 'identity', or 'repository'"),
    ):
        path = tmp_path / "mlci.yaml"
        path.write_text(text + section)
        with pytest.raises(ConfigError) as raised:
            load_config(path, env={})
        assert any(problem in line for line in raised.value.problems), raised.value.problems


def test_the_retrains_promotion_to_staging_goes_through_the_signing_policy(tmp_path, keys, bundles):
    # The scheduled job moves staging like every other path: an unsigned candidate is refused
    # (exit 1, staging untouched), a signed one moves it and the move is recorded.
    project = make_project(tmp_path, keys, KEY_POLICY)
    env = mlci_env()
    good = version_of(bundles["good"])
    assert (
        run_mlci(project, "push", str(bundles["good"]), env={**env, "MLCI_SIGNING_KEY": "keys/team.pem"}).returncode
        == 0
    )
    assert run_mlci(project, "deploy", good, "--env", "production", env=env).returncode == 0
    from tests.support.churn_data import (
        drifted,  # fresh data on which a retrained model beats production
    )

    drifted(project).to_csv(project / "fresh.csv", index=False)
    text = (project / "mlci.yaml").read_text() + "\nretrain:\n  data: fresh.csv\n  promote: staging\n"
    (project / "mlci.yaml").write_text(text)

    unsigned = run_mlci(project, "retrain", env=env)  # a job without the key stores the candidate unsigned
    assert unsigned.returncode == 1, unsigned.stdout + unsigned.stderr
    assert "not promoting" in unsigned.stderr and "to staging" in unsigned.stderr
    assert "is not signed: nobody signed it" in unsigned.stderr and "Traceback" not in unsigned.stderr
    history = json.loads(run_mlci(project, "--json", "history", env=env).stdout)
    assert "staging" not in [a["alias"] for a in history["aliases"]]

    signed = run_mlci(project, "retrain", env={**env, "MLCI_SIGNING_KEY": "keys/team.pem"})
    assert signed.returncode == 0, signed.stdout + signed.stderr
    history = json.loads(run_mlci(project, "--json", "history", env=env).stdout)
    aliases = {a["alias"]: a["version"] for a in history["aliases"]}
    assert aliases["staging"] == aliases[next(a for a in aliases if a.startswith("retrain-"))]
