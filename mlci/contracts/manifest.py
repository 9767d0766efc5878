"""The bundle manifest (manifest.json): one typed model, read and written only here.

A manifest is written by whoever pushed the version, a pull request's job included, so it is
parsed strictly: a field of the wrong type (`"pr": "7"`, `"data": []`) is one ModelError
line, never a traceback. Fields may be absent or null (older mlci versions wrote fewer), and
keys this version does not know are kept: the manifest's bytes are signed, so reading and
writing one back must not change them (`dump` writes only the keys it read or was given).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator

from mlci.contracts.parsing import parse_record


def _number(value: Any) -> int | float:
    # Kept as given: a stored `3` stays `3`, not `3.0` (pydantic's float would rewrite it).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("input should be a number")
    return value


Number = Annotated[float, PlainValidator(_number)]


class _Part(BaseModel):
    # strict: "7" is not a PR number; extra="allow": keys of other mlci versions round-trip.
    model_config = ConfigDict(strict=True, extra="allow", validate_assignment=True)


class ManifestData(_Part):
    """The tables a version was trained on."""

    fingerprints: dict[str, str] | None = None  # table name -> sha256; `split` -> the split rule
    sources: dict[str, str] | None = None  # table name -> where it came from
    rows: dict[str, int] | None = None  # train / test -> row count


class Evaluation(_Part):
    """What the check that stored the version found."""

    baseline: str | None = None  # the baseline's version id, None when there was none
    verdict: str | None = None


class ResultsManifest(_Part):
    """`model.format: results`: how the version's stored per-example results were made."""

    command: str | None = None  # model.command as written
    code_sha256: str | None = None  # argv and the repository files it can read (modeling.results.code_hash)
    data_fingerprint: str | None = None  # sha256 of the evaluation rows file the results are on
    id: str | None = None  # data.id
    metrics: list[str] | None = None  # the per-example metric columns
    smoke: str | None = None  # the smoke rows file in the bundle
    seconds: Number | None = None  # how long the command ran


class Manifest(_Part):
    """manifest.json of a bundle or stored version (docs/registry.md lists the fields)."""

    format: int | None = None
    version: str | None = None
    sha256: str | None = None
    files: dict[str, str] | None = None
    model: str | None = None
    task: str | None = None
    estimator: str | None = None
    entrypoint: str | None = None
    # How the model is stored and scored: "skops", "onnx" or "results" (absent: skops); where it came from
    # when mlci did not fit it (the command line, or the file), and what scored it while training.
    model_format: str | None = None
    command: str | None = None
    file: str | None = None
    runtime: str | None = None
    params: dict[str, Any] | None = None
    features: list[str] | None = None
    categorical: list[str] | None = None
    feature_kinds: dict[str, str] | None = None
    target: str | None = None
    classes: list[Any] | None = None
    data: ManifestData | None = None
    git_sha: str | None = None
    git_merge_sha: str | None = None
    pr: int | None = None
    training_seconds: Number | None = None
    created_at: str | None = None
    libraries: dict[str, str] | None = None
    cache_key: str | None = None
    metrics: dict[str, Number | None] | None = None
    evaluation: Evaluation | None = None
    results: ResultsManifest | None = None

    @classmethod
    def parse(cls, raw: bytes | str, where: str) -> Manifest:
        """Return the manifest in `raw` (the bytes of `where`); ModelError naming the bad field otherwise."""
        return parse_record(
            cls, raw, where, remedy="mlci does not use a manifest it did not write — train and push the bundle again"
        )

    def dump(self) -> str:
        """Return manifest.json's text: the keys read or set, sorted, as mlci has always written them."""
        return json.dumps(self.model_dump(exclude_unset=True), indent=2, sort_keys=True, default=str) + "\n"
