"""The one pipeline: validate the data, train (or reuse, or take) a candidate, evaluate it against its baseline,
decide the verdict, store it.

`run` assembles the stages once; the PR check, the scheduled retrain and the merge job's
re-evaluation (promote --from-pr) are the same run with different options: where the candidate
comes from, whether results may come from the cache, and where (if anywhere) it is stored.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.contracts.events import CheckDetails, RetrainDetails
from mlci.contracts.manifest import Evaluation
from mlci.errors import CheckFailed, ModelError
from mlci.registry.references import actor, baseline_bundle, bundle_of

if TYPE_CHECKING:
    import pandas as pd

    from mlci.config.schema import Config
    from mlci.contracts.comparison import Comparison
    from mlci.contracts.document import ReportDocument
    from mlci.contracts.drift import DriftReport
    from mlci.contracts.events import CheckEvent, RetrainEvent
    from mlci.contracts.importance import Importance
    from mlci.contracts.validation import ValidationResult
    from mlci.data.tables import Datasets
    from mlci.github.context import GitHubContext
    from mlci.modeling.bundle import Bundle
    from mlci.modeling.sandbox import Scoring
    from mlci.registry.references import Resolved
    from mlci.registry.registry import PushResult, Registry
    from mlci.signing.sign import VersionSigner
    from mlci.stats.evaluation import Predictions


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
    from mlci.modeling.outside import train_outside
    from mlci.modeling.training import train

    # mlci fits an estimator or entrypoint itself; a command's or a file's model only comes in.
    fit = train if config.model.source in ("estimator", "entrypoint") else train_outside
    root = config.work_dir / "bundles"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="train-", dir=root)) if output is None else output
    # On a PR, GITHUB_SHA is GitHub's temporary merge commit: the manifest records the PR's head
    # commit (the one the report and the status name) and the merge commit beside it.
    try:
        result = fit(
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
            except ModelError:  # a malformed manifest is never reused; the check trains afresh
                continue
            if manifest.cache_key == key and manifest.pr == pr:
                return bundle_of(config, registry, version)
    return None


def predict(config: Config, bundle: Bundle, frame: pd.DataFrame) -> Predictions:
    """Return a bundle's predictions on `frame` (labels, and probabilities for classifiers).

    Scored in a contained process (mlci.modeling.sandbox): the bundle may be anyone's.
    """
    with start_predicting(config, bundle, frame) as scoring:
        return scoring.result()


def start_predicting(config: Config, bundle: Bundle, frame: pd.DataFrame) -> Scoring:
    """Return `predict` started in its contained process: `result()` waits for the predictions."""
    from mlci.data.tables import require_columns
    from mlci.modeling.sandbox import sandbox_of, start

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
    from mlci._internal.cache import ResultCache, key_of
    from mlci._internal.serial import to_data
    from mlci.contracts.comparison import Comparison

    cache = ResultCache(config.work_dir / "cache")
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
    if cached and (hit := cache.get_as(key, Comparison)) is not None:
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
    from mlci.stats.comparison import compare

    test = datasets.test
    y = test[datasets.target].to_numpy()
    slices = {c: test[c].to_numpy() for c in config.data.slices if c in test.columns}
    return compare(
        y,
        candidate_predictions or predict(config, candidate, test),
        _baseline_predictions(config, baseline, test, baseline_scoring),
        task=config.task,
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


def feature_notes(config: Config, datasets: Datasets) -> list[str]:
    """Return what the default preprocessing did with each kind of feature, in words."""
    from mlci.data.features import config_kinds
    from mlci.modeling.training import categorical_encoding_note

    if config.model.preprocessing == "none" or config.model.estimator is None:
        return []
    kinds = config_kinds(config, datasets.train)
    encoding = categorical_encoding_note(config.model.estimator, kinds)
    return kinds.notes() + ([encoding] if encoding else [])


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
    from mlci._internal.files import shown_path

    uri = shown_path(registry.version_uri(candidate.bundle.version), config.base_dir) if registry is not None else None
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


def importance_of(
    config: Config, datasets: Datasets, candidate: Bundle, baseline: Bundle | None, *, cached: bool = False
) -> Importance | None:
    """Return the permutation importance of candidate and baseline on the same sampled test rows (None: turned off).

    Each model is scored through `predict`, the comparison's own scorer (the contained process),
    once for all its permuted rows.
    """
    from mlci._internal.cache import ResultCache, key_of
    from mlci._internal.serial import to_data
    from mlci.contracts.importance import Importance
    from mlci.stats.importance import importance

    settings = config.importance
    if not settings.enabled:
        return None
    cache = ResultCache(config.work_dir / "cache")
    key = key_of(
        "importance",
        candidate=candidate.version,
        baseline=baseline.version if baseline else None,
        data=datasets.fingerprints,
        settings=settings.model_dump(mode="json"),
        metric=config.metrics.primary,
        statistics=config.metrics.statistics.model_dump(mode="json"),
        target=config.data.target,
    )
    if cached and (hit := cache.get_as(key, Importance)) is not None:
        return hit

    def model(bundle: Bundle) -> tuple[list[str], Callable[[pd.DataFrame], Predictions]]:
        return list(bundle.manifest.features or []), functools.partial(predict, config, bundle)

    test = datasets.test
    found = importance(
        test,
        test[datasets.target].to_numpy(),
        model(candidate),
        model(baseline) if baseline is not None else None,
        metric=config.metrics.primary,
        settings=settings,
        seed=config.metrics.statistics.seed,
        confidence=config.metrics.statistics.confidence,
    )
    cache.put(key, to_data(found))
    return found


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
    importance: Importance | None = None,
) -> ReportDocument:
    """Return the report document of a candidate: the references it names, handed to `report_document`."""
    from mlci.contracts.changes import model_changes
    from mlci.contracts.document import CandidateRef, DataRef, report_document

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
            card=_card_uri(uri, candidate),
            reused=candidate.reused,
            seconds=None if candidate.reused else candidate.seconds,
            format=manifest.model_format or "skops",
            scored_by=manifest.runtime,
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
        importance=importance,
    )


def store_candidate(
    registry: Registry,
    candidate: Candidate,
    document: ReportDocument,
    *,
    actor: str,
    details: CheckDetails | RetrainDetails,
    attach: VersionSigner | None = None,
    card: Callable[[ReportDocument], str] | None = None,
) -> PushResult:
    """Push a candidate (its manifest carrying metrics and verdict), point its alias at it, log a check or retrain event.

    The event carries `details`: the document's verdict, headline and failed stages, so a
    later promote can say what failed. `card(document)` gives the version's model card, stored
    as one of its files (listed in the manifest, so its signatures cover it).
    """
    from mlci.contracts.events import CheckEvent, RetrainEvent

    assert document.candidate is not None and document.candidate.alias is not None
    alias = document.candidate.alias
    baseline = document.baseline.version if document.baseline else None
    verdict = document.verdict
    action = "check" if isinstance(details, CheckDetails) else "retrain"
    if not candidate.reused:  # a stored version is immutable; its manifest says what its first check found
        bundle = candidate.bundle
        metrics = document.comparison.metrics if document.comparison else []
        bundle.manifest.metrics = {m.name: m.candidate for m in metrics}
        bundle.manifest.evaluation = Evaluation(baseline=baseline, verdict=verdict)
        if card is not None:
            from mlci.modeling.bundle import CARD

            bundle.attach(CARD, card(document).encode())
        bundle.write_manifest()
    pushed = registry.push(candidate.bundle.path, actor=actor, reason=f"mlci {action} ({alias})", attach=attach)
    registry.set_alias(alias, pushed.version, actor=actor, reason=f"mlci {action}: {verdict}")
    if isinstance(details, CheckDetails):
        registry.log_event(CheckEvent(actor=actor, alias=alias, version=pushed.version, extra=details))
    else:
        registry.log_event(RetrainEvent(actor=actor, alias=alias, version=pushed.version, extra=details))
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


@dataclass
class Run:
    """What one run of the pipeline found and stored; `document` holds the verdict every consumer reads."""

    document: ReportDocument
    candidate: Candidate | None  # None: the data stopped the run before a candidate was evaluated
    comparison: Comparison | None
    baseline: Resolved | None
    push: PushResult | None  # None: stored nowhere
    failure: CheckFailed | None = None  # the data broke its expectations: what to tell the user
    messages: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def run(
    config: Config,
    registry: Registry | None,
    datasets: Datasets,
    ctx: GitHubContext,
    *,
    alias: str,
    baseline: str | None = "production",
    candidate: Bundle | None = None,
    reuse: bool = False,
    store: bool = True,
    drift: DriftReport | None = None,
    before_worker: Callable[[], None] | None = None,
    no_baseline: str | None = None,
    details: Callable[[ReportDocument], CheckDetails | RetrainDetails] | None = None,
    tables: list[str] | None = None,
) -> Run:
    """Return one run of the pipeline on `datasets`: validate, train, evaluate against `baseline`, store.

    `registry` is where the baseline is read and, with `store`, where the candidate is pushed
    under `alias` and a check or retrain event with `details(document)` is logged (None: no
    registry, no baseline). The
    candidate is `candidate` when given (the merge job evaluates the PR's stored version),
    else this PR's cached candidate when `reuse` finds one, else a fresh fit, stopped as soon
    as the data breaks a critical expectation. `reuse` also lets validation and comparison
    results come from the local cache. `tables` names the tables validated (default:
    expectations.tables).
    """
    from mlci.flows.validate import data_failure, shown, start_validation, stopped_document
    from mlci.modeling.training import cache_key
    from mlci.signing.sign import signature_messages, version_signer

    pr = ctx.pr_number
    messages: list[str] = []
    clock = _Clock()
    chosen: Candidate | None = None if candidate is None else Candidate(bundle=candidate, reused=True, seconds=0.0)
    stopped = False
    base: Resolved | None = None
    early: Scoring | None = None  # the baseline's scoring, started before the fit
    with clock("validate"):
        pending = start_validation(config, datasets, before_worker, names=tables, cached=reuse)
    try:
        try:
            with clock("train"):
                key = cache_key(config, datasets.fingerprints)
                if chosen is None and reuse and registry is not None:
                    cached = cached_candidate(config, registry, key, [alias], pr)
                    if cached is not None:
                        chosen = Candidate(bundle=cached, reused=True, seconds=0.0)
                        messages.append(
                            f"train cache hit: reusing version {cached.version} (same data, config and code)"
                        )
                if chosen is None and pending.failed:  # a cached or in-engine result failed already: no fit
                    stopped = True
                elif chosen is None:
                    from mlci.data.background import ValidationFailed

                    if registry is not None:
                        # The baseline scores in a contained process while the candidate trains: its
                        # fork server's imports and its predictions run beside the fit, not after it.
                        base = baseline_bundle(config, registry, baseline)
                        early = start_predicting(config, base.bundle, datasets.test) if base is not None else None
                    try:
                        with pending.stopping_fit():
                            chosen = train_candidate(config, datasets, pr=pr, key=key, ctx=ctx)
                        messages.append(f"trained version {chosen.bundle.version} in {chosen.seconds:.1f}s")
                        if chosen.bundle.manifest.runtime:
                            messages.append(f"scored by {chosen.bundle.manifest.runtime}")
                        messages.extend(feature_notes(config, datasets))
                    except ValidationFailed:
                        stopped = True
            with clock("validation_wait"):
                validation = shown(config, pending.wait())
        finally:
            pending.close()
        who = actor(ctx)
        if stopped or any(v.critical_failures for v in validation):
            # Nothing is evaluated or stored; the document still says why, for every consumer.
            document = stopped_document(config, validation, datasets, ctx, stopped)
            if store and registry is not None and details is not None:
                # No version to store, but the log says what failed, for promote's refusal.
                registry.log_event(_event(who, alias, details(document)))
            return Run(
                document=document,
                candidate=None,
                comparison=None,
                baseline=None,
                push=None,
                failure=data_failure(validation, stopped),
                messages=messages,
                timings=clock.timings,
            )
        assert chosen is not None
        with clock("evaluate"):
            if early is None and registry is not None:
                base = baseline_bundle(config, registry, baseline)
            comparison, document = judge(
                config,
                registry if store else None,
                datasets,
                chosen,
                validation,
                base,
                alias,
                ctx,
                cached=reuse,
                drift=drift,
                no_baseline=no_baseline,
                baseline_scoring=early,
            )
        with clock("importance"):  # its own stage: the benchmark holds it to a share of the check
            relied = importance_of(config, datasets, chosen.bundle, base.bundle if base else None, cached=reuse)
            if relied is not None:
                document = document.model_copy(update={"importance": relied})
    finally:
        if early is not None:  # unread when the run ended early: its child is stopped
            early.cancel()
    pushed = None
    if store and registry is not None and details is not None:
        with clock("push"):
            found = details(document)
            action = "check" if isinstance(found, CheckDetails) else "retrain"
            signer = version_signer(config, registry, ctx, action=action, actor=who)
            pushed = store_candidate(
                registry,
                chosen,
                document,
                actor=who,
                details=found,
                attach=signer,
                card=functools.partial(_card, config, chosen),
            )
            messages += signature_messages(signer)
        if signer is not None and signer.signed is not None:
            document = document.with_signature(signer.signed)
    return Run(
        document=document,
        candidate=chosen,
        comparison=comparison,
        baseline=base,
        push=pushed,
        messages=messages,
        timings=clock.timings,
    )


def _card_uri(uri: str | None, candidate: Candidate) -> str | None:
    """Return where the stored candidate's card is: beside its manifest (a reused version only if it was stored with one)."""
    from mlci.modeling.bundle import CARD

    if uri is None or (candidate.reused and CARD not in (candidate.bundle.manifest.files or {})):
        return None
    return uri.rstrip("/") + "/" + CARD


def _card(config: Config, candidate: Candidate, document: ReportDocument) -> str:
    """Return the candidate's model card, as the document judged it."""
    from mlci.report.card import render_card

    return render_card(config, candidate.bundle.manifest, document)


def _event(actor: str, alias: str, details: CheckDetails | RetrainDetails) -> CheckEvent | RetrainEvent:
    """Return the event of a run that stored no version: the alias and what its check found."""
    from mlci.contracts.events import CheckEvent, RetrainEvent

    if isinstance(details, CheckDetails):
        return CheckEvent(actor=actor, alias=alias, extra=details)
    return RetrainEvent(actor=actor, alias=alias, extra=details)
