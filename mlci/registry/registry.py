"""Registry: immutable model versions, movable aliases and an audit log, over a Store.

Layout under the store's root (docs/registry.md), identical on disk and on S3:

    <model>/versions/<id>/<file>...        the bundle's files; manifest.json written LAST
    <model>/versions/<id>/signatures/...   with signing: signature, provenance, ML-BOM (before the manifest)
    <model>/aliases/<alias>.json           {version, previous, updated_at, actor, reason}
    <model>/deployments/<env>/releases/<release>/...  one copy per deploy (<version>-<rand>), manifest
                                           last; SMOKED.json once it passed its smoke test
    <model>/deployments/<env>/leases/<release>.json   held while the deploy making that release runs
    <model>/deployments/<env>/CURRENT.json {version, prefix, published_at, actor, model}: the release served
    <model>/events/<utc-stamp>-<rand>.json append-only audit log

A version exists if and only if its manifest exists: files go first, so a push that dies
halfway leaves nothing visible, and the next push completes it without re-sending what
is already there. A release is written the same way into a prefix no other deploy uses,
and the pointer CURRENT.json names it only once it passed its smoke test, so a serving
system never sees a release whose files are not all in place. Aliases move only by
compare-and-swap on the alias object's ETag.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from mlci._internal.files import regular_file, sha256_file
from mlci._internal.models import Record
from mlci._internal.nesting import load_json
from mlci._internal.redaction import redact
from mlci.contracts.events import AliasEvent, AnyEvent, PublishEvent, PushEvent, dump_event, parse_event
from mlci.contracts.manifest import Manifest
from mlci.contracts.parsing import parse_record
from mlci.errors import ConfigError, ConflictError, ModelError, NotFoundError
from mlci.modeling.bundle import MANIFEST, MODEL_FILE
from mlci.modeling.results import KEY_FILE as RESULTS_KEY_FILE
from mlci.storage.store import Store, sweep_temp

CURRENT = "CURRENT.json"
# Matched with fullmatch only: `$` would also accept a trailing newline.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
VERSION_RE = re.compile(r"[0-9a-f]{16}")
PREFIX_RE = re.compile(r"[0-9a-f]{6,16}")
SMOKED = "SMOKED.json"
MIN_PREFIX = 6
# A release is <version>-<8 hex>, one per deploy; a bare <version> is a release of older mlci.
RELEASE_RE = re.compile(r"[0-9a-f]{16}(?:-[0-9a-f]{8})?")
LEASES = "leases"
# A lease this old belongs to a deploy that was killed: no deploy runs a day (GitHub ends a
# hosted job after 6 hours). Until then its release is kept, which loses nothing.
LEASE_SECONDS = 24 * 3600.0


def release_version(release: str) -> str:
    """Return the version id a release id (`<version>-<rand>`, or a bare `<version>`) is a copy of."""
    return release[:16]


class _Read:
    """Sentinel type of READ: 'read the alias's current etag yourself'."""

    def __repr__(self) -> str:
        return "READ"


READ = _Read()


def _version_id(value: str) -> str:
    if not VERSION_RE.fullmatch(value):
        raise ValueError("not a version id")
    return value


def _text(value: Any) -> Any:
    return "" if value is None else value


VersionId = Annotated[str, AfterValidator(_version_id)]
# A null where a string belongs reads as empty, as mlci has always read it.
Text = Annotated[str, BeforeValidator(_text)]


class AliasRecord(Record):
    """Where an alias points, where it pointed before, and who moved it.

    Stored as aliases/<name>.json: `{version, previous, updated_at, actor, reason}`. The name
    comes from the key and the etag from the store; neither is stored. The PR role can write
    aliases, so a record is believed only as far as this model: both versions must be ids.
    """

    name: str = Field(exclude=True)
    version: VersionId
    previous: VersionId | None = None
    updated_at: Text = ""
    actor: Text = ""
    reason: Text = ""
    etag: str | None = Field(default=None, exclude=True)

    @classmethod
    def parse(cls, raw: bytes, *, name: str, etag: str | None, where: str) -> AliasRecord:
        """Return the record stored at `where` (its bytes, its etag); ModelError naming the bad field."""
        return parse_record(cls, raw, f"{where} is not a valid alias record", known={"name": name, "etag": etag})

    def to_json(self) -> bytes:
        """Return the bytes stored for this record: its stored fields, keys sorted, indented."""
        return json.dumps(self.model_dump(), indent=2, sort_keys=True).encode()


