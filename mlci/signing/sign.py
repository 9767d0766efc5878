"""Sign each stored version with OpenSSF Model Signing (verified against the policy in mlci.signing.verify).

Content hashes stop accidents, not someone who can write the bucket: they can write a
consistent manifest too. A signature by a key or an identity they do not hold stops them.

Beside a version (written before its manifest, so a new version is never visible unsigned):

    versions/<id>/signatures/<sid>/provenance.json  the job that stored it: action, PR, head sha, ref, run
    versions/<id>/signatures/<sid>/bom.cdx.json     its CycloneDX ML-BOM (mlci.signing.bom)
    versions/<id>/signatures/<sid>/model.sig        the signature, written last: a sigstore bundle over the
                                                    version's files, its manifest and the two files above

Every store adds one signature (a version stored by several checks carries several); a
version passes when one of them verifies under the policy. model_signing signs a directory,
so each signature covers a tree assembled from hard links: the bundle's files as they are
and `_mlci/provenance.json` + `_mlci/bom.cdx.json`. Verification rebuilds the same tree
from the downloaded (sha256-checked) bundle and lets model_signing compare every digest.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from mlci._internal.nesting import load_json
from mlci._internal.text import first_line
from mlci.contracts.manifest import Manifest
from mlci.contracts.signature import Provenance, Signature, Signer
from mlci.errors import ConfigError, MlciError, ModelError, NotFoundError, ServiceError

if TYPE_CHECKING:
    from mlci.config.schema import Config, SigningSection
    from mlci.github.context import GitHubContext
    from mlci.registry.registry import Registry

SIGNATURES = "signatures"
SIGNATURE = "model.sig"
PROVENANCE = "provenance.json"
BOM = "bom.cdx.json"
TREE_DIR = "_mlci"  # where provenance and BOM sit inside the signed tree
GITHUB = "https://github.com/"


# --- the library --------------------------------------------------------------------------


def model_signing_library() -> Any:
    try:
        import model_signing
        import model_signing.hashing
        import model_signing.signing
        import model_signing.verifying
    except ImportError:
        raise ConfigError(
            "mlci.yaml has a 'signing' section, but model-signing is not installed",
            hint="pip install 'mlci[signing]'",
        ) from None
    return model_signing


def hashing_config(ms: Any) -> Any:
    # sha256 per file: the signed digest of the model file (model.skops, model.onnx) is the manifest's sha256 and the version id.
    return ms.hashing.Config().use_file_serialization(hashing_algorithm="sha256", allow_symlinks=False)


# --- the signed tree ----------------------------------------------------------------------


@contextlib.contextmanager
def signed_tree(bundle_dir: Path, attachments: dict[str, bytes], scratch: Path) -> Iterator[Path]:
    """Yield a directory holding exactly the bundle's listed files, its manifest and `attachments`."""
    from mlci.modeling.bundle import MANIFEST

    manifest = Manifest.parse((bundle_dir / MANIFEST).read_bytes(), str(bundle_dir / MANIFEST))
    names = [MANIFEST, *(manifest.files or {})]
    if any(n == TREE_DIR or n.startswith(TREE_DIR + "/") for n in names):
        raise ModelError(f"{bundle_dir}: a bundle file is named {TREE_DIR}/…, which signing reserves")
    scratch.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="mlci-sign-", dir=scratch))
    tree = root / str(manifest.version or "bundle")
    try:
        for name in names:
            dst = tree / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(bundle_dir / name, dst)  # no copy of a large model; the bytes are the same
            except OSError:
                shutil.copyfile(bundle_dir / name, dst)
        for name, data in attachments.items():
            (tree / TREE_DIR).mkdir(exist_ok=True)
            (tree / TREE_DIR / name).write_bytes(data)
        yield tree
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- signing ------------------------------------------------------------------------------


