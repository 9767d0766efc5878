"""Keys, certificates and policies for the signing tests, made here with `cryptography`.

Signatures are made and checked by the real model_signing library; only the keys and the
certificate authority are the tests' own.
"""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path
from typing import Any

from tests.support.project import ProjectCopy

# The `signing` sections of mlci.yaml the tests use (docs/signing.md).
KEY_POLICY: dict[str, Any] = {
    "method": "key",
    "private_key": "${MLCI_SIGNING_KEY:-}",
    "public_keys": ["keys/team.pub"],
}
CERT_POLICY: dict[str, Any] = {
    "method": "certificate",
    "private_key": "${MLCI_SIGNING_KEY:-}",
    "certificate": "${MLCI_SIGNING_CERT:-}",
    "certificate_chain": ["keys/ca.crt"],
    "identities": [{"identity": "ml-release@example.com"}],
}
SIGSTORE_POLICY: dict[str, Any] = {
    "method": "sigstore",
    "identities": [
        {"repository": "octo-org/ml-repo", "workflow": ".github/workflows/pr-check.yml", "ref": "refs/pull/*/merge"}
    ],
}
# Models other than the example's, for distinct signed versions.
OTHER = ("sklearn.linear_model.LogisticRegression", {"max_iter": 300})
THIRD = ("sklearn.linear_model.LogisticRegression", {"max_iter": 300, "C": 0.5})


def with_keys(project: ProjectCopy, keys: Path, policy: dict[str, Any] | None) -> ProjectCopy:
    """Copy `keys` into the project's keys/ and give it the `signing` section `policy` (None: none)."""
    shutil.copytree(keys, project / "keys")
    return project.with_signing(policy)


def make_keys(root: Path) -> Path:
    """Write key pairs team.* and other.*, a CA (ca.*), and signing certificates it issued for two people; return `root`."""
    write_key(root / "team")
    write_key(root / "other")
    ca_key = ec_key(root / "ca.pem")
    (root / "ca.crt").write_bytes(certificate("mlci test CA", ca_key, "mlci test CA", ca_key, ca=True))
    for who in ("ml-release", "intern"):
        leaf = ec_key(root / f"{who}.pem")
        (root / f"{who}.crt").write_bytes(certificate(who, leaf, "mlci test CA", ca_key, email=f"{who}@example.com"))
    # A certificate for the right person from a CA the policy does not trust.
    rogue_ca = ec_key(root / "rogue-ca.pem")
    leaf = ec_key(root / "rogue.pem")
    (root / "rogue.crt").write_bytes(
        certificate("ml-release", leaf, "rogue CA", rogue_ca, email="ml-release@example.com")
    )
    return root


def write_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    path.with_suffix(".pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.with_suffix(".pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def certificate(
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


def ec_key(path: Path) -> object:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key


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
