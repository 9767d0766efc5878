"""Verify a version's signatures against mlci.yaml's signing policy before it is promoted, deployed or rolled back.

A version passes when one of the signatures stored beside it (mlci.signing.sign) verifies over
its files with OpenSSF Model Signing and its signer is one the policy names: a public key,
a certificate from the configured CA for an allowed identity, or a sigstore certificate of
an allowed GitHub workflow and ref.

Whoever can write the bucket can plant signatures beside a version, any number, claiming
anything. So every signature within mlci.signing.sign's read bounds is looked at (none is
skipped for what it claims, such as its date), and the cheap tests come first: the claimed
signer against the policy (it also names who signed in a refusal), then the file digests
the signed statement claims against this version's; only a signature that passes both is
given to the library, which checks the cryptography and hashes the model.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci._internal.models import Result
from mlci._internal.text import first_line
from mlci.contracts.signature import Signature, Signer
from mlci.errors import CheckFailed, ConfigError, ModelError, NotFoundError, ServiceError
from mlci.signing.sign import (
    BOM,
    GITHUB,
    MAX_ATTACHMENT_BYTES,
    PROVENANCE,
    SIGNATURE,
    TREE_DIR,
    SignatureReader,
    hashing_config,
    key_fingerprint,
    model_signing_library,
    signed_digests,
    signed_tree,
)

if TYPE_CHECKING:
    from mlci.config.schema import Config, SigningIdentity
    from mlci.github.context import GitHubContext
    from mlci.registry.registry import Registry

MAX_REASONS = 5  # a refusal names this many signatures' reasons, then counts the rest


class PullRecord(Result):
    """GitHub's record of the PR a candidate must come from."""

    number: int
    head_sha: str | None = None


class Verification(Result):
    """The signature of a version that satisfied the policy."""

    version: str
    policy: str
    signature: Signature


# --- policy -------------------------------------------------------------------------------


def describe_policy(config: Config) -> str:
    """Return what the signing policy accepts, in words for a refusal message."""
    section = config.signing
    if section is None:
        return "no signing policy"
    if section.method == "key":
        keys = []
        for path in section.public_keys:
            try:
                keys.append(f"{path} (sha256:{_public_key_fingerprint(config, path)[:16]})")
            except ConfigError:
                keys.append(path)
        return f"a signature by one of signing.public_keys: {', '.join(keys) or 'none configured'}"
    who = ", ".join(_describe_identity(i) for i in section.identities) or "none configured"
    if section.method == "certificate":
        return f"a certificate issued by signing.certificate_chain ({', '.join(section.certificate_chain)}) for {who}"
    return f"a sigstore signature by {who}"


def _describe_identity(rule: SigningIdentity) -> str:
    if rule.identity:
        return rule.identity
    return f"{rule.repository} {rule.workflow or '(any workflow)'} on {rule.ref}"


