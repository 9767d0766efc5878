"""The PR check: validate the data, train (or reuse) the candidate, evaluate it against its baseline.

Each function takes a Config (and plain arguments), returns a result value and raises
MlciError subclasses; the CLI renders and maps exit codes.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mlci.errors import ArtifactError, ChecksFailed, ConfigError
from mlci.manifest import Evaluation
from mlci.references import actor, baseline_bundle, open_public_registry, open_registry, resolve_bundle, work_dir

if TYPE_CHECKING:
    import pandas as pd

    from mlci.artifacts import Bundle
    from mlci.background import BackgroundValidation
    from mlci.config import Config, TableSource
    from mlci.data import Datasets
    from mlci.document import ReportDocument
    from mlci.drift import DriftReport
    from mlci.evaluation import Comparison, Predictions
    from mlci.github.context import GitHubContext
    from mlci.references import Resolved
    from mlci.registry.registry import PushResult, Registry
    from mlci.sandbox import Scoring
    from mlci.signing import VersionSigner
    from mlci.validation import ValidationResult


# --- validation ---------------------------------------------------------------------------


def validate_data(config: Config, which: TableSource | None = None) -> list[ValidationResult]:
    """Return the suite's result on each table: the configured ones, `train`, `test`, a path or an engine table."""
    from mlci.data import confinement, load_datasets, read_table, s3_options
    from mlci.validation import validate

    if config.expectations is None:
        raise ConfigError(f"{config.path}: no 'expectations' section", hint="add expectations.suite: PATH")
    suite = config.resolve(config.expectations.suite)
    if which is not None and which not in ("train", "test"):
        from mlci.sources import open_table, parse_source

        source = parse_source(which)
        if not isinstance(source, str):
            return [open_table(source, field="--data").validate(suite)]
        # A path on the command line is relative to where the user stands, not to mlci.yaml.
        table = read_table(
            source,
            s3_options=s3_options(config),
            options=config.data.read_options,
            confined_to=confinement(config, source),
        )
        return [validate(table.frame, suite, table=table.uri)]
    assert which is None or isinstance(which, str)
    if (engine_results := _validate_in_engines(config, suite, which)) is not None:
        return engine_results
    datasets = load_datasets(config)
    return validate_datasets(config, datasets, [which] if which else None)


def _validate_in_engines(config: Config, suite: str, which: str | None) -> list[ValidationResult] | None:
    """Return the suite's results when every configured table lives in an engine (no rows pulled); else None."""
    from mlci.sources import is_engine, open_table

    assert config.expectations is not None
    d = config.data
    named = {"train": d.train, "test": d.test} if d.table is None else {"train": d.table, "test": d.table}
    chosen = [which] if which else list(config.expectations.tables)
    if not all(is_engine(named[name]) for name in chosen):
        return None
    results: dict[str, ValidationResult] = {}
    for name in chosen:
        source = named[name]
        assert source is not None and not isinstance(source, str)
        label = f"data.{name if d.table is None else 'table'}"
        if label not in results:  # one split table is validated once, whole
            results[label] = open_table(source, field=label).validate(suite)
    return list(results.values())


def _validation_key(config: Config, datasets: Datasets, name: str, suite: Path) -> str:
    """Return the result cache key of the suite's run on one table: its bytes and the suite's."""
    from mlci.artifacts import sha256_file
    from mlci.cache import key_of

    table = datasets.sources.get(name, name)
    # The data fingerprint names the table's bytes; a split table adds its split rule.
    data = {k: v for k, v in datasets.fingerprints.items() if k in (name, "table", "split")}
    return key_of("validation", table=table, name=name, data=data, suite=sha256_file(suite))


