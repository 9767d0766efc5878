"""The report document: the one typed result of a check, and everything that renders it.

`report_document` is the only place a document is built. The terminal line, report.md, the
step summary, the PR comment, the commit status, GITHUB_OUTPUT, the registry's check event,
promote's and deploy's refusals and the retrain issue all read its fields (`verdict`,
`headline`, `stages`); none of them decides a verdict again. comparison.json is its JSON,
with a `schema_version` and a published JSON Schema (docs/comparison.schema.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationError, computed_field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from mlci import __version__
from mlci._internal.models import Result
from mlci._internal.nesting import read_json_file
from mlci.contracts.changes import Changes
from mlci.contracts.comparison import ChangedExamples, Comparison
from mlci.contracts.drift import DriftReport
from mlci.contracts.importance import Importance
from mlci.contracts.references import Reference
from mlci.contracts.signature import Signature
from mlci.contracts.validation import ValidationResult
from mlci.errors import DataError

if TYPE_CHECKING:
    from mlci.github.context import GitHubContext

#: Bumped whenever a field changes meaning or shape; a document of another version is refused.
SCHEMA_VERSION = 2
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "comparison.schema.json"

DATA_VALIDATION = "data validation"
TRAINING = "training"
GATES = "gates"
DRIFT = "drift"

StageName = Literal["data validation", "training", "gates", "drift"]
StageStatus = Literal["pass", "fail", "warn", "skipped"]
VerdictStatus = Literal["pass", "fail", "bootstrap"]


@pydantic_dataclass(frozen=True)
class Sample:
    """The deterministic sample of engine tables that training and scoring saw."""

    rows: int | None
    id: str | None
    pulled: dict[str, int]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def description(self) -> str:
        """Return one sentence for the report: which rows, chosen how, and what the intervals cover."""
        pulled = ", ".join(f"{name} {n}" for name, n in self.pulled.items())
        if self.rows is None:
            return f"whole engine tables pulled for training and scoring ({pulled} rows)"
        return (
            f"trained and scored on a deterministic sample of at most {self.rows} rows per table "
            f"(the first by md5 of `{self.id}`, chosen in the engine; {pulled} rows); "
            "confidence intervals are over the sampled rows"
        )


class Stage(Result):
    """One stage of the check and what it found."""

    name: StageName
    status: StageStatus
    summary: str = Field(description="One phrase; a failed stage's phrase opens the headline.")
    reasons: list[str] = Field(default_factory=list, description="One line per thing that failed or warned.")


class CandidateRef(Result):
    """The candidate bundle: its version, the alias it was stored under, and where."""

    version: str
    alias: str | None
    uri: str | None = Field(description="Where the candidate is stored; null: nowhere (a fork's check).")
    reused: bool = False
    seconds: float | None = Field(None, description="Training time; null when reused.")
    format: str = Field("skops", description="How the model is stored and scored: skops or onnx (model.format).")
    scored_by: str | None = Field(
        None,
        description="What scored the candidate on the test rows in the contained process, e.g. "
        "'onnxruntime 1.20.1 (CUDAExecutionProvider)'; null: scikit-learn in the process that fitted it.",
    )
    signature: Signature | None = Field(
        None, description="The signature this run stored beside the version (signing configured); null: unsigned."
    )
    card: str | None = Field(
        None, description="Where the candidate's model card is stored (`mlci card VERSION` prints it); null: nowhere."
    )


class GitRef(Result):
    """The commit and pull request the document is about."""

    sha: str | None = None
    ref: str | None = None
    pr: int | None = None
    pr_title: str | None = None
    head_ref: str | None = None
    fork: bool = Field(
        False, description="The pull request comes from a fork: no secrets, a read-only token, nothing stored."
    )
    dependabot: bool = Field(
        False,
        description="The pull request is Dependabot's (same repository): no Actions secrets, nothing stored.",
    )


class DataRef(Result):
    """The tables, by fingerprint and row count, and how engine tables were sampled."""

    fingerprints: dict[str, str]
    rows: dict[str, int]
    sample: Sample | None = Field(
        None, description="The deterministic sample of engine tables training and scoring saw; null: none."
    )


class ReportDocument(Result):
    """comparison.json: the verdict of a check (or a scheduled retrain), per stage, with what it rests on."""

    schema_version: Literal[2] = Field(description="The document format; mlci refuses any other.")
    mlci_version: str
    model: str
    verdict: VerdictStatus = Field(
        description="fail: a critical expectation or a gate failed; bootstrap: no baseline and the data passes; "
        "pass otherwise."
    )
    headline: str = Field(description="The failing stages first, then the gates: what every consumer shows.")
    stages: list[Stage]
    comparison: Comparison | None
    validation: list[ValidationResult]
    drift: DriftReport | None = None
    candidate: CandidateRef | None
    baseline: Reference | None
    data: DataRef | None = None
    git: GitRef = Field(default_factory=GitRef)
    libraries: dict[str, str] = Field(default_factory=dict)
    run_url: str | None = None
    changes: Changes | None = Field(
        None, description="What differs between the baseline's and the candidate's manifests."
    )
    no_baseline: str | None = Field(
        None, description="Why no baseline could be read, when that is not simply 'no model there yet'."
    )
    importance: Importance | None = Field(
        None,
        description="Permutation importance of candidate and baseline on the same test rows; null: not measured.",
    )
    timings: dict[str, float] | None = None
    examples: ChangedExamples | None = Field(
        None, description="`model.format: results`: the examples where the candidate lost or won on the primary metric."
    )

    @property
    def failed_stages(self) -> list[Stage]:
        """Return the stages that failed, in check order."""
        return [s for s in self.stages if s.status == "fail"]

    def stage(self, name: str) -> Stage | None:
        """Return the stage called `name`, if the document has it."""
        return next((s for s in self.stages if s.name == name), None)

    def with_signature(self, signature: Signature) -> ReportDocument:
        """Return this document with the signature the push stored beside the candidate."""
        assert self.candidate is not None
        return self.model_copy(update={"candidate": self.candidate.model_copy(update={"signature": signature})})

    def to_json(self) -> str:
        """Return comparison.json's text (NaN and infinities as null)."""
        return self.model_dump_json(indent=2) + "\n"

    def to_data(self) -> dict[str, object]:
        """Return the document as plain JSON data (for --json and the templates)."""
        data = json.loads(self.model_dump_json())
        assert isinstance(data, dict)
        return data


