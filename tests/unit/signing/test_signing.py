"""Model signing (OpenSSF Model Signing) and the ML-BOM, in one process on a local registry.

Keys and a certificate authority are made with `cryptography` (tests/support/signing.py);
signatures are made and checked by the real model_signing library. A copied signature, a
certificate for the wrong person or from another CA, sigstore outside a job, the BOM's schema,
the config, and the retrain's promotion: each refused or recorded as the policy says.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.churn_data import drifted
from tests.support.project import version_of
from tests.support.signing import CERT_POLICY, KEY_POLICY, OTHER, SIGSTORE_POLICY, THIRD, published_version, with_keys

pytestmark = pytest.mark.slow


@pytest.fixture
def bundles(trained) -> dict[str, Path]:
    """Three trained versions (the example's model and two others), trained once a session."""
    return {"good": trained(), "other": trained(*OTHER), "third": trained(*THIRD)}


def test_a_signature_copied_from_another_version_does_not_verify(project, tmp_path, signing_keys, bundles):
    with_keys(project, signing_keys, KEY_POLICY)
    env = project.env
    signed = project.run("push", str(bundles["good"]), env={**env, "MLCI_SIGNING_KEY": "keys/team.pem"})
    assert signed.returncode == 0
    assert project.run("push", str(bundles["other"])).returncode == 0
    versions = project / ".mlci" / "registry" / "churn" / "versions"
    good, other = version_of(bundles["good"]), version_of(bundles["other"])
    # Whoever can write the bucket copies the team's valid signature of `good` beside `other`.
    shutil.copytree(versions / good / "signatures", versions / other / "signatures")

    refused = project.run("verify", other)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "does not verify: the signed digest of manifest.json differs" in refused.stderr
    assert "the signed digest of model.skops differs" in refused.stderr
    assert project.run("verify", good).returncode == 0


# --- certificate mode ---------------------------------------------------------------------


def test_certificate_mode_refuses_a_certificate_for_the_wrong_identity_or_from_another_ca(
    project, tmp_path, signing_keys, bundles
):
    with_keys(project, signing_keys, CERT_POLICY)
    env = project.env

    def push(bundle: str, who: str) -> None:
        signer = {"MLCI_SIGNING_KEY": f"keys/{who}.pem", "MLCI_SIGNING_CERT": f"keys/{who}.crt"}
        run = project.run("push", str(bundles[bundle]), env={**env, **signer})
        assert run.returncode == 0, run.stderr

    push("good", "ml-release")
    ok = project.run("verify", version_of(bundles["good"]))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "by ml-release@example.com verifies" in ok.stdout

    push("other", "intern")
    wrong = project.run("verify", version_of(bundles["other"]))
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert "is by intern@example.com, which no signing.identities entry allows" in wrong.stderr
    assert "issued by signing.certificate_chain (keys/ca.crt) for ml-release@example.com" in wrong.stderr

    push("other", "rogue")  # the right name, from a CA the policy does not trust
    rogue = project.run("deploy", version_of(bundles["other"]), "--env", "production")
    assert rogue.returncode == 1, rogue.stdout + rogue.stderr
    assert "by ml-release@example.com does not verify" in rogue.stderr
    assert published_version(project, env) is None


def test_sigstore_without_the_jobs_oidc_identity_stores_unsigned_and_says_why(project, tmp_path, signing_keys, bundles):
    with_keys(project, signing_keys, SIGSTORE_POLICY)
    outside = project.run("push", str(bundles["good"]), env=project.env)
    assert outside.returncode == 0, outside.stdout + outside.stderr
    assert "not signed: signing.method sigstore signs with the GitHub Actions job's OIDC identity" in outside.stdout
    assert "this is not a GitHub Actions job" in outside.stdout
    no_permission = project.run("push", str(bundles["good"]), env=project.env_with(GITHUB_ACTIONS="true"))
    assert no_permission.returncode == 0, no_permission.stderr
    assert "this job may not request one" in no_permission.stdout
    assert "add `permissions: id-token: write` to the job" in no_permission.stdout
    refused = project.run("verify", version_of(bundles["good"]), env=project.env)
    assert refused.returncode == 1 and "nobody signed it" in refused.stderr
    assert "a sigstore signature by octo-org/ml-repo .github/workflows/pr-check.yml on refs/pull/*/merge" in (
        refused.stderr
    )


# --- the ML-BOM, config, and nothing without a signing section ------------------------------


def test_ml_bom_validates_against_the_cyclonedx_schema(project, tmp_path, signing_keys, bundles):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    with_keys(project, signing_keys, KEY_POLICY)
    pushed = project.run("--json", "push", str(bundles["good"]), env=project.env_with(MLCI_SIGNING_KEY="keys/team.pem"))
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


def test_without_a_signing_section_nothing_is_signed_or_checked(project, tmp_path, signing_keys, bundles):
    with_keys(project, signing_keys, None)
    project.env_with(MLCI_SIGNING_KEY="keys/team.pem")
    assert project.run("push", str(bundles["other"])).returncode == 0
    assert project.run("promote", version_of(bundles["other"]), "--to", "staging").returncode == 0
    assert not list((project / ".mlci" / "registry").rglob("signatures"))
    history = json.loads(project.run("--json", "history").stdout)
    assert all(v.get("signatures") is None for v in history["versions"])  # none listed: signing is off
    refused = project.run("verify", "staging")
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


def test_signing_config_is_in_the_json_schema_and_checked_at_load(project):
    from mlci.config.schema import json_schema, load_config
    from mlci.errors import ConfigError

    schema = json_schema()
    assert "signing" in schema["properties"]
    signing = schema["$defs"]["SigningSection"]["properties"]
    assert set(signing) == {"method", "private_key", "certificate", "public_keys", "certificate_chain", "identities"}
    for policy, problem in (
        ({"method": "keys"}, "signing.method: Input should be 'key', 'certificate' or 'sigstore'"),
        ({"method": "certificate", "private_key": "k.pem"}, "give both"),
        ({"method": "sigstore", "identities": [{"ref": "main"}]}, "give 'identity', or 'repository'"),
    ):
        with pytest.raises(ConfigError) as raised:
            load_config(project.with_signing(policy).config_path, env={})
        assert any(problem in line for line in raised.value.problems), raised.value.problems


def test_the_retrains_promotion_to_staging_goes_through_the_signing_policy(project, tmp_path, signing_keys, bundles):
    # The scheduled job moves staging like every other path: an unsigned candidate is refused
    # (exit 1, staging untouched), a signed one moves it and the move is recorded.
    with_keys(project, signing_keys, KEY_POLICY)
    env = project.env
    good = version_of(bundles["good"])
    assert project.run("push", str(bundles["good"]), env={**env, "MLCI_SIGNING_KEY": "keys/team.pem"}).returncode == 0
    assert project.run("deploy", good, "--env", "production").returncode == 0

    drifted(project).to_csv(project / "fresh.csv", index=False)
    project.with_retrain(data="fresh.csv", promote="staging")

    unsigned = project.run("retrain")  # a job without the key stores the candidate unsigned
    assert unsigned.returncode == 1, unsigned.stdout + unsigned.stderr
    assert "not promoting" in unsigned.stderr and "to staging" in unsigned.stderr
    assert "is not signed: nobody signed it" in unsigned.stderr and "Traceback" not in unsigned.stderr
    history = json.loads(project.run("--json", "history").stdout)
    assert "staging" not in [a["alias"] for a in history["aliases"]]

    signed = project.run("retrain", env={**env, "MLCI_SIGNING_KEY": "keys/team.pem"})
    assert signed.returncode == 0, signed.stdout + signed.stderr
    history = json.loads(project.run("--json", "history").stdout)
    aliases = {a["alias"]: a["version"] for a in history["aliases"]}
    assert aliases["staging"] == aliases[next(a for a in aliases if a.startswith("retrain-"))]
