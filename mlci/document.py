"""The report document: comparison.json, built in one place and rendered to Markdown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import __version__
from mlci.errors import DataError

if TYPE_CHECKING:
    from mlci.artifacts import Bundle
    from mlci.check import Candidate
    from mlci.config import Config
    from mlci.data import Datasets
    from mlci.evaluation import Comparison
    from mlci.github.context import GitHubContext
    from mlci.validation import ValidationResult


def report_document(
    config: Config,
    comparison: Comparison,
    validation: list[ValidationResult],
    candidate: Candidate,
    baseline: Bundle | None,
    alias: str,
    uri: str,
    datasets: Datasets,
    ctx: GitHubContext,
    drift: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the comparison.json document the report is rendered from."""
    from mlci.changes import model_changes
    from mlci.training import library_versions

    manifest = candidate.bundle.manifest
    doc_comparison = comparison.to_dict()
    # A reused candidate was trained on these very bytes: its manifest knows the row counts,
    # so the tables need not be parsed just to say so again.
    rows = (manifest.get("data") or {}).get("rows") if candidate.reused else None
    return {
        "mlci_version": __version__,
        "model": config.model.name,
        "comparison": doc_comparison,
        "validation": [_relative_paths(v.to_dict()) for v in validation],
        "drift": drift,
        "candidate": {"version": candidate.bundle.version, "uri": uri, "alias": alias, "reused": candidate.reused},
        "baseline": (
            {"version": baseline.version, "alias": "production", "git_sha": baseline.manifest.get("git_sha")}
            if baseline is not None
            else None
        ),
        "data": {
            "fingerprints": datasets.fingerprints,
            "rows": rows or {"train": len(datasets.train), "test": len(datasets.test)},
            "sample": datasets.sample.to_dict() if datasets.sample is not None else None,
        },
        "git": {
            "sha": ctx.head_sha or manifest.get("git_sha"),
            "ref": ctx.ref,
            "pr": ctx.pr_number,
            "pr_title": ctx.pr_title,
            "head_ref": ctx.head_ref,
        },
        "libraries": library_versions(),
        "run_url": ctx.run_url,
        "changes": model_changes(baseline.manifest, manifest).model_dump() if baseline is not None else None,
    }


def _relative_paths(result: dict[str, Any]) -> dict[str, Any]:
    """Return a validation result with its suite and table paths relative to the working directory."""
    cwd = Path.cwd()
    for key in ("suite", "table"):
        value = str(result.get(key, ""))
        if value.startswith("/"):
            try:
                result[key] = str(Path(value).relative_to(cwd))
            except ValueError:
                pass
    return result


def render_report(config: Config, document: dict[str, Any], limit: int | None = None, hint: str | None = None) -> str:
    """Return the Markdown report of a comparison.json document, cut to `limit` characters if given."""
    from mlci.report import render

    templates = config.resolve(config.report.templates) if config.report.templates else None
    if hint is None:
        return render(document, templates_dir=templates, limit=limit)
    return render(document, templates_dir=templates, limit=limit, full_report_hint=hint)


def load_document(path: Path) -> dict[str, Any]:
    """Return a comparison.json document; DataError when it is missing or not JSON."""
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file", hint="run `mlci check` or `mlci evaluate` first") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