# --- the verdict ---------------------------------------------------------------------------------


def _data_stage(validation: list[ValidationResult]) -> Stage:
    if not validation:
        return Stage(name=DATA_VALIDATION, status="skipped", summary="no expectation suite")
    critical = [r for r in validation if r.critical_failures]
    warned = [r for r in validation if r.failed and not r.critical_failures]
    reasons = [f.describe() for r in validation for f in r.failures]
    if critical:
        where = "; ".join(f"{r.failed} of {r.evaluated} expectations on {r.table}" for r in critical)
        return Stage(name=DATA_VALIDATION, status="fail", summary=f"data validation failed: {where}", reasons=reasons)
    evaluated = sum(r.evaluated for r in validation)
    if warned:
        where = "; ".join(f"{r.failed} of {r.evaluated} expectations on {r.table}" for r in warned)
        return Stage(name=DATA_VALIDATION, status="warn", summary=f"data validation warned: {where}", reasons=reasons)
    return Stage(name=DATA_VALIDATION, status="pass", summary=f"data validation: {evaluated} of {evaluated} pass")


def _training_stage(candidate: CandidateRef | None, note: str | None = None) -> Stage:
    if candidate is None:
        return Stage(name=TRAINING, status="skipped", summary=note or "no candidate was evaluated")
    if candidate.reused or candidate.seconds is None:
        return Stage(name=TRAINING, status="pass", summary=f"reused version {candidate.version}")
    return Stage(
        name=TRAINING, status="pass", summary=f"trained version {candidate.version} in {candidate.seconds:.1f}s"
    )


def _gates_stage(comparison: Comparison | None) -> Stage:
    if comparison is None:
        return Stage(name=GATES, status="skipped", summary="no comparison was made")
    v = comparison.verdict
    return Stage(name=GATES, status="fail" if v.status == "fail" else "pass", summary=v.summary, reasons=v.reasons)


def _drift_stage(drift: DriftReport) -> Stage:
    counts = drift.counts
    status: StageStatus = "fail" if drift.status == "fail" else "warn" if drift.status == "warn" else "pass"
    reasons = [f.describe(len(drift.features)) for f in drift.features if f.status != "ok"]
    summary = f"drift {drift.status}: {counts['fail']} failing, {counts['warn']} warning of {len(drift.features)}"
    if drift.skipped:
        summary += f" ({len(drift.skipped)} not checked)"
    return Stage(name=DRIFT, status=status, summary=summary, reasons=reasons)


