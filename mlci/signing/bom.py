"""The CycloneDX ML-BOM of a model version: model, data fingerprints, libraries, metrics, signer.

Built with cyclonedx-python-lib and checked with its JSON validator against the CycloneDX
1.6 schema before it is stored. The library has no model card yet (its `Component.model_card`
is a stub), so the `modelCard` (task, architecture, datasets, metrics) is added to the
serialised JSON here, and the schema validation covers it like the rest.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mlci import __version__
from mlci.contracts.manifest import Manifest
from mlci.errors import ConfigError, ModelError

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def _require() -> None:
    try:
        import cyclonedx.validation.json  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the ML-BOM needs cyclonedx-python-lib, which is not installed", hint="pip install 'mlci[signing]'"
        ) from None


def _built_by(manifest: Manifest) -> str:
    return str(manifest.estimator or manifest.entrypoint or manifest.command or manifest.file or "")


def build_bom(manifest: Manifest, *, signer: dict[str, str], provenance: dict[str, Any]) -> bytes:
    """Return the ML-BOM (CycloneDX 1.6 JSON) of the version a manifest describes, schema-checked."""
    _require()
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    version = str(manifest.version)
    model_ref = f"model:{manifest.model}@{version}"
    properties = [
        Property(name="mlci:task", value=str(manifest.task)),
        Property(name="mlci:format", value=str(manifest.model_format or "skops")),
        Property(name="mlci:git_sha", value=str(manifest.git_sha or "")),
        Property(name="mlci:pr", value=str(manifest.pr or "")),
        Property(name="mlci:verdict", value=str((manifest.evaluation.verdict if manifest.evaluation else None) or "")),
        Property(name="mlci:created_at", value=str(manifest.created_at or "")),
    ]
    properties += [Property(name=f"mlci:signature:{k}", value=v) for k, v in sorted(signer.items())]
    properties += [
        Property(name=f"mlci:provenance:{k}", value=str(v))
        for k, v in sorted(provenance.items())
        if v not in (None, "") and k != "nonce"
    ]
    files = manifest.files or {}
    model = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=str(manifest.model),
        version=version,
        bom_ref=model_ref,
        description=_built_by(manifest),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=str(manifest.sha256))],
        properties=properties,
    )
    parts = [
        Component(
            type=ComponentType.FILE,
            name=name,
            bom_ref=f"file:{name}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest)],
        )
        for name, digest in sorted(files.items())
    ]
    sources = (manifest.data.sources if manifest.data else None) or {}
    fingerprints = (manifest.data.fingerprints if manifest.data else None) or {}
    datasets = [
        Component(
            type=ComponentType.DATA,
            name=name,
            bom_ref=f"data:{name}",
            description=str(sources.get(name, "")),
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest)],
        )
        for name, digest in sorted(fingerprints.items())
        if isinstance(digest, str) and SHA256_RE.match(digest)
    ]
    libraries = [
        Component(
            type=ComponentType.LIBRARY,
            name=name,
            version=str(v),
            bom_ref=f"runtime:{name}@{v}" if name == "python" else f"pypi:{name}@{v}",
            purl=None if name == "python" else PackageURL(type="pypi", name=name, version=str(v)),
        )
        for name, v in sorted((manifest.libraries or {}).items())
    ]
    bom = Bom(components=[*parts, *datasets, *libraries])
    bom.metadata.component = model
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="mlci", version=__version__, bom_ref="tool:mlci")
    )
    bom.register_dependency(model, [*parts, *datasets, *libraries])
    document = json.loads(JsonV1Dot6(bom).output_as_string())
    card: dict[str, Any] = {
        "modelParameters": {
            "task": str(manifest.task),
            "architectureFamily": _built_by(manifest),
            "datasets": [{"ref": d.bom_ref.value} for d in datasets],
        }
    }
    metrics = {k: v for k, v in (manifest.metrics or {}).items() if isinstance(v, (int, float))}
    if metrics:
        card["quantitativeAnalysis"] = {
            "performanceMetrics": [{"type": k, "value": repr(float(v))} for k, v in sorted(metrics.items())]
        }
    document["metadata"]["component"]["modelCard"] = card
    text = json.dumps(document, indent=2, sort_keys=True)
    problem = validate_bom(text)
    if problem:
        raise ModelError(f"the ML-BOM of version {version} does not match the CycloneDX 1.6 schema: {problem}")
    return (text + "\n").encode()


def validate_bom(text: str) -> str | None:
    """Return why `text` is not a valid CycloneDX 1.6 JSON BOM (the library's strict validator), else None."""
    _require()
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    return None if error is None else str(error)[:500]