def validate_datasets(
    config: Config, datasets: Datasets, names: list[str] | None = None, *, cached: bool = False
) -> list[ValidationResult]:
    """Return the suite's result on already loaded train/test tables (from the local cache when `cached`)."""
    from mlci.cache import ResultCache
    from mlci.serial import to_data
    from mlci.validation import ValidationResult, validate

    if config.expectations is None:
        return []
    suite = config.resolve(config.expectations.suite)
    chosen = names or list(config.expectations.tables)
    cache = ResultCache(work_dir(config) / "cache")
    results = []
    in_engine: set[str] = set()
    for name in chosen:
        engine = datasets.engine_for(name)
        if engine is not None:
            # The whole table, in its engine; never cached: the table can change under the same name.
            if engine.label not in in_engine:
                in_engine.add(engine.label)
                results.append(engine.validate(suite))
            continue
        table = datasets.sources.get(name, name)
        key = None
        if cached and Path(suite).exists():
            key = _validation_key(config, datasets, name, Path(suite))
            hit = _cached(cache.get(key), ValidationResult)
            if hit is not None:
                results.append(hit)
                continue
        result = validate(datasets.train if name == "train" else datasets.test, suite, table=table)
        if key is not None:
            cache.put(key, to_data(result))
        results.append(result)
    return results


@dataclass
class PendingValidation:
    """The check's validation: cached results now, the others from a worker process when waited for."""

    names: list[str]
    ready: dict[str, ValidationResult]
    keys: dict[str, str]
    background: BackgroundValidation | None
    cache_dir: Path

    @property
    def failed(self) -> bool:
        """Return whether a table is known to have failed already (then the fit need not start)."""
        return any(r.critical_failures for r in self.ready.values()) or (
            self.background is not None and self.background.failed
        )

    def stopping_fit(self) -> contextlib.AbstractContextManager[None]:
        """Return a block in which a validation failure stops the fit (raises ValidationFailed)."""
        return self.background.stopping_fit() if self.background is not None else contextlib.nullcontext()

    def wait(self) -> list[ValidationResult]:
        """Return every table's result in the configured order, caching the new ones."""
        from mlci.cache import ResultCache
        from mlci.serial import to_data

        if self.background is not None:
            fresh = self.background.wait()
            cache = ResultCache(self.cache_dir)
            for name, result in fresh.items():
                if name in self.keys:
                    cache.put(self.keys[name], to_data(result))
            self.ready.update(fresh)
        return [self.ready[name] for name in self.names]

    def close(self) -> None:
        if self.background is not None:
            self.background.close()


def start_validation(
    config: Config, datasets: Datasets, before_worker: Callable[[], None] | None = None
) -> PendingValidation:
    """Return the check's validation: cache hits at once, the rest started in a worker process.

    `before_worker` runs just before a worker is started beside the fit (the CLI uses it to
    make OpenMP's idle threads yield their core to the worker; see `mlci.cli.check`).

    Tables in an engine (SQL, Spark) are validated here, in their engine, before the fit: their
    connection cannot move to another process, and the work runs in the engine anyway.
    """
    from mlci.background import BackgroundValidation
    from mlci.cache import ResultCache
    from mlci.validation import ValidationResult

    cache_dir = work_dir(config) / "cache"
    if config.expectations is None:
        return PendingValidation([], {}, {}, None, cache_dir)
    suite = Path(config.resolve(config.expectations.suite))
    names: list[str] = []
    cache = ResultCache(cache_dir)
    ready: dict[str, ValidationResult] = {}
    keys: dict[str, str] = {}
    jobs: list[tuple[str, str, pd.DataFrame]] = []
    in_engine: set[str] = set()
    for name in config.expectations.tables:
        engine = datasets.engine_for(name)
        if engine is not None:
            # The whole table, in its engine; never cached: the table can change under the same name.
            if engine.label not in in_engine:  # one split table is validated once, whole
                in_engine.add(engine.label)
                names.append(name)
                ready[name] = engine.validate(str(suite))
            continue
        names.append(name)
        if suite.exists():
            keys[name] = _validation_key(config, datasets, name, suite)
            hit = _cached(cache.get(keys[name]), ValidationResult)
            if hit is not None:
                ready[name] = hit
                continue
        frame = datasets.train if name == "train" else datasets.test
        jobs.append((name, datasets.sources.get(name, name), frame))
    if jobs and validate_here(jobs):
        from mlci.serial import to_data
        from mlci.validation import validate

        for job, table, frame in jobs:
            ready[job] = validate(frame, str(suite), table=table)
            if job in keys:
                cache.put(keys[job], to_data(ready[job]))
        jobs = []
    if jobs and before_worker is not None:
        before_worker()
    background = BackgroundValidation(suite, jobs) if jobs else None
    return PendingValidation(names, ready, keys, background, cache_dir)