def _public_key_fingerprint(config: Config, path: str) -> str:
    from cryptography.hazmat.primitives import serialization

    where = config.locate(path)
    try:
        key = serialization.load_pem_public_key(Path(where).read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{config.path}: signing.public_keys: {where}: no such file") from None
    except ValueError as e:
        raise ConfigError(f"{config.path}: signing.public_keys: {where}: not a PEM public key ({e})") from None
    return key_fingerprint(key)


def sigstore_ref(signer: Signer) -> tuple[str, str, str] | None:
    """Return (repository, workflow file, ref) of a GitHub Actions signer's certificate identity."""
    identity = signer.identity
    if not identity.startswith(GITHUB) or "@" not in identity:
        return None
    path, _, ref = identity[len(GITHUB) :].partition("@")
    parts = path.split("/", 2)
    if len(parts) != 3:
        return None
    return f"{parts[0]}/{parts[1]}", parts[2], ref


def identity_allowed(rule: SigningIdentity, signer: Signer) -> bool:
    """Return whether a signer matches one identity rule of the policy."""
    if rule.identity is not None:
        names = signer.names or (signer.identity,)
        if rule.identity not in names:
            return False
    if rule.repository is not None:
        parsed = sigstore_ref(signer)
        if parsed is None:
            return False
        repository, workflow, ref = parsed
        if repository.lower() != rule.repository.lower():
            return False
        if rule.workflow is not None and workflow != rule.workflow.lstrip("/"):
            return False
        if not fnmatch.fnmatchcase(ref, rule.ref):
            return False
    return signer.method != "sigstore" or signer.issuer == rule.issuer


def _rejection(config: Config, signature: Signature, pr: PullRecord | None) -> str | None:
    """Return why a signature cannot satisfy the policy before any hashing, or None."""
    section = config.signing
    assert section is not None
    signer = signature.signer
    if signer.method == "unknown":
        return f"signature {signature.id} is unreadable"
    if signer.method != section.method:
        return f"signature {signature.id} is a {signer.method} signature by {signer.identity}"
    if section.method == "key":
        allowed = {_public_key_fingerprint(config, p) for p in section.public_keys}
        if signer.fingerprint not in allowed:
            return f"signature {signature.id} is by {signer.identity}, which is not in signing.public_keys"
    elif not any(identity_allowed(rule, signer) for rule in section.identities):
        return f"signature {signature.id} is by {signer.identity}, which no signing.identities entry allows"
    if pr is not None and section.method == "sigstore":
        parsed = sigstore_ref(signer)
        want = f"refs/pull/{pr.number}/merge"
        if parsed is None or parsed[2] != want:
            got = parsed[2] if parsed else "no GitHub ref"
            return (
                f"signature {signature.id} was made on {got}, not by the pull_request run of PR #{pr.number} ({want})"
            )
    return None


def _pr_mismatch(signature: Signature, pr: PullRecord) -> str | None:
    """Return why a verified key or certificate signature does not bind the version to the PR, or None."""
    p = signature.provenance
    if p is None:
        return f"signature {signature.id} has no provenance"
    if p.pr != pr.number:
        return f"signature {signature.id} was made for PR #{p.pr}, not PR #{pr.number}"
    if pr.head_sha is None:
        return f"GitHub's record of PR #{pr.number} was not available to compare the head commit with"
    if p.head_sha != pr.head_sha:
        return (
            f"signature {signature.id} was made at commit {str(p.head_sha)[:12]}, but GitHub says PR #{pr.number}'s "
            f"head is {pr.head_sha[:12]}"
        )
    return None


def verify_version(config: Config, registry: Registry, version: str, *, pr: PullRecord | None = None) -> Verification:
    """Return the signature that makes `version` acceptable under mlci.yaml's policy; CheckFailed when none does.

    With `pr`, the signature must also bind the version to that pull request: a sigstore
    signature made on refs/pull/N/merge, or a key/certificate signature whose signed
    provenance names PR N at the head commit GitHub records.
    """
    section = config.signing
    if section is None:
        raise ConfigError(f"{config.path}: no 'signing' section: there is no policy to verify against")
    if section.method == "key" and not section.public_keys:
        raise ConfigError(f"{config.path}: signing.public_keys is empty: no key to verify signatures with")
    if section.method == "certificate" and not section.certificate_chain:
        raise ConfigError(f"{config.path}: signing.certificate_chain is empty: no CA to verify certificates with")
    if section.method != "key" and not section.identities:
        raise ConfigError(f"{config.path}: signing.identities is empty: say who may sign")
    policy = describe_policy(config)
    model = config.model.name
    reader = SignatureReader(registry, version)
    stored = reader.signatures()
    if not stored and not reader.left_out():
        raise CheckFailed(f"version {version} of {model} is not signed: nobody signed it; the policy expects {policy}")
    from mlci.modeling.bundle import MANIFEST

    files = registry.manifest(version).files or {}
    manifest_raw = registry.store.get(registry.version_key(version, MANIFEST))[0]
    bundle: Path | None = None
    reasons = []
    # Every signature within the reader's bounds is looked at, cheapest test first: who it
    # claims signed it, then whether the digests it claims are this version's files, its
    # provenance and its ML-BOM, then (for the few left) the cryptography. So signatures that
    # fail are cheap whatever their number, and none of them can hide one that verifies.
    for item in stored:
        signature = item.signature
        reason = _rejection(config, signature, pr)
        attachments: dict[str, bytes] = {}
        if reason is None:
            reason = _read_attachments(reader, signature, attachments)
        if reason is None:
            signature = signature.model_copy(
                update={"provenance": reader.provenance(signature.id, attachments[PROVENANCE])}
            )
            reason = _digests_differ(signature, item.raw, manifest_raw, files, attachments)
        if reason is None and pr is not None and section.method != "sigstore":
            # The provenance's claim: refusing on it is safe; accepting it waits for the cryptography.
            reason = _pr_mismatch(signature, pr)
        if reason is None:
            bundle = bundle or _fetch(config, registry, version)
            reason = _verify_one(config, bundle, signature, item.raw, attachments)
        if reason is None:
            return Verification(version=version, policy=policy, signature=signature)
        reasons.append(reason)
    shown = reasons[:MAX_REASONS]
    if len(reasons) > MAX_REASONS:
        shown.append(f"and {len(reasons) - MAX_REASONS} more like these")
    shown += reader.left_out()
    raise CheckFailed(
        f"version {version} of {model} is not signed as the policy requires: {len(stored)} signature(s) "
        f"examined, none verifies: {'; '.join(shown)}; the policy expects {policy}"
    )


def _fetch(config: Config, registry: Registry, version: str) -> Path:

    return registry.fetch(version, config.work_dir / "versions")


def _read_attachments(reader: SignatureReader, signature: Signature, into: dict[str, bytes]) -> str | None:
    """Read the provenance and ML-BOM a signature covers into `into`; return why not, or None."""
    for name in (PROVENANCE, BOM):
        try:
            into[name] = reader.read(signature.id, name, MAX_ATTACHMENT_BYTES)
        except NotFoundError:
            return f"signature {signature.id} is incomplete (no {name})"
        except ModelError as e:
            return f"signature {signature.id}: {e.message}"
    return None


def _digests_differ(
    signature: Signature, raw: bytes, manifest_raw: bytes, files: dict[str, str], attachments: dict[str, bytes]
) -> str | None:
    """Return why the digests a signature claims are not those of this version's tree, or None.

    The same comparison model_signing makes after checking the signature, made first: a
    signature copied from another version, or one beside a changed provenance, is refused
    without hashing the model (which only the one that verifies then pays).
    """
    claimed = signed_digests(raw)
    if claimed is None:
        return f"signature {signature.id} is unreadable"
    from mlci.modeling.bundle import MANIFEST

    actual = {MANIFEST: hashlib.sha256(manifest_raw).hexdigest(), **files}
    actual |= {f"{TREE_DIR}/{name}": hashlib.sha256(data).hexdigest() for name, data in attachments.items()}
    parts = [
        f"the signed digest of {name} differs" for name in actual if name in claimed and claimed[name] != actual[name]
    ]
    missing = sorted(set(actual) - set(claimed))
    extra = sorted(set(claimed) - set(actual))
    if extra:
        parts.append(f"extra files: {', '.join(extra)}")
    if missing:
        parts.append(f"missing files: {', '.join(missing)}")
    if parts:
        return f"signature {signature.id} by {signature.signer.identity} does not verify: {', '.join(parts)}"
    return None


def _verify_one(
    config: Config, bundle: Path, signature: Signature, raw: bytes, attachments: dict[str, bytes]
) -> str | None:
    """Return None when the signature verifies over the version's files, else why not."""
    ms = model_signing_library()
    section = config.signing
    assert section is not None
    verifier = ms.verifying.Config().set_hashing_config(hashing_config(ms))
    if section.method == "key":
        keys = {_public_key_fingerprint(config, p): p for p in section.public_keys}
        verifier.use_elliptic_key_verifier(public_key=Path(config.locate(keys[str(signature.signer.fingerprint)])))
    elif section.method == "certificate":
        verifier.use_certificate_verifier(certificate_chain=[Path(config.locate(c)) for c in section.certificate_chain])
    else:
        try:
            verifier.use_sigstore_verifier(identity=signature.signer.identity, oidc_issuer=signature.signer.issuer)
        except Exception as e:  # the TUF trust root is fetched from sigstore's CDN
            raise ServiceError(
                f"sigstore verification could not get its trust root: {type(e).__name__}: {first_line(e)}"
            ) from e
    with signed_tree(bundle, attachments, config.work_dir / "tmp") as tree:
        sig_path = tree.parent / SIGNATURE
        sig_path.write_bytes(raw)
        try:
            verifier.verify(tree, sig_path)
        except Exception as e:  # the library raises ValueError, InvalidSignature, OpenSSL errors…
            return f"signature {signature.id} by {signature.signer.identity} does not verify: {_why(e)}"
    return None


def _why(e: BaseException) -> str:
    """Return the library's verification failure in a line (its digest mismatches name files and bytes)."""
    text = str(e)
    # The library joins repr()s, which escape the quotes around a name when a digest holds one.
    changed = re.findall(r"Hash mismatch for \\?'([^'\\]+)\\?'", text)
    extra = re.findall(r"(Extra|Missing) files (?:found )?in model '[^']*': ([^\]\"]+)", text)
    if changed or extra:
        parts = [f"the signed digest of {name} differs" for name in changed]
        parts += [f"{kind.lower()} files: {names.strip()}" for kind, names in extra]
        return ", ".join(parts)
    return first_line(e) or type(e).__name__


def require_signed(
    config: Config, registry: Registry, version: str, *, pr: PullRecord | None = None
) -> Verification | None:
    """Return the verification of `version` when mlci.yaml has a signing policy (None without one)."""
    if config.signing is None:
        return None
    return verify_version(config, registry, version, pr=pr)


def provenance_notes(verified: Verification | None) -> list[str]:
    """Return the lines a deploy prints about the signature it verified (none without a policy)."""
    if verified is None:
        return []
    s = verified.signature
    return [
        f"signature verified: {verified.version} signed by {s.signer.identity} (signature {s.id}); ML-BOM at {s.bom_uri}"
    ]


def provenance_payload(verified: Verification | None) -> dict[str, Any]:
    """Return what a GitHub deployment's payload records about the verified signature and the ML-BOM."""
    if verified is None:
        return {}
    s = verified.signature
    return {"signed_by": s.signer.identity, "signature": s.uri, "ml_bom": s.bom_uri}


def verify_ref(
    config: Config, registry: Registry, ref: str, *, ctx: GitHubContext | None = None, pr: int | None = None
) -> Verification:
    """Return the verification of the stored version REF names (`mlci verify`); CheckFailed if it fails."""
    version = registry.version_of(ref)
    return verify_version(config, registry, version, pr=pull_record(ctx, pr) if pr is not None else None)


def pull_record(ctx: GitHubContext | None, number: int) -> PullRecord:
    """Return GitHub's record of PR `number` (its head commit), or one without it when GitHub cannot be asked."""
    if ctx is None or not (ctx.token and ctx.repository):
        return PullRecord(number=number)
    from mlci.github.client import GitHubClient

    with GitHubClient.from_context(ctx) as client:
        return PullRecord(number=number, head_sha=client.pull_request(number).head.sha)
