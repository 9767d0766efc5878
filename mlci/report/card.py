"""The model card of a version: Hugging Face's layout (a YAML metadata header, then Markdown), filled from what mlci knows.

Written once, when a check or a retrain stores the version (mlci.flows.pipeline.store_candidate),
as the bundle file `card.md`: the manifest lists its sha256, so every signature over the version
covers the card's bytes, and `mlci card REF` prints exactly what was stored.

skops.card is not used: skops 0.16's `Card` writes no YAML metadata header (it dropped the
Hugging Face metadata with its hub integration), and its default template loads the model to list
its hyperparameters, which mlci does only in a contained process. Without its template a `Card`
is a dictionary of sections, which mlci's jinja2 report environment already gives, with its
escaping of untrusted text (column names, categories, mlci.yaml's words).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mlci.report import markdown as md

if TYPE_CHECKING:
    from mlci.config.schema import Config
    from mlci.contracts.document import ReportDocument
    from mlci.contracts.manifest import Manifest

LIBRARY = {"skops": "sklearn", "onnx": "onnx"}  # model.format -> Hugging Face's library_name


def _number(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def card_metadata(config: Config, manifest: Manifest, document: ReportDocument) -> dict[str, Any]:
    """Return the card's YAML header: Hugging Face's `library_name`, `tags` and `model-index` (the check's metrics)."""
    task = f"tabular-{manifest.task or config.model.task}"
    comparison = document.comparison
    data = manifest.data
    metrics = [
        {"type": m.name, "name": m.name, "value": _number(m.candidate)}
        for m in (comparison.metrics if comparison else [])
    ]
    test_fingerprint = (data.fingerprints or {}).get("test") or (data.fingerprints or {}).get("table") if data else None
    header: dict[str, Any] = {
        "library_name": LIBRARY.get(str(getattr(config.model, "format", "skops")), "sklearn"),
        "tags": ["mlci", task, "tabular"],
        "model_name": config.model.name,
        "mlci": {
            "version": manifest.version,
            "sha256": manifest.sha256,
            "verdict": document.verdict,
            "baseline": document.baseline.version if document.baseline else None,
            "git_sha": manifest.git_sha,
            "pr": manifest.pr,
            "created_at": manifest.created_at,
            "confidence": comparison.confidence if comparison else None,
        },
        "model-index": [
            {
                "name": config.model.name,
                "results": [
                    {
                        "task": {"type": task},
                        "dataset": {
                            "name": "test",
                            "type": "tabular",
                            "revision": test_fingerprint,
                        },
                        "metrics": metrics,
                    }
                ],
            }
        ],
    }
    return header


def _owner(config: Config) -> dict[str, Any]:
    card = config.card
    return {
        "intended_use": card.intended_use,
        "limitations": card.limitations,
        "owners": card.owners,
        "contact": card.contact,
    }


def _signing(config: Config) -> str | None:
    if config.signing is None:
        return None
    from mlci.errors import MlciError
    from mlci.signing.verify import describe_policy

    try:
        return describe_policy(config)
    except MlciError:  # a key file that cannot be read here; the policy is still its method
        return f"signing.method {config.signing.method}"


def render_card(config: Config, manifest: Manifest, document: ReportDocument) -> str:
    """Return the model card of the version `manifest` describes, as its check (`document`) judged it."""
    import yaml

    from mlci._internal.redaction import redact
    from mlci.report.render import environment

    header = yaml.safe_dump(card_metadata(config, manifest, document), sort_keys=False, allow_unicode=True)
    comparison = document.comparison
    kinds = manifest.feature_kinds or {}
    view = {
        "model": config.model.name,
        "manifest": manifest.model_dump(mode="json"),
        "features": [{"name": f, "kind": kinds.get(f, "")} for f in manifest.features or []],
        "params": sorted((manifest.params or {}).items()),
        "libraries": sorted((manifest.libraries or {}).items()),
        "data": manifest.data.model_dump(mode="json") if manifest.data else {},
        "owner": _owner(config),
        "document": document,
        "comparison": comparison,
        "gates": comparison.verdict.gates if comparison else [],
        "slices": list(comparison.slices) if comparison else [],
        "primary": comparison.primary if comparison else config.metrics.primary,
        "importance": document.importance,
        "signing": _signing(config),
    }
    body = environment().get_template("card.md.j2").render(c=view, md=md)
    return redact(f"---\n{header}---\n\n{body}")


def parse_card(text: str) -> tuple[dict[str, Any], str]:
    """Return the YAML header and the Markdown body of a model card (ValueError when it has no header)."""
    import yaml

    if not text.startswith("---\n"):
        raise ValueError("a model card starts with a YAML header between '---' lines")
    head, sep, body = text[4:].partition("\n---\n")
    if not sep:
        raise ValueError("the model card's YAML header is not closed by '---'")
    data = yaml.safe_load(head)
    if not isinstance(data, dict):
        raise ValueError("the model card's YAML header is not a mapping")
    return data, body