# Up to this many rows in all, a process that has already imported Great Expectations (a
# notebook, a test session, a long-lived service) validates in itself, before the fit: the
# worker exists to hide GX's import (2-5 s) behind the fit, and once that is paid, a second
# interpreter importing it again costs more than validating a small table here (~0.3 s for
# the example's 4,000 rows, against ~5 s for the worker). Larger tables keep the overlap.
VALIDATE_HERE_MAX_ROWS = 200_000


def validate_here(jobs: list[tuple[str, str, pd.DataFrame]]) -> bool:
    """Return whether to validate `jobs` in this process rather than beside the fit in a worker."""
    import sys

    return "great_expectations" in sys.modules and sum(len(frame) for _, _, frame in jobs) <= VALIDATE_HERE_MAX_ROWS


class DataFailed(ChecksFailed):
    """The data broke a critical expectation, so the check stopped before evaluating a candidate.

    It carries the check's report document (verdict fail, the data validation stage first) and
    where its report was written, so the CLI can still post the comment, status and outputs.
    """

    def __init__(self, failure: ChecksFailed, document: ReportDocument, report_path: Path) -> None:
        super().__init__(failure.message, problems=failure.problems, hint=failure.hint)
        self.document = document
        self.report_path = report_path


def stopped_document(
    config: Config, validation: list[ValidationResult], datasets: Datasets, ctx: GitHubContext, stopped: bool
) -> ReportDocument:
    """Return the document of a check the data stopped: no candidate, no comparison, verdict fail."""
    from mlci.document import DataRef, report_document

    return report_document(
        model=config.model.name,
        comparison=None,
        validation=validation,
        candidate=None,
        baseline=None,
        data=DataRef(
            fingerprints=datasets.fingerprints,
            rows={"train": len(datasets.train), "test": len(datasets.test)},
            sample=datasets.sample,
        ),
        ctx=ctx,
        training="training stopped: the data broke its expectations" if stopped else None,
    )


def data_failure(validation: list[ValidationResult], stopped: bool) -> ChecksFailed:
    """Return the error of a check whose data broke its expectations: one line per failed expectation."""
    failed = [v for v in validation if v.critical_failures]
    summary = ", ".join(f"{v.table}: {v.failed} of {v.evaluated} expectations failed" for v in failed)
    what = "training stopped" if stopped else "the candidate was not evaluated"
    problems = [f"  {v.table}: {f.describe()}" for v in failed for f in v.failures]
    return ChecksFailed(
        f"the data broke its expectations ({summary}); {what}",
        problems=problems,
        hint="fix the data or the suite, then re-run; `mlci validate` shows the same findings",
    )


T = TypeVar("T")


def _cached(data: Any, cls: type[T]) -> T | None:
    """Return the cached result `data` as a `cls`; None (a miss) when an older mlci wrote it in another shape."""
    from pydantic import ValidationError

    from mlci.serial import from_data

    if data is None:
        return None
    try:
        return from_data(cls, data)
    except ValidationError:
        return None


# --- train and evaluate -------------------------------------------------------------------


@dataclass
class Candidate:
    """The candidate bundle of a check, trained now or reused from the train cache."""

    bundle: Bundle
    reused: bool
    seconds: float
    # Test-table predictions made in this process at training time (None when reused).
    predictions: Predictions | None = None


def train_candidate(
    config: Config,
    datasets: Datasets,
    output: Path | None = None,
    *,
    pr: int | None = None,
    key: str | None = None,
    ctx: GitHubContext | None = None,
) -> Candidate:
    """Fit the candidate and write its bundle (to `output`, else .mlci/bundles/<version>)."""
    from mlci.training import train

    root = work_dir(config) / "bundles"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="train-", dir=root)) if output is None else output
    # On a PR, GITHUB_SHA is GitHub's temporary merge commit: the manifest records the PR's head
    # commit (the one the report and the status name) and the merge commit beside it.
    try:
        result = train(
            config,
            datasets,
            staging,
            pr=pr,
            key=key,
            sha=ctx.head_sha if ctx is not None else None,
            merge_sha=ctx.merge_sha if ctx is not None else None,
        )
    except BaseException:  # a failed or stopped fit leaves no half-written bundle behind
        if output is None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    bundle = result.bundle
    if output is None:
        final = root / bundle.version
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
        bundle.path = final
    return Candidate(bundle=bundle, reused=False, seconds=result.seconds, predictions=result.test_predictions)