class VersionSigner:
    """Signs each version a job stores; passed to Registry.push as `attach`.

    Calling it with a bundle directory returns the objects to store beside the version
    (provenance, ML-BOM, signature, in write order); `signed` keeps the last signature.
    """

    def __init__(
        self, config: Config, registry: Registry, ctx: GitHubContext | None, *, action: str, actor: str
    ) -> None:
        assert config.signing is not None
        self.config = config
        self.registry = registry
        self.section: SigningSection = config.signing
        self.ctx = ctx
        self.action = action
        self.actor = actor
        self.signed: Signature | None = None
        self.note: str | None = None

    def __call__(self, bundle_dir: Path) -> dict[str, bytes]:
        from mlci.modeling.bundle import MANIFEST
        from mlci.signing.bom import build_bom

        section = self.section
        if section.method != "sigstore" and not section.private_key:
            self.note = (
                f"not signed: signing.private_key is empty in {self.config.path} "
                "(a version without a signature is refused by promote and deploy)"
            )
            return {}
        ms = model_signing_library()
        token = None
        if section.method == "sigstore":
            token, why = _oidc_token()
            if token is None:
                self.note = NO_OIDC.format(why=why)
                return {}
        manifest = Manifest.parse((bundle_dir / MANIFEST).read_bytes(), str(bundle_dir / MANIFEST))
        version = str(manifest.version)
        ctx = self.ctx
        provenance = Provenance(
            model=self.config.model.name,
            version=version,
            action=self.action,
            actor=self.actor,
            repository=ctx.repository if ctx else None,
            ref=ctx.ref if ctx else None,
            pr=ctx.pr_number if ctx else manifest.pr,
            head_sha=(ctx.head_sha if ctx else None) or manifest.git_sha,
            run_url=ctx.run_url if ctx else None,
            signed_at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            nonce=secrets.token_hex(8),
        )
        config = ms.signing.Config().set_hashing_config(hashing_config(ms))
        signer = self._configure(ms, config, token)
        provenance_bytes = (provenance.model_dump_json(indent=2) + "\n").encode()
        bom = build_bom(
            manifest,
            signer={"method": signer.method, "identity": signer.identity},
            provenance=provenance.model_dump(mode="json"),
        )
        attachments = {PROVENANCE: provenance_bytes, BOM: bom}
        scratch = self.config.work_dir / "tmp"
        with signed_tree(bundle_dir, attachments, scratch) as tree:
            out = tree.parent / SIGNATURE
            self._sign(config, tree, out)
            signature = out.read_bytes()
        sid = hashlib.sha256(provenance_bytes).hexdigest()[:16]
        prefix = f"{SIGNATURES}/{sid}/"
        url = self.registry.store.url
        self.signed = Signature(
            id=sid,
            uri=url(self.registry.version_key(version, prefix + SIGNATURE)),
            bom_uri=url(self.registry.version_key(version, prefix + BOM)),
            signer=signer,
            provenance=provenance,
        )
        return {prefix + PROVENANCE: provenance_bytes, prefix + BOM: bom, prefix + SIGNATURE: signature}

    def _configure(self, ms: Any, config: Any, token: str | None) -> Signer:
        """Set up the library's signer; return who will sign."""
        section = self.section
        where = f"{self.config.path}: signing"
        if token is not None:
            try:
                config.use_sigstore_signer(identity_token=token)
            except Exception as e:  # the signer fetches sigstore's trust root (TUF) as it is built
                raise ServiceError(f"sigstore signing failed: {type(e).__name__}: {first_line(e)}") from e
            return Signer(method="sigstore", identity=_token_identity(token), issuer=_token_claims(token).get("iss"))
        key = Path(self.config.locate(str(section.private_key)))
        try:
            if section.method == "key":
                config.use_elliptic_key_signer(private_key=key)
                return _key_signer(key)
            cert = Path(self.config.locate(str(section.certificate)))
            chain = [Path(self.config.locate(c)) for c in section.certificate_chain]
            config.use_certificate_signer(private_key=key, signing_certificate=cert, certificate_chain=chain)
            return _certificate_signer(cert.read_bytes())
        except FileNotFoundError as e:
            raise ConfigError(f"{where}: {e.filename}: no such file") from None
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{where}.private_key {key}: not a usable EC private key in PEM ({e})") from None

    def _sign(self, config: Any, tree: Path, out: Path) -> None:
        try:
            config.sign(tree, out)
        except MlciError:
            raise
        except Exception as e:
            if self.section.method == "sigstore":
                # The network boundary: Fulcio, Rekor and the TUF trust root are outside services.
                raise ServiceError(f"sigstore signing failed: {type(e).__name__}: {first_line(e)}") from e
            raise ModelError(f"signing failed: {type(e).__name__}: {first_line(e)}") from e


def version_signer(
    config: Config, registry: Registry, ctx: GitHubContext | None, *, action: str, actor: str
) -> VersionSigner | None:
    """Return the signer for versions this job stores, or None when mlci.yaml has no `signing` section."""
    if config.signing is None:
        return None
    return VersionSigner(config, registry, ctx, action=action, actor=actor)


NO_OIDC = (
    "not signed: signing.method sigstore signs with the GitHub Actions job's OIDC identity, and {why} "
    "(add `permissions: id-token: write` to the job; fork PRs never get one); "
    "a version without a signature is refused by promote and deploy"
)