@dataclass
class PushResult:
    """The version a push stored; created is False when it was already there (0 bytes sent)."""

    version: str
    created: bool
    uri: str


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _modified(path: Path) -> ModelError:
    return ModelError(f"{path} does not match its sha256 in {MANIFEST}; the bundle was modified after it was written")


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ConfigError(
            f"invalid {kind} name {name!r}: use letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def _parse_manifest(raw: bytes, where: str) -> tuple[Manifest, dict[str, str]]:
    """Return (manifest, files) after checking the fields the registry relies on."""
    manifest = Manifest.parse(raw, f"{where}{MANIFEST}" if where.endswith("/") else f"{where}/{MANIFEST}")
    files = manifest.files
    key = manifest.key_file  # the file whose sha256 is the version id: model.skops, or a format's own
    if key not in (MODEL_FILE, RESULTS_KEY_FILE):
        raise ModelError(f"{where}: manifest.json names an unknown model_file {key!r}")
    if files is None or key not in files:
        raise ModelError(f"{where}: manifest.json has no files.{key} checksum")
    if manifest.sha256 != files[key]:
        raise ModelError(f"{where}: manifest.json sha256 differs from files.{key}")
    for name in files:
        parts = PurePosixPath(name).parts
        # A manifest names files to write on fetch: refuse anything that escapes the bundle.
        if not parts or name.startswith("/") or ".." in parts or "\\" in name or name in (MANIFEST, CURRENT):
            raise ModelError(f"{where}: manifest.json lists an invalid file entry {name!r}")
    return manifest, dict(files)


class Registry:
    """The versions, aliases, deployments and events of one model in one store."""

    def __init__(self, store: Store, model: str) -> None:
        self.store = store
        self.model = _check_name("model", model)
        self.uri = store.url(model)
        # Things a reader should know but that do not stop it (e.g. skipped malformed events).
        self.warnings: list[str] = []
        # A pull request's job writes its events under events/pr-<n>/ so that its role needs no
        # write access to the events of trusted jobs (docs/security.md: the PR role's policy).
        self.event_namespace: str | None = None

    # -- keys --------------------------------------------------------------

    def _version_prefix(self, version: str) -> str:
        return f"{self.model}/versions/{version}/"

    def version_key(self, version: str, name: str) -> str:
        """Return the store key of an object stored beside a version (a signature, say)."""
        if not VERSION_RE.fullmatch(version):
            raise NotFoundError(f"{version!r} is not a version id of model {self.model!r}")
        return self._version_prefix(version) + name

    def version_uri(self, version: str) -> str:
        """Return where version `version` of the model lives in the store (whether or not it is stored yet)."""
        return self.store.url(self._version_prefix(version))

    def _alias_key(self, name: str) -> str:
        return f"{self.model}/aliases/{name}.json"

    def _deploy_prefix(self, env: str) -> str:
        return f"{self.model}/deployments/{_check_name('environment', env)}/"

    # -- versions ----------------------------------------------------------

    def push(
        self,
        bundle_dir: Path,
        *,
        actor: str,
        reason: str = "",
        attach: Callable[[Path], Mapping[str, bytes]] | None = None,
    ) -> PushResult:
        """Store the bundle as an immutable version; files first, manifest last.

        `attach` (the signer) gives objects to store beside the version, e.g. its signature:
        they go in before the manifest, so a new version never appears without them.
        """
        manifest_path = bundle_dir / MANIFEST
        if not manifest_path.is_file():
            raise ModelError(f"{bundle_dir} is not a model bundle: {MANIFEST} is missing")
        raw = regular_file(manifest_path).read_bytes()
        pushed, files = _parse_manifest(raw, str(bundle_dir))
        version = files[pushed.key_file][:16]
        prefix = self._version_prefix(version)
        if self.store.head(prefix + MANIFEST) is not None:
            if attach is not None:
                # What is signed must be what is stored: the stored manifest may differ from this
                # bundle's (another run's metrics, time and data), so it is signed over the copy
                # in the store unless the two are the same bytes.
                stored, _ = self.store.get(prefix + MANIFEST)
                with tempfile.TemporaryDirectory(prefix="mlci-sign-") as tmp:
                    signed = bundle_dir if stored == raw else self.fetch(version, Path(tmp))
                    for name, data in attach(signed).items():
                        self.store.put_if_absent(prefix + name, data)
            return PushResult(version=version, created=False, uri=self.store.url(prefix))
        extra = dict(attach(bundle_dir)) if attach is not None else {}
        # A wrong file under a content-addressed key would stick forever, so every file is
        # checked against the manifest before it becomes visible: small ones up front, large
        # ones by the store while it uploads them (one pass over the bytes, not two).
        large = 16 * 1024 * 1024
        for name, digest in files.items():
            path = bundle_dir / name
            if not path.exists() and not path.is_symlink():
                raise ModelError(f"{bundle_dir}: {name} is listed in {MANIFEST} but missing")
            regular_file(path)  # a FIFO would hang the upload, a symlink would ship a file from elsewhere
            if path.stat().st_size < large and sha256_file(path) != digest:
                raise _modified(path)
        # Large files first: if one fails its check, nothing of the version has been written.
        for name in sorted(files, key=lambda n: -(bundle_dir / n).stat().st_size):
            try:
                self.store.put_if_absent(prefix + name, bundle_dir / name, sha256=files[name])
            except ModelError:
                raise _modified(bundle_dir / name) from None
        for name, data in extra.items():
            self.store.put_if_absent(prefix + name, data)
        created = self.store.put_if_absent(prefix + MANIFEST, raw)
        if created:
            self.log_event(PushEvent(actor=actor, reason=reason, version=version))
        return PushResult(version=version, created=created, uri=self.store.url(prefix))

    def exists(self, version: str) -> bool:
        """Return whether the version's manifest (hence the whole version) is stored."""
        if not VERSION_RE.fullmatch(version):
            return False
        return self.store.head(self._version_prefix(version) + MANIFEST) is not None

    def manifest(self, version: str) -> Manifest:
        """Return the version's manifest; NotFoundError if the version does not exist."""
        if not VERSION_RE.fullmatch(version):
            raise NotFoundError(f"{version!r} is not a version id of model {self.model!r}")
        try:
            raw, _ = self.store.get(self._version_prefix(version) + MANIFEST)
        except NotFoundError:
            raise NotFoundError(
                f"version {version} of model {self.model!r} not found in {self.uri}",
                hint="`mlci history` lists the versions",
            ) from None
        manifest, _ = _parse_manifest(raw, self.store.url(self._version_prefix(version)))
        return manifest

    def version_ids(self) -> list[str]:
        """Return the ids of every complete version (those with a manifest)."""
        prefix = f"{self.model}/versions/"
        ids = []
        for key in self.store.list(prefix):
            parts = key[len(prefix) :].split("/")
            if len(parts) == 2 and parts[1] == MANIFEST and VERSION_RE.fullmatch(parts[0]):
                ids.append(parts[0])
        return ids

    def versions(self) -> list[tuple[str, Manifest]]:
        """Return (id, manifest) of every version, newest first.

        A manifest that does not parse (a pull request's job can write one) is skipped with a
        line in `warnings`, so one bad version does not hide the others.
        """
        out = []
        for vid in self.version_ids():
            try:
                out.append((vid, self.manifest(vid)))
            except ModelError as e:
                self.warnings.append(f"skipped version {vid}: {e}")
        out.sort(key=lambda pair: (pair[1].created_at or "", pair[0]), reverse=True)
        return out

    def version_of(self, ref: str) -> str:
        """Return the version id named by a full id, a unique id prefix (>= 6 hex) or an alias."""
        if VERSION_RE.fullmatch(ref) and self.exists(ref):
            return ref
        if NAME_RE.fullmatch(ref):
            record = self.alias(ref)
            if record is not None:
                return record.version
        if PREFIX_RE.fullmatch(ref):
            matches = [v for v in self.version_ids() if v.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise NotFoundError(
                    f"version prefix {ref!r} of model {self.model!r} is ambiguous: {', '.join(matches)}",
                    hint="give more characters",
                )
        short = " (version prefixes need at least 6 characters)" if re.fullmatch(r"[0-9a-f]{1,5}", ref) else ""
        raise NotFoundError(
            f"no version or alias {ref!r} for model {self.model!r} in {self.uri}{short}",
            hint="`mlci history` lists versions and aliases",
        )

    # -- aliases -----------------------------------------------------------

    def alias(self, name: str) -> AliasRecord | None:
        """Return the alias's record (with its etag), or None if it was never set."""
        key = self._alias_key(_check_name("alias", name))
        try:
            raw, etag = self.store.get(key)
        except NotFoundError:
            return None
        return AliasRecord.parse(raw, name=name, etag=etag, where=self.store.url(key))

    def aliases(self) -> list[AliasRecord]:
        """Return every alias of the model, by name."""
        prefix = f"{self.model}/aliases/"
        records = []
        for key in self.store.list(prefix):
            name = key[len(prefix) :].removesuffix(".json")
            if key.endswith(".json") and NAME_RE.fullmatch(name):
                record = self.alias(name)
                if record is not None:
                    records.append(record)
        return records

    def set_alias(
        self,
        name: str,
        version: str,
        *,
        actor: str,
        reason: str,
        expected_etag: str | _Read | None = READ,
        previous: str | _Read | None = READ,
    ) -> AliasRecord:
        """Point the alias at `version` by compare-and-swap; return the new record.

        With `expected_etag` (an etag, or None for "the alias must not exist yet") the move
        only happens if the alias is still what the caller read earlier; by default the
        current record is read here. Losing the race raises ConflictError (exit 3).
        Moving an alias to the version it already points at changes nothing.
        """
        _check_name("alias", name)
        if not self.exists(version):
            raise NotFoundError(f"cannot point alias {name!r} at {version!r}: no such version of {self.model!r}")
        current = self.alias(name)
        current_etag = current.etag if current else None
        expected = current_etag if isinstance(expected_etag, _Read) else expected_etag
        if current_etag != expected:
            raise self._lost_race(name, None, current, version)
        if current is not None and current.version == version:
            return current
        record = AliasRecord(
            name=name,
            version=version,
            # An automatic rollback restores the record as it was, so a later `rollback` does
            # not return to the version that just failed.
            previous=(current.version if current else None) if isinstance(previous, _Read) else previous,
            updated_at=_iso(_now()),
            actor=actor,
            reason=reason,
        )
        try:
            etag = self.store.put_if_match(self._alias_key(name), record.to_json(), expected)
        except ConflictError:
            was = current.version if current else "nothing"
            raise self._lost_race(name, was, self.alias(name), version) from None
        self.log_event(AliasEvent(actor=actor, reason=reason, alias=name, version=version, previous=record.previous))
        return record.model_copy(update={"etag": etag})

    def delete_alias(self, name: str, *, expected_etag: str | None, actor: str, reason: str) -> None:
        """Remove an alias that still has `expected_etag` (an automatic rollback of a first deploy)."""
        current = self.alias(name)
        if current is None:
            return
        if current.etag != expected_etag:
            raise self._lost_race(name, None, current, "nothing")
        self.store.delete(self._alias_key(name))
        self.log_event(AliasEvent(actor=actor, reason=reason, alias=name, version=None, previous=current.version))

    def _lost_race(self, name: str, was: str | None, after: AliasRecord | None, target: str) -> ConflictError:
        """The ConflictError for a lost race; `was` is None when the caller's view is unknown."""
        now = after.version if after else "nothing"
        moved = f"moved to {now}" if was is None else f"moved from {was} to {now}"
        return ConflictError(
            f"alias {name!r} of model {self.model!r} {moved} while mlci was moving it to {target}; re-run"
        )

    # -- bundles: fetch and publish ----------------------------------------

    def fetch(self, version: str, dest: Path) -> Path:
        """Download the version's bundle into dest/<id>, verifying every file's sha256."""
        self.manifest(version)  # a clear NotFoundError before any download
        return self._download(self._version_prefix(version), dest, expect=version)

    # Publishing is kill-safe by construction: each deploy copies the version's files to a
    # release of its own, deployments/<env>/releases/<version>-<rand>/ (manifest last), adds a
    # SMOKED.json marker there once its smoke test passed, and only then switches the pointer
    # deployments/<env>/CURRENT.json (compare-and-swap). A serving system reads the pointer and
    # loads the release it names, so at every instant it sees one complete, smoke-tested
    # release, never a mix.
    #
    # Releases are never reused and never deleted while a deploy may need them. A deploy first
    # writes a lease, deployments/<env>/leases/<release>.json, then creates its release, and
    # drops the lease when it ends. Pruning (`prune_releases`) lists the releases, then the
    # leases, then reads the alias and the pointer, and deletes only releases that are listed,
    # unleased, and of none of the alias's version, its previous, or the pointer's version. A
    # release that did not exist when the listing was taken is not deleted; one that did had
    # its lease written before, so the leases read next show it; and the alias is read last,
    # so what is kept is what is live after every move that happened before the deletion.

    def _release_prefix(self, env: str, release: str) -> str:
        if not RELEASE_RE.fullmatch(release):
            raise NotFoundError(f"{release!r} is not a release of model {self.model!r}")
        return f"{self._deploy_prefix(env)}releases/{release}/"

    def _lease_key(self, env: str, release: str) -> str:
        if not RELEASE_RE.fullmatch(release):
            raise NotFoundError(f"{release!r} is not a release of model {self.model!r}")
        return f"{self._deploy_prefix(env)}{LEASES}/{release}.json"

    def take_lease(self, version: str, env: str, *, actor: str) -> str:
        """Return a new release id for deploying `version` to `env`, leased so no prune deletes it."""
        if not VERSION_RE.fullmatch(version):
            raise NotFoundError(f"{version!r} is not a version id of model {self.model!r}")
        release = f"{version}-{secrets.token_hex(4)}"
        body = {"version": version, "release": release, "started_at": _iso(_now()), "actor": actor}
        self.store.put(self._lease_key(env, release), json.dumps(body, sort_keys=True).encode())
        return release

    def drop_lease(self, env: str, release: str) -> None:
        """End the lease on `release` (the deploy that took it is over)."""
        self.store.delete(self._lease_key(env, release))

    def _leased(self, env: str) -> set[str]:
        """Return the releases of `env` a running deploy holds; leases older than LEASE_SECONDS are dead."""
        prefix = f"{self._deploy_prefix(env)}{LEASES}/"
        cutoff = _now().timestamp() - LEASE_SECONDS
        held = set()
        for key in self.store.list(prefix):
            release = key[len(prefix) :].removesuffix(".json")
            if not RELEASE_RE.fullmatch(release):
                continue
            try:
                body = load_json(self.store.get(key)[0])
                started = datetime.fromisoformat(str(body["started_at"]).replace("Z", "+00:00")).timestamp()
            except NotFoundError:
                continue  # dropped since it was listed: that deploy is over
            except (ValueError, KeyError, TypeError):
                started = _now().timestamp()  # unreadable: held (keeping a release loses nothing)
            if started >= cutoff:
                held.add(release)
        return held

    def stage(self, version: str, env: str, release: str) -> str:
        """Copy the version's files to the (leased) release in `env`, manifest last; return its URI."""
        if release_version(release) != version:
            raise NotFoundError(f"release {release!r} is not a release of version {version}")
        src = self._version_prefix(version)
        dst = self._release_prefix(env, release)
        self.manifest(version)
        raw, _ = self.store.get(src + MANIFEST)
        staged, files = _parse_manifest(raw, self.store.url(src))
        if files[staged.key_file][:16] != version:
            raise ModelError(
                f"{self.store.url(src + MANIFEST)} describes version {files[staged.key_file][:16]}, not {version}; "
                "the stored bundle was altered — do not deploy it"
            )
        for name in files:
            self.store.copy(src + name, dst + name)
        self.store.put(dst + MANIFEST, raw)
        return self.store.url(dst)

    def mark_smoked(self, env: str, release: str, *, actor: str) -> None:
        """Record that `release` in `env` passed its smoke test (after the test, before the switch)."""
        body = {"version": release_version(release), "release": release, "smoked_at": _iso(_now()), "actor": actor}
        self.store.put(self._release_prefix(env, release) + SMOKED, json.dumps(body, sort_keys=True).encode())

    def _is_smoked(self, env: str, release: str) -> bool:
        prefix = self._release_prefix(env, release)
        try:
            marker = load_json(self.store.get(prefix + SMOKED)[0])
        except (NotFoundError, ValueError):
            return False
        return (
            isinstance(marker, dict)
            and marker.get("version") == release_version(release)
            and self.store.head(prefix + MANIFEST) is not None
        )

    def smoked_release(self, version: str, env: str) -> str | None:
        """Return a release of `version` in `env` that is complete and passed its smoke test (the newest), or None."""
        if not VERSION_RE.fullmatch(version):
            return None
        prefix = f"{self._deploy_prefix(env)}releases/"
        found: dict[str, str] = {}  # release -> when its smoke test passed
        for key in self.store.list(prefix + version):
            release, _, name = key[len(prefix) :].partition("/")
            if name != SMOKED or release_version(release) != version or not RELEASE_RE.fullmatch(release):
                continue
            if self._is_smoked(env, release):
                try:
                    found[release] = str(load_json(self.store.get(key)[0]).get("smoked_at", ""))
                except (NotFoundError, ValueError, AttributeError):
                    continue
        return max(found, key=lambda r: (found[r], r)) if found else None

    def smoked(self, version: str, env: str) -> bool:
        """Return whether `env` holds a complete release of `version` that passed its smoke test."""
        return self.smoked_release(version, env) is not None

    def pointer_release(self, env: str) -> tuple[str | None, str | None]:
        """Return (the release the pointer of `env` names or None, the pointer's etag or None)."""
        key = self._deploy_prefix(env) + CURRENT
        try:
            raw, etag = self.store.get(key)
        except NotFoundError:
            return None, None
        try:
            body = load_json(raw)
        except ValueError:
            body = None
        version = body.get("version") if isinstance(body, dict) else None
        prefix = body.get("prefix") if isinstance(body, dict) else None
        # Pointers written before releases had their own ids name releases/<version>/.
        release = prefix.removeprefix("releases/").removesuffix("/") if isinstance(prefix, str) else version
        if (
            not isinstance(version, str)
            or not isinstance(release, str)
            or not RELEASE_RE.fullmatch(release)
            or release_version(release) != version
        ):
            raise ModelError(f"{self.store.url(key)} does not name a release; repair it with mlci rollback --to")
        return release, etag

    def pointer(self, env: str) -> tuple[str | None, str | None]:
        """Return (version the pointer names or None, the pointer's etag or None)."""
        release, etag = self.pointer_release(env)
        return (release_version(release) if release else None), etag

    def switch(
        self, env: str, release: str | None, *, expected_etag: str | None, actor: str = "", reason: str = ""
    ) -> None:
        """Point deployments/<env>/CURRENT.json at `release` (None: unpublish), by compare-and-swap."""
        key = self._deploy_prefix(env) + CURRENT
        previous, _ = self.pointer(env)
        version = release_version(release) if release else None
        if release is None:
            current, etag = self.pointer(env)
            if etag != expected_etag:
                raise ConflictError(f"{self.store.url(key)} changed while mlci was unpublishing it; re-run")
            if current is not None:
                self.store.delete(key)
        else:
            self._release_prefix(env, release)  # a valid release id
            body = {
                "version": version,
                "prefix": f"releases/{release}/",
                "published_at": _iso(_now()),
                "actor": actor,
                "model": self.model,
            }
            self.store.put_if_match(key, json.dumps(body, indent=2, sort_keys=True).encode(), expected_etag)
        self.log_event(PublishEvent(actor=actor, reason=reason, env=env, version=version, previous=previous))

    def prune_releases(self, env: str, *, alias_etag: str | None) -> list[str]:
        """Delete the releases of `env` nothing needs, while its alias still has `alias_etag`; return those deleted.

        `alias_etag` is the etag of the alias record the caller's compare-and-swap wrote: if
        the alias has moved since, the one who moved it prunes instead and nothing is deleted
        here. Kept: every release of the alias's version, of its previous and of the pointer's
        version (read after the listing), and every leased release (see the section comment).
        """
        prefix = f"{self._deploy_prefix(env)}releases/"
        listed = self.store.list(prefix)
        leased = self._leased(env)
        alias = self.alias(env)
        if alias is None or alias.etag != alias_etag:
            return []
        keep = {alias.version, alias.previous, self.pointer(env)[0]}
        doomed: dict[str, list[str]] = {}
        for key in listed:
            release = key[len(prefix) :].split("/", 1)[0]
            if release in leased or release_version(release) in keep:
                continue
            doomed.setdefault(release, []).append(key)
        for keys in doomed.values():
            # The marker first: a release being deleted is never taken for a smoke-tested one.
            for key in sorted(keys, key=lambda k: not k.endswith("/" + SMOKED)):
                self.store.delete(key)
        return sorted(doomed)

    def publish(self, version: str, env: str, *, actor: str = "", reason: str = "") -> str:
        """Stage a release of the version in `env` and switch the pointer to it (no smoke test); return the env's URI."""
        release = self.take_lease(version, env, actor=actor)
        try:
            self.stage(version, env, release)
            _, etag = self.pointer(env)
            self.switch(env, release, expected_etag=etag, actor=actor, reason=reason)
        finally:
            self.drop_lease(env, release)
        return self.store.url(self._deploy_prefix(env))

    def published_version(self, env: str) -> str | None:
        """Return the version published to `env`, or None if nothing is."""
        return self.pointer(env)[0]

    def fetch_published(self, env: str, dest: Path) -> Path:
        """Download what is published to `env` into dest/<id>, verifying every file."""
        release, _ = self.pointer_release(env)
        if release is None:
            raise NotFoundError(f"nothing is published to environment {env!r} of model {self.model!r}")
        return self.fetch_release(env, release, dest)

    def fetch_release(self, env: str, release: str, dest: Path) -> Path:
        """Download `release` of `env` into dest/<version id>, verifying it is that version."""
        prefix = self._release_prefix(env, release)
        version = release_version(release)
        if self.store.head(prefix + MANIFEST) is None:
            raise NotFoundError(f"version {version} is not staged in environment {env!r} of model {self.model!r}")
        return self._download(prefix, dest, expect=version)

    def _download(self, prefix: str, dest: Path, expect: str | None = None) -> Path:
        raw, _ = self.store.get(prefix + MANIFEST)
        stored, files = _parse_manifest(raw, self.store.url(prefix))
        target = dest / files[stored.key_file][:16]
        if expect is not None and target.name != expect:
            raise ModelError(
                f"{self.store.url(prefix + MANIFEST)} describes version {target.name}, not {expect}; "
                "the stored bundle was altered — do not deploy it"
            )
        if target.is_dir() and self._complete(target, files, raw):
            return target
        dest.mkdir(parents=True, exist_ok=True)
        sweep_temp(dest)
        # Assemble beside the target and rename: a bundle that fails verification never
        # appears at dest/<id>.
        tmp = dest / f".mlci-tmp-{secrets.token_hex(6)}-{target.name}"
        try:
            tmp.mkdir()
            for name, digest in files.items():
                path = tmp / name
                path.parent.mkdir(parents=True, exist_ok=True)
                self.store.get_file(prefix + name, path)
                actual = sha256_file(path)
                if actual != digest:
                    raise ModelError(
                        f"{self.store.url(prefix + name)} has sha256 {actual[:12]}…, but its manifest says "
                        f"{digest[:12]}…; the stored bundle was altered — do not deploy it"
                    )
            (tmp / MANIFEST).write_bytes(raw)
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)
            try:
                os.replace(tmp, target)
            except OSError:
                # Another process fetched the same version into the same place first.
                if not self._complete(target, files, raw):
                    raise

        finally:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(tmp)
        return target

    @staticmethod
    def _complete(target: Path, files: dict[str, str], raw: bytes) -> bool:
        manifest = target / MANIFEST
        if not manifest.is_file() or manifest.read_bytes() != raw:
            return False
        return all((target / n).is_file() and sha256_file(target / n) == d for n, d in files.items())

    # -- events ------------------------------------------------------------

    def events(self) -> list[AnyEvent]:
        """Return the audit log, oldest first.

        An event that does not parse as one mlci writes (the PR role can write events/) is
        skipped with a line in `warnings`, so it does not hide the rest.
        """
        prefix = f"{self.model}/events/"
        out = []
        for key in self.store.list(prefix):
            if not key.endswith(".json"):
                continue
            raw, _ = self.store.get(key)
            try:
                out.append(parse_event(raw, self.store.url(key)))
            except ModelError as e:
                self.warnings.append(f"skipped event {e.message}")
        # Events of PR jobs live one level down (events/pr-<n>/): order all of them by time.
        out.sort(key=lambda e: e.time)
        return out

    def log_event(self, event: AnyEvent) -> AnyEvent:
        """Append the event, stamped with the time and this model; return it as stored."""
        now = _now()
        event = event.model_copy(update={"time": _iso(now), "model": self.model})
        data = redact(dump_event(event)).encode()
        # The key sorts by time; the random suffix keeps two writers in one microsecond apart.
        stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
        for _ in range(5):
            folder = f"{self.model}/events/" + (
                f"{_check_name('namespace', self.event_namespace)}/" if self.event_namespace else ""
            )
            if self.store.put_if_absent(f"{folder}{stamp}-{secrets.token_hex(4)}.json", data):
                return event
        raise ConflictError(f"could not append an event to {self.uri}/events after 5 attempts")