def cached_candidate(
    config: Config, registry: Registry, key: str, aliases: list[str], pr: int | None = None
) -> Bundle | None:
    """Return a candidate this PR's own earlier check stored from the same data, config and code, if any.

    Only the versions the PR's alias points at (now, or before its last move) count, and only
    if their manifest names this PR: a cache_key is predictable, so a scan of every version
    would reuse whatever another pull request planted under it.
    """
    for name in aliases:
        record = registry.alias(name)
        if record is None:
            continue
        for version in dict.fromkeys(v for v in (record.version, record.previous) if v):
            try:
                manifest = registry.manifest(version)
            except ArtifactError:  # a malformed manifest is never reused; the check trains afresh
                continue
            if manifest.cache_key == key and manifest.pr == pr:
                return resolve_bundle(config, registry, version)
    return None


def predict(config: Config, bundle: Bundle, frame: pd.DataFrame) -> Predictions:
    """Return a bundle's predictions on `frame` (labels, and probabilities for classifiers).

    Scored in a contained process (mlci.sandbox): the bundle may be anyone's.
    """
    with start_predicting(config, bundle, frame) as scoring:
        return scoring.result()


def start_predicting(config: Config, bundle: Bundle, frame: pd.DataFrame) -> Scoring:
    """Return `predict` started in its contained process: `result()` waits for the predictions."""
    from mlci.data import require_columns
    from mlci.sandbox import sandbox_of, start

    features = list(bundle.manifest.features or [])
    require_columns(frame, features, uri="the test table", field=f"features of version {bundle.version}")
    return start(bundle, frame[features], sandbox_of(config))


def evaluate(
    config: Config,
    datasets: Datasets,
    candidate: Bundle,
    baseline: Bundle | None,
    *,
    cached: bool = False,
    candidate_predictions: Predictions | None = None,
    baseline_scoring: Scoring | None = None,
) -> Comparison:
    """Return the comparison of candidate and baseline on the same test rows, gates applied.

    `baseline_scoring`: the baseline's predictions, already under way (else it is scored here).
    """
    from mlci.cache import ResultCache, key_of
    from mlci.evaluation import Comparison
    from mlci.serial import to_data

    cache = ResultCache(work_dir(config) / "cache")
    key = key_of(
        "comparison",
        candidate=candidate.version,
        baseline=baseline.version if baseline else None,
        data=datasets.fingerprints,
        metrics=config.metrics.model_dump(mode="json"),
        gates=[g.model_dump(mode="json") for g in config.gates],
        slices=config.data.slices,
        target=config.data.target,
    )
    if cached and (hit := _cached(cache.get(key), Comparison)) is not None:
        return hit
    comparison = _compare(config, datasets, candidate, baseline, candidate_predictions, baseline_scoring)
    cache.put(key, to_data(comparison))
    return comparison


def _compare(
    config: Config,
    datasets: Datasets,
    candidate: Bundle,
    baseline: Bundle | None,
    candidate_predictions: Predictions | None = None,
    baseline_scoring: Scoring | None = None,
) -> Comparison:
    from mlci.comparison import compare

    test = datasets.test
    y = test[datasets.target].to_numpy()
    slices = {c: test[c].to_numpy() for c in config.data.slices if c in test.columns}
    return compare(
        y,
        candidate_predictions or predict(config, candidate, test),
        _baseline_predictions(config, baseline, test, baseline_scoring),
        task=config.model.task,
        metrics=config.metrics.names,
        primary=config.metrics.primary,
        gates=config.gates,
        statistics=config.metrics.statistics,
        slices=slices,
        positive_class=config.data.positive_class,
    )