def verdict_of(stages: list[Stage], has_baseline: bool) -> VerdictStatus:
    """Return the overall verdict: fail when a critical expectation or a gate failed; bootstrap without a baseline.

    Drift is reported as a stage but does not decide the verdict: fresh data drifting is a
    reason to retrain, not a reason to reject the model trained on it.
    """
    if any(s.status == "fail" and s.name in (DATA_VALIDATION, GATES) for s in stages):
        return "fail"
    return "pass" if has_baseline else "bootstrap"


def headline_of(stages: list[Stage]) -> str:
    """Return the headline: each failed stage's phrase first, then the gates' and drift's."""
    failed = [s.summary for s in stages if s.status == "fail"]
    rest = [s.summary for s in stages if s.status != "fail" and s.name in (GATES, DRIFT) and s.status != "skipped"]
    warned = [s.summary for s in stages if s.status == "warn" and s.name == DATA_VALIDATION]
    return " · ".join(failed + warned + rest) or "no comparison was made"


def report_document(
    *,
    model: str,
    comparison: Comparison | None,
    validation: list[ValidationResult],
    candidate: CandidateRef | None,
    baseline: Reference | None,
    data: DataRef | None,
    ctx: GitHubContext,
    recorded_sha: str | None = None,
    drift: DriftReport | None = None,
    changes: Changes | None = None,
    training: str | None = None,
    no_baseline: str | None = None,
    importance: Importance | None = None,
) -> ReportDocument:
    """Return the report document of a check (or a retrain, with `drift`): the only place one is built.

    The stages, the overall verdict and the headline are decided here and nowhere else.
    `recorded_sha` is the commit the candidate's manifest names, for runs outside Actions;
    `changes` what differs between the baseline's and the candidate's manifests; without a
    candidate (the data stopped the check), `training` says why there is none; `no_baseline`
    why no baseline could be read (a fork's check without `registry.public_uri`).
    """
    from mlci._internal.libraries import library_versions

    # Paths as the user sees them from the working directory, in the headline and the tables alike.
    validation = [v.relative_to(Path.cwd()) for v in validation]
    stages = [_data_stage(validation), _training_stage(candidate, training), _gates_stage(comparison)]
    if drift is not None:
        stages.append(_drift_stage(drift))
    return ReportDocument(
        schema_version=SCHEMA_VERSION,
        mlci_version=__version__,
        model=model,
        verdict=verdict_of(stages, baseline is not None),
        headline=headline_of(stages),
        stages=stages,
        comparison=comparison,
        validation=validation,
        drift=drift,
        candidate=candidate,
        baseline=baseline,
        data=data,
        git=GitRef(
            sha=ctx.head_sha or recorded_sha,
            ref=ctx.ref,
            pr=ctx.pr_number,
            pr_title=ctx.pr_title,
            head_ref=ctx.head_ref,
            fork=ctx.is_fork_pr,
            dependabot=ctx.is_dependabot_pr and not ctx.is_fork_pr,
        ),
        libraries=library_versions(),
        run_url=ctx.run_url,
        changes=changes,
        no_baseline=no_baseline,
        importance=importance,
    )


# --- reading and rendering -------------------------------------------------------------------------


def json_schema() -> dict[str, object]:
    """Return the JSON Schema of comparison.json, generated from ReportDocument."""
    schema = ReportDocument.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/mlci/mlci/docs/comparison.schema.json"
    return schema


def load_document(path: Path) -> ReportDocument:
    """Return the document in a comparison.json; DataError (one line) for a missing, old or foreign file."""
    data, _ = read_json_file(path, DataError, missing="no such file", hint="run `mlci check` or `mlci evaluate` first")
    again = "re-run `mlci check` or `mlci evaluate` with this mlci to write a current one"
    if not isinstance(data, dict) or "schema_version" not in data:
        raise DataError(f"{path}: not an mlci comparison.json (no schema_version)", hint=again)
    if data["schema_version"] != SCHEMA_VERSION:
        raise DataError(
            f"{path}: comparison.json schema_version {data['schema_version']!r} (mlci "
            f"{data.get('mlci_version', '?')}); this mlci reads schema_version {SCHEMA_VERSION}",
            hint=again,
        )
    try:
        return ReportDocument.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "(top level)"
        raise DataError(f"{path}: {where}: {first['msg']} ({e.error_count()} problem(s))", hint=again) from None


if __name__ == "__main__":  # python -m mlci.contracts.document > docs/comparison.schema.json
    print(json.dumps(json_schema(), indent=2))