def _oidc_token() -> tuple[str | None, str]:
    """Return (the job's OIDC token for sigstore, or None and why not); the `id` library reads the runner's variables."""
    model_signing_library()
    import id as oidc

    try:
        token = oidc.detect_credential("sigstore")
    except oidc.GitHubOidcPermissionCredentialError:
        return None, "this job may not request one"
    except oidc.IdentityError as e:
        raise ServiceError(f"signing.method sigstore: could not get the job's OIDC token: {e}") from None
    return (str(token), "") if token else (None, "this is not a GitHub Actions job")


def _token_claims(token: str) -> dict[str, Any]:
    # Only to name the signer in the BOM before Fulcio certifies it; verification reads the certificate.
    try:
        payload = token.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    except (IndexError, ValueError):
        return {}


def _token_identity(token: str) -> str:
    claims = _token_claims(token)
    ref = claims.get("job_workflow_ref")
    return f"{GITHUB}{ref}" if ref else str(claims.get("sub", "unknown"))


# --- who signed ---------------------------------------------------------------------------


def key_fingerprint(public_key: Any) -> str:
    """Return model_signing's key hint: sha256 of the public key's PEM (what a key signature carries)."""
    from cryptography.hazmat.primitives import serialization

    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def _key_signer(private_key: Path) -> Signer:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_key.read_bytes(), None)
    fingerprint = key_fingerprint(key.public_key())
    return Signer(method="key", identity=f"key sha256:{fingerprint[:16]}", fingerprint=fingerprint)


