"""What differs between the baseline and the candidate: estimator, params, features, data, libraries.

Read from the two versions' manifests (what each was trained with), so the report can say
why the metrics moved before a reviewer opens the diff.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from mlci._internal.models import Result
from mlci.contracts.manifest import Manifest, ManifestData


class Change(Result):
    """One setting that differs; None where a side does not have it."""

    name: str = Field(description="What changed: `estimator`, `params.max_iter`, `data.train`, `libraries.numpy`.")
    baseline: str | None
    candidate: str | None


class Changes(Result):
    """Everything that differs between the baseline's manifest and the candidate's."""

    model: list[Change] = Field(default_factory=list, description="Estimator or entrypoint, and params.")
    features: list[Change] = Field(default_factory=list, description="Feature columns added or removed.")
    data: list[Change] = Field(
        default_factory=list, description="Tables whose fingerprint (sha256) or row count differ, and the split rule."
    )
    libraries: list[Change] = Field(default_factory=list, description="Library versions that differ.")

    @property
    def none(self) -> bool:
        return not (self.model or self.features or self.data or self.libraries)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(f"{prefix}.{k}", v))
        return out
    return {prefix: value}


def _diff(names: dict[str, Any], other: dict[str, Any]) -> list[Change]:
    keys = list(dict.fromkeys([*names, *other]))
    return [
        Change(name=k, baseline=_text(names.get(k)), candidate=_text(other.get(k)))
        for k in keys
        if _text(names.get(k)) != _text(other.get(k))
    ]


def model_changes(baseline: Manifest, candidate: Manifest) -> Changes:
    """Return what differs between two bundles' manifests."""
    builder = {"estimator": baseline.estimator, "entrypoint": baseline.entrypoint}
    builder_c = {"estimator": candidate.estimator, "entrypoint": candidate.entrypoint}
    model = _diff(builder, builder_c)
    model += _diff(_flat("params", baseline.params or {}), _flat("params", candidate.params or {}))

    feats_b, feats_c = list(baseline.features or []), list(candidate.features or [])
    features = [Change(name=f, baseline=None, candidate="added") for f in feats_c if f not in feats_b]
    features += [Change(name=f, baseline="present", candidate=None) for f in feats_b if f not in feats_c]

    data_b, data_c = baseline.data or ManifestData(), candidate.data or ManifestData()
    fp_b, fp_c = data_b.fingerprints or {}, data_c.fingerprints or {}
    rows_b, rows_c = data_b.rows or {}, data_c.rows or {}

    def table(fp: dict[str, str], rows: dict[str, int], name: str) -> str | None:
        sha = fp.get(name)
        if sha is None:
            return None
        if name == "split":  # a rule, not a hash: shown whole
            return str(sha)
        n = rows.get(name)
        return f"{str(sha)[:12]}" + (f" ({n:,} rows)" if isinstance(n, int) else "")

    data = _diff({n: table(fp_b, rows_b, n) for n in fp_b}, {n: table(fp_c, rows_c, n) for n in fp_c})
    data = [c.model_copy(update={"name": f"data.{c.name}"}) for c in data]
    for part in ("train", "test"):
        if part not in fp_b and part not in fp_c and rows_b.get(part) != rows_c.get(part):
            data.append(
                Change(name=f"rows.{part}", baseline=_text(rows_b.get(part)), candidate=_text(rows_c.get(part)))
            )

    libraries = [
        c.model_copy(update={"name": f"libraries.{c.name}"})
        for c in _diff(dict(baseline.libraries or {}), dict(candidate.libraries or {}))
    ]
    return Changes(model=model, features=features, data=data, libraries=libraries)