def _baseline_predictions(
    config: Config, baseline: Bundle | None, test: pd.DataFrame, scoring: Scoring | None
) -> Predictions | None:
    if baseline is None:
        return None
    if scoring is not None and scoring.bundle.version == baseline.version:
        return scoring.result()
    return predict(config, baseline, test)


# --- the PR check -------------------------------------------------------------------------


@dataclass
class CheckResult:
    """Everything `mlci check` found, stored and wrote; `document` is the verdict every consumer reads."""

    document: ReportDocument
    candidate: Candidate
    comparison: Comparison
    baseline: Resolved | None
    push: PushResult | None  # None: a fork's check stores nothing
    report_path: Path
    comparison_path: Path
    messages: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """Return the overall verdict (pass, fail or bootstrap)."""
        return self.document.verdict

    @property
    def validation(self) -> list[ValidationResult]:
        """Return the data validation results."""
        return self.document.validation

    @property
    def alias(self) -> str | None:
        """Return the alias the candidate was stored under (None: not stored)."""
        assert self.document.candidate is not None
        return self.document.candidate.alias


def check(
    config: Config,
    *,
    baseline: str | None = "production",
    ctx: GitHubContext | None = None,
    output_dir: Path | None = None,
    before_worker: Callable[[], None] | None = None,
) -> CheckResult:
    """Validate, train (or reuse), evaluate against the baseline, push under pr-<n>, write the report.

    `ctx` is the GitHub Actions run the check is in (the PR, its head commit, the actor);
    None is a local run outside Actions. A pull request from a fork runs with no credentials:
    it reads the baseline from `registry.public_uri` (none if unset) and stores nothing.
    """
    from mlci.background import ValidationFailed
    from mlci.data import load_datasets
    from mlci.github.context import GitHubContext
    from mlci.signing import signature_messages, version_signer
    from mlci.training import cache_key

    ctx = GitHubContext() if ctx is None else ctx
    pr = ctx.pr_number
    fork = ctx.is_fork_pr
    alias = f"pr-{pr}" if pr is not None else "candidate"
    messages: list[str] = []
    clock = _Clock()

    with clock("load"):
        datasets = load_datasets(config)
    # Validation runs in a worker process while the candidate trains; a failed table stops the
    # fit (ValidationFailed) and the check ends with the failed expectations.
    with clock("validate"):
        pending = start_validation(config, datasets, before_worker)
    early: Scoring | None = None  # the baseline's scoring, started before the fit
    try:
        stopped = False
        try:
            with clock("train"):
                registry = open_public_registry(config) if fork else open_registry(config)
                if pr is not None and registry is not None:
                    registry.event_namespace = alias  # the PR role writes only versions/ and pr-<n>
                key = cache_key(config, datasets.fingerprints)
                cached = cached_candidate(config, registry, key, [alias], pr) if registry is not None else None
                if cached is not None:
                    candidate = Candidate(bundle=cached, reused=True, seconds=0.0)
                    messages.append(f"train cache hit: reusing version {cached.version} (same data, config and code)")
                elif pending.failed:  # a cached or in-engine result already failed: do not start the fit
                    stopped = True
                else:
                    if registry is not None:
                        # The baseline scores in a contained process while the candidate trains: its
                        # fork server's imports and its predictions run beside the fit, not after it.
                        base = baseline_bundle(config, registry, baseline)
                        early = start_predicting(config, base.bundle, datasets.test) if base is not None else None
                    try:
                        with pending.stopping_fit():
                            candidate = train_candidate(config, datasets, pr=pr, key=key, ctx=ctx)
                        messages.append(f"trained version {candidate.bundle.version} in {candidate.seconds:.1f}s")
                        messages.extend(feature_notes(config, datasets))
                    except ValidationFailed:
                        stopped = True
            with clock("validation_wait"):
                validation = pending.wait()
        finally:
            pending.close()
        if stopped or any(v.critical_failures for v in validation):
            # No candidate is evaluated or stored; the document still says why, for the report,
            # the PR comment, the commit status and the outputs.
            with clock("report"):
                document = stopped_document(config, validation, datasets, ctx, stopped)
                comparison_path, report_path = write_report(config, document, output_dir)
            if pr is not None and not fork and registry is not None:
                # No version to store, but the PR's log says what failed, for promote's refusal.
                registry.log_event(
                    "check",
                    actor=actor(ctx),
                    alias=alias,
                    verdict=document.verdict,
                    headline=document.headline,
                    failed_stages=[s.name for s in document.failed_stages],
                    pr=pr,
                    sha=ctx.head_sha,
                )
            raise DataFailed(data_failure(validation, stopped), document, report_path)
        with clock("evaluate"):
            if early is None:
                base = baseline_bundle(config, registry, baseline) if registry is not None else None
            stored_as = None if fork else registry
            unread = "a pull request from a fork reads no registry: registry.public_uri is not set"
            comparison, document = judge(
                config,
                stored_as,
                datasets,
                candidate,
                validation,
                base,
                alias,
                ctx,
                cached=True,
                no_baseline=unread if registry is None else None,
                baseline_scoring=early,
            )
    finally:
        if early is not None:  # unread when the check ended early: its child is stopped
            early.cancel()

    pushed = None
    if stored_as is not None:
        with clock("push"):
            signer = version_signer(config, stored_as, ctx, action="check", actor=actor(ctx))
            pushed = store_candidate(
                stored_as, candidate, document, actor=actor(ctx), action="check", attach=signer, pr=pr, sha=ctx.head_sha
            )
            messages += signature_messages(signer)
        if signer is not None and signer.signed is not None:
            document = document.with_signature(signer.signed)
    else:
        messages.append("a pull request from a fork: the candidate was evaluated here and stored nowhere")
    with clock("report"):
        comparison_path, report_path = write_report(config, document, output_dir)
    return CheckResult(
        document=document.model_copy(update={"timings": clock.timings}),
        candidate=candidate,
        comparison=comparison,
        baseline=base,
        push=pushed,
        report_path=report_path,
        comparison_path=comparison_path,
        messages=messages,
    )