def _certificate_names(cert: Any) -> tuple[str, ...]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for kind in (x509.RFC822Name, x509.UniformResourceIdentifier, x509.DNSName):
            names += [str(v) for v in san.get_values_for_type(kind)]
    except x509.ExtensionNotFound:
        pass
    names += [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return tuple(dict.fromkeys(names))


def _certificate_signer(der_or_pem: bytes, method: Literal["certificate", "sigstore"] = "certificate") -> Signer:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    if der_or_pem.lstrip().startswith(b"-----BEGIN"):
        cert = x509.load_pem_x509_certificate(der_or_pem)
    else:
        cert = x509.load_der_x509_certificate(der_or_pem)
    names = _certificate_names(cert)
    issuer = cert.issuer.rfc4514_string()
    if method == "sigstore":
        # Fulcio records the token's issuer in an extension (v2 OID, then the deprecated v1).
        for oid in ("1.3.6.1.4.1.57264.1.8", "1.3.6.1.4.1.57264.1.1"):
            with contextlib.suppress(x509.ExtensionNotFound):
                ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value
                raw = ext.value if isinstance(ext, x509.UnrecognizedExtension) else b""
                issuer = _der_utf8(raw) if oid.endswith(".8") else raw.decode()
                break
    identity = names[0] if names else cert.subject.rfc4514_string()
    return Signer(
        method=method,
        identity=identity,
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        names=names,
        issuer=issuer,
    )


def _der_utf8(raw: bytes) -> str:
    # A DER UTF8String: tag, length, bytes (Fulcio's v2 extensions). Lengths above 127 use long form.
    if len(raw) > 2 and raw[1] & 0x80:
        n = raw[1] & 0x7F
        return raw[2 + n :].decode()
    return raw[2:].decode()


def read_signer(signature: bytes) -> Signer:
    """Return who a stored signature (a sigstore bundle, JSON) says signed it."""
    # The bundle's verification material names the signer: a key hint, a certificate chain
    # (certificate mode) or one Fulcio certificate (sigstore). model_signing reads it only
    # inside verification, so the claimed signer (to match against the policy and to name
    # in refusals) is read here from the bundle's documented JSON form.
    try:
        bundle = load_json(signature)
        material = bundle.get("verificationMaterial") or {}
        if "publicKey" in material:
            hint = str((material.get("publicKey") or {}).get("hint") or "")
            return Signer(method="key", identity=f"key sha256:{hint[:16]}", fingerprint=hint)
        if "x509CertificateChain" in material:
            first = material["x509CertificateChain"]["certificates"][0]["rawBytes"]
            return _certificate_signer(base64.b64decode(first))
        if "certificate" in material:
            return _certificate_signer(base64.b64decode(material["certificate"]["rawBytes"]), "sigstore")
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        pass
    return Signer(method="unknown", identity="an unreadable signature")


# --- reading what is stored ---------------------------------------------------------------


# What a bucket writer can plant beside a version is unbounded (any number of folders, files of
# any size), so what is read of it is bounded; docs/signing.md names these limits.
MAX_SIGNATURES = 256  # signature folders examined per version; beyond that they are counted, not read
MAX_SIGNATURE_BYTES = 1 << 20  # one model.sig (a sigstore bundle is a few KiB)
MAX_ATTACHMENT_BYTES = 4 << 20  # one provenance.json or bom.cdx.json
MAX_READ_BYTES = 32 << 20  # everything read of one version's signatures


@dataclass(frozen=True)
class StoredSignature:
    """A signature as stored: its claims and the bytes of its model.sig."""

    signature: Signature
    raw: bytes


class SignatureReader:
    """Reads the signatures stored beside one version within the MAX_* bounds, and says what it left.

    Folders are taken in listing order (by id), and every one within the bounds is read: no
    claim inside them (such as provenance.signed_at) decides which are looked at.
    """

    def __init__(self, registry: Registry, version: str) -> None:
        self.registry = registry
        self.version = version
        root = registry.version_key(version, f"{SIGNATURES}/")
        ids = sorted({k[len(root) :].split("/")[0] for k in registry.store.list(root) if k.endswith("/" + SIGNATURE)})
        self.ids = ids[:MAX_SIGNATURES]
        self.unread = len(ids) - len(self.ids)  # folders past MAX_SIGNATURES or the byte budget
        self.skipped: list[str] = []  # why a folder within the bounds was not read
        self.budget = MAX_READ_BYTES

    def read(self, sid: str, name: str, limit: int) -> bytes:
        """Return one file of signature `sid`; NotFoundError, or ModelError when over its limit or the budget."""
        key = self.registry.version_key(self.version, f"{SIGNATURES}/{sid}/{name}")
        data, _ = self.registry.store.get(key, limit=min(limit, self.budget))
        self.budget -= len(data)
        return data

    def provenance(self, sid: str, data: bytes | None = None) -> Provenance | None:
        """Return the provenance signature `sid` claims (read here unless given), or None when it has none."""
        try:
            return Provenance.model_validate_json(
                data if data is not None else self.read(sid, PROVENANCE, MAX_ATTACHMENT_BYTES)
            )
        except (NotFoundError, ModelError, ValidationError, ValueError):
            return None

    def signatures(self, *, provenance: bool = False) -> list[StoredSignature]:
        """Return the signatures within the bounds (claims, not yet verified), with their provenance if asked."""
        url = self.registry.store.url
        out = []
        for n, sid in enumerate(self.ids):
            if self.budget <= 0:
                self.unread += len(self.ids) - n
                break
            try:
                raw = self.read(sid, SIGNATURE, MAX_SIGNATURE_BYTES)
            except NotFoundError:
                continue
            except ModelError as e:
                self.skipped.append(f"signature {sid}: {e.message}")
                continue
            prefix = f"{SIGNATURES}/{sid}/"
            signature = Signature(
                id=sid,
                uri=url(self.registry.version_key(self.version, prefix + SIGNATURE)),
                bom_uri=url(self.registry.version_key(self.version, prefix + BOM)),
                signer=read_signer(raw),
                provenance=self.provenance(sid) if provenance else None,
            )
            out.append(StoredSignature(signature=signature, raw=raw))
        return out

    def left_out(self) -> list[str]:
        """Return what was not read, in words (empty when everything was)."""
        notes = self.skipped[:3]
        if len(self.skipped) > 3:
            notes.append(f"and {len(self.skipped) - 3} more signatures not read for their size")
        if self.unread:
            notes.append(
                f"{self.unread} more signature folder(s) were not read: mlci reads at most {MAX_SIGNATURES} "
                f"signatures and {MAX_READ_BYTES >> 20} MiB of them per version"
            )
        return notes


def signatures_of(registry: Registry, version: str) -> list[Signature]:
    """Return the signatures stored beside a version, in id order (claims, not yet verified).

    What the bounds left unread is added to `registry.warnings`.
    """
    reader = SignatureReader(registry, version)
    found = [s.signature for s in reader.signatures(provenance=True)]
    registry.warnings.extend(f"version {version}: {note}" for note in reader.left_out())
    return found


def signed_digests(raw: bytes) -> dict[str, str] | None:
    """Return {file in the signed tree: sha256} that a signature's statement claims, or None if it has none.

    Read from the DSSE envelope's in-toto statement (model_signing's predicate lists every
    file it hashed as `resources`), before any cryptography: a claim, trusted only once verified.
    """
    try:
        envelope = json.loads(raw)["dsseEnvelope"]
        statement = json.loads(base64.b64decode(envelope["payload"]))
        return {str(r["name"]): str(r["digest"]) for r in statement["predicate"]["resources"]}
    except (ValueError, KeyError, TypeError):
        return None


def signature_messages(signer: VersionSigner | None) -> list[str]:
    """Return the lines a check prints about the signature it stored (none when signing is off)."""
    if signer is None:
        return []
    if signer.signed is None:
        return [signer.note or "not signed"]
    s = signer.signed
    return [f"signed by {s.signer.identity} (signature {s.id}); ML-BOM at {s.bom_uri}"]
