"""A signature stored beside a version: who signed, where, and what it binds."""

from __future__ import annotations

from typing import Literal

from mlci._internal.models import Result


class Provenance(Result):
    """Which job stored (and signed) a version: signed with it, so a policy can rely on it."""

    schema_version: Literal[1] = 1
    model: str
    version: str
    action: str
    actor: str
    repository: str | None = None
    ref: str | None = None
    pr: int | None = None
    head_sha: str | None = None
    run_url: str | None = None
    signed_at: str
    nonce: str


class Signer(Result):
    """Who a signature says signed it (read from the signature; trusted only once verified)."""

    method: Literal["key", "certificate", "sigstore", "unknown"]
    identity: str
    fingerprint: str | None = None
    names: tuple[str, ...] = ()
    issuer: str | None = None


class Signature(Result):
    """One signature stored beside a version."""

    id: str
    uri: str
    bom_uri: str
    signer: Signer
    provenance: Provenance | None = None
