"""Registry access: where mlci works, who acts, and which bundle a REF or a baseline names."""

from __future__ import annotations

import getpass
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlci.contracts.references import Reference

if TYPE_CHECKING:
    from mlci.config.schema import Config
    from mlci.github.context import GitHubContext
    from mlci.modeling.bundle import Bundle
    from mlci.registry.registry import Registry


@dataclass(frozen=True)
class Resolved:
    """A verified bundle and the reference that named it."""

    bundle: Bundle
    ref: Reference


def actor(ctx: GitHubContext | None = None) -> str:
    """Return who is acting: the GitHub actor in Actions, else the local user."""
    if ctx is not None and ctx.actor:
        return f"github:{ctx.actor}"
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def open_registry(config: Config, *, public: bool = False) -> Registry:
    """Return the Registry of the config's model on its configured store (`public`: on `registry.public_uri`)."""
    from mlci.registry.registry import Registry
    from mlci.storage import open_store

    r = config.registry
    uri = r.uri
    if public:
        assert r.public_uri, "open_public_registry decides whether there is one"
        uri = r.public_uri
    store = open_store(
        uri,
        base_dir=config.base_dir,
        endpoint_url=r.endpoint_url or None,
        region=r.region or None,
        addressing_style=r.addressing_style,
        locking=r.locking,
    )
    return Registry(store, config.model.name)


def open_public_registry(config: Config) -> Registry | None:
    """Return the registry a job without credentials reads (`registry.public_uri`), or None when there is none."""
    return open_registry(config, public=True) if config.registry.public_uri else None


def is_path(ref: str) -> bool:
    """Return whether REF is written as a path (./dir, ../dir, /abs, a/b): only then is it a bundle directory.

    Aliases and version ids never contain '/', so a bare name always means the registry: a
    `production/` directory that a pull request adds to the checkout cannot shadow the alias.
    """
    return "/" in ref or ref in (".", "..") or Path(ref).is_absolute()


def bundle_of(config: Config, registry: Registry, ref: str) -> Bundle:
    """Return the verified bundle named by REF: a bundle directory written as a path, a version id or an alias.

    A version is read from the checkout's cache (.mlci/versions/<id>/) only while that copy opens
    as the version and its manifest is the registry's: the cache is a directory of the checkout,
    which a pull request can commit to, and the version id binds only the model file, so a cached
    manifest (features, classes, stored results' hashes) could otherwise say anything. Any other
    copy is fetched again.
    """
    from mlci.errors import MlciError
    from mlci.modeling.bundle import MANIFEST, open_bundle

    if is_path(ref):
        return open_bundle(Path(ref))
    version = registry.version_of(ref)
    cache = config.work_dir / "versions"
    local = cache / version
    if (local / MANIFEST).exists():
        try:
            cached = open_bundle(local, expect=version)
            if cached.manifest == registry.manifest(version):
                return cached
        except MlciError:
            pass
        shutil.rmtree(local)
    registry.fetch(version, cache)
    return open_bundle(local, expect=version)


def resolve(config: Config, registry: Registry, ref: str) -> Resolved:
    """Return the verified bundle REF names, labelled by what REF is (alias, version id or bundle path)."""
    from mlci._internal.files import shown_path

    bundle = bundle_of(config, registry, ref)
    git_sha = bundle.manifest.git_sha or None
    if is_path(ref):
        shown = shown_path(str(bundle.path.resolve()), config.base_dir)
        return Resolved(bundle, Reference(label=ref, kind="bundle", version=bundle.version, uri=shown, git_sha=git_sha))
    kind: Literal["alias", "version"] = "version" if ref == bundle.version else "alias"
    # Shown in reports and comparison.json: a local registry relative to the project, never a runner's path.
    uri = shown_path(registry.version_uri(bundle.version), config.base_dir)
    return Resolved(bundle, Reference(label=ref, kind=kind, version=bundle.version, uri=uri, git_sha=git_sha))


def baseline_bundle(config: Config, registry: Registry, ref: str | None) -> Resolved | None:
    """Return the baseline REF names (default: the production alias); None when there is none yet."""
    if ref is None:
        return None
    if is_path(ref) or registry.alias(ref) is not None:
        return resolve(config, registry, ref)
    if ref in ("production", "staging") or ref in config.environments:
        return None  # no model in that environment yet: the first candidate bootstraps it
    return resolve(config, registry, ref)  # a version id: NotFoundError if unknown