def feature_notes(config: Config, datasets: Datasets) -> list[str]:
    """Return what the default preprocessing did with each kind of feature, in words."""
    from mlci.features import config_kinds

    if config.model.preprocessing == "none" or config.model.entrypoint:
        return []
    return config_kinds(config, datasets.train).notes()


def judge(
    config: Config,
    registry: Registry | None,
    datasets: Datasets,
    candidate: Candidate,
    validation: list[ValidationResult],
    baseline: Resolved | None,
    alias: str,
    ctx: GitHubContext,
    *,
    cached: bool = False,
    drift: DriftReport | None = None,
    no_baseline: str | None = None,
    baseline_scoring: Scoring | None = None,
) -> tuple[Comparison, ReportDocument]:
    """Return the candidate's comparison with its baseline and the document that judges it.

    `registry` is where the candidate will be stored under `alias`; None: it is stored nowhere.
    `baseline_scoring`: the baseline's scoring of the test rows, started earlier (see `evaluate`).
    """
    comparison = evaluate(
        config,
        datasets,
        candidate.bundle,
        baseline.bundle if baseline else None,
        cached=cached,
        candidate_predictions=candidate.predictions,
        baseline_scoring=baseline_scoring,
    )
    uri = registry.version_uri(candidate.bundle.version) if registry is not None else None
    return comparison, build_document(
        config,
        comparison,
        validation,
        candidate,
        baseline,
        alias if registry is not None else None,
        uri,
        datasets,
        ctx,
        drift=drift,
        no_baseline=no_baseline,
    )


