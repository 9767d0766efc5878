"""The checkout's cache of fetched versions (.mlci/versions/) is a directory a pull request can commit to."""

from __future__ import annotations

import contextlib
import json

from mlci import Project
from mlci.registry.references import bundle_of, open_registry
from tests.support.project import ProjectCopy


def test_a_cached_manifest_that_differs_from_the_registrys_is_fetched_again(project: ProjectCopy):
    deployed = project.with_production()
    with contextlib.chdir(deployed.path):
        config = Project.load("mlci.yaml", variables=deployed.env).config
        registry = open_registry(config)
        version = registry.version_of("production")
        stored = registry.manifest(version)
        cached = bundle_of(config, registry, "production").path / "manifest.json"
        # A PR commits the cached copy with the classes swapped: the model file (the version id) is
        # untouched, so only the manifest lies, and production would score its labels backwards.
        forged = json.loads(cached.read_text())
        forged["classes"] = list(reversed(forged["classes"]))
        cached.write_text(json.dumps(forged))
        used = bundle_of(config, registry, "production")
        # A cache that is the registry's is used as it is, not fetched again.
        kept = cached.stat().st_ino
        assert bundle_of(config, registry, "production").manifest == stored and cached.stat().st_ino == kept
    assert used.manifest == stored and used.manifest.classes == stored.classes != forged["classes"]
    assert json.loads(cached.read_text())["classes"] == stored.classes
