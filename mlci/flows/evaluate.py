"""`mlci evaluate`: two versions (or bundles) compared on the test rows, gates applied, no data validation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlci.config.schema import Config
    from mlci.contracts.document import ReportDocument
    from mlci.github.context import GitHubContext
    from mlci.registry.registry import Registry


def evaluate_refs(
    config: Config,
    registry: Registry,
    candidate: str,
    baseline: str | None,
    *,
    ctx: GitHubContext,
    output: Path | None = None,
) -> ReportDocument:
    """Return the document of candidate REF against baseline REF on the test rows, gates applied.

    No data validation runs here: the document's verdict is the gates' (bootstrap without a
    baseline). With `output`, comparison.json is written there (credentials redacted).
    """
    from mlci._internal.redaction import redact
    from mlci.data.tables import load_datasets
    from mlci.flows.pipeline import Candidate, build_document, evaluate, importance_of
    from mlci.modeling.sandbox import warm_up
    from mlci.registry.references import baseline_bundle, resolve

    warm_up(config.model.format)  # both bundles are scored in contained processes: start their fork server now
    datasets = load_datasets(config)
    cand = resolve(config, registry, candidate)
    base = baseline_bundle(config, registry, baseline)
    comparison = evaluate(config, datasets, cand.bundle, base.bundle if base else None)
    alias = cand.ref.label if cand.ref.kind == "alias" else None
    document = build_document(
        config,
        comparison,
        [],
        Candidate(cand.bundle, reused=True, seconds=0.0),
        base,
        alias,
        cand.ref.uri,
        datasets,
        ctx,
        importance=importance_of(config, datasets, cand.bundle, base.bundle if base else None),
    )
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)  # `-o out/comparison.json` in a fresh checkout
        output.write_text(redact(document.to_json()))
    return document