def build_document(
    config: Config,
    comparison: Comparison,
    validation: list[ValidationResult],
    candidate: Candidate,
    baseline: Resolved | None,
    alias: str | None,
    uri: str | None,
    datasets: Datasets,
    ctx: GitHubContext,
    drift: DriftReport | None = None,
    no_baseline: str | None = None,
) -> ReportDocument:
    """Return the report document of a candidate: the references it names, handed to `report_document`."""
    from mlci.changes import model_changes
    from mlci.document import CandidateRef, DataRef, report_document

    manifest = candidate.bundle.manifest
    # A reused candidate was trained on these very bytes: its manifest knows the row counts,
    # so the tables need not be parsed just to say so again.
    rows = manifest.data.rows if candidate.reused and manifest.data is not None else None
    recorded = manifest.git_sha
    return report_document(
        model=config.model.name,
        comparison=comparison,
        validation=validation,
        candidate=CandidateRef(
            version=candidate.bundle.version,
            alias=alias,
            uri=uri,
            reused=candidate.reused,
            seconds=None if candidate.reused else candidate.seconds,
        ),
        baseline=baseline.ref if baseline is not None else None,
        data=DataRef(
            fingerprints=datasets.fingerprints,
            rows=rows or {"train": len(datasets.train), "test": len(datasets.test)},
            sample=datasets.sample,
        ),
        ctx=ctx,
        recorded_sha=str(recorded) if recorded else None,
        drift=drift,
        changes=model_changes(baseline.bundle.manifest, manifest) if baseline is not None else None,
        no_baseline=no_baseline,
    )


def write_report(config: Config, document: ReportDocument, output_dir: Path | None = None) -> tuple[Path, Path]:
    """Write comparison.json and the Markdown report into `output_dir` (default: here); return their paths."""
    from mlci.document import render_report
    from mlci.redaction import redact

    out = output_dir or Path.cwd()
    out.mkdir(parents=True, exist_ok=True)
    comparison_path = out / "comparison.json"
    # Artifacts outlive the run: no credential in a URI may reach them.
    comparison_path.write_text(redact(document.to_json()))
    report_path = out / Path(config.report.output).name
    report_path.write_text(redact(render_report(config, document)))
    return comparison_path, report_path


def evaluate_refs(config: Config, candidate: str, baseline: str | None, *, ctx: GitHubContext) -> ReportDocument:
    """Return the document of candidate REF against baseline REF on the test rows (`mlci evaluate`), gates applied.

    No data validation runs here: the document's verdict is the gates' (bootstrap without a baseline).
    """
    from mlci.data import load_datasets
    from mlci.references import resolve
    from mlci.sandbox import warm_up

    warm_up()  # both bundles are scored in contained processes: start their fork server now
    registry = open_registry(config)
    datasets = load_datasets(config)
    cand = resolve(config, registry, candidate)
    base = baseline_bundle(config, registry, baseline)
    comparison = evaluate(config, datasets, cand.bundle, base.bundle if base else None)
    alias = cand.ref.label if cand.ref.kind == "alias" else None
    return build_document(
        config,
        comparison,
        [],
        Candidate(cand.bundle, reused=True, seconds=0.0),
        base,
        alias,
        cand.ref.uri,
        datasets,
        ctx,
    )


def store_candidate(
    registry: Registry,
    candidate: Candidate,
    document: ReportDocument,
    *,
    actor: str,
    action: str,
    attach: VersionSigner | None = None,
    **event: Any,
) -> PushResult:
    """Push a candidate (its manifest carrying metrics and verdict), point its alias at it, log the `action`.

    The event carries the document's verdict, headline and failed stages, so a later promote
    can say what failed.
    """
    assert document.candidate is not None and document.candidate.alias is not None
    alias = document.candidate.alias
    baseline = document.baseline.version if document.baseline else None
    verdict = document.verdict
    if not candidate.reused:  # a stored version is immutable; its manifest says what its first check found
        bundle = candidate.bundle
        metrics = document.comparison.metrics if document.comparison else []
        bundle.manifest.metrics = {m.name: m.candidate for m in metrics}
        bundle.manifest.evaluation = Evaluation(baseline=baseline, verdict=verdict)
        bundle.write_manifest()
    pushed = registry.push(candidate.bundle.path, actor=actor, reason=f"mlci {action} ({alias})", attach=attach)
    registry.set_alias(alias, pushed.version, actor=actor, reason=f"mlci {action}: {verdict}")
    registry.log_event(
        action,
        actor=actor,
        alias=alias,
        version=pushed.version,
        verdict=verdict,
        headline=document.headline,
        failed_stages=[s.name for s in document.failed_stages],
        baseline=baseline,
        **event,
    )
    return pushed


class _Clock:
    """Wall time per stage of a check, for the --json output and the cache's proof of worth."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = round(time.perf_counter() - started, 4)
