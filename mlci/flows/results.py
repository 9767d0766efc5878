"""The pipeline of `model.format: results`: the candidate's artifacts versioned, the command run, results compared.

`flows/pipeline.run` hands a results configuration here; the stages are the same (validate the
evaluation rows, make the candidate, evaluate it against its baseline, decide, store) and the
document, storage and signing are the pipeline's own. What differs:

- the candidate is a bundle of `model.artifacts` (mlci.modeling.results) whose results are what
  `model.command` writes with MLCI_ARTIFACTS_DIR at the bundle's copy of them;
- the baseline's results are the ones stored with the production version when they were made on
  the same evaluation rows (data fingerprint) by the same command code; otherwise the command
  runs again, with the baseline version's artifacts;
- the comparison is of per-example metrics (mlci.stats.examples), with the changed examples.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.errors import CheckFailed, ModelError

if TYPE_CHECKING:
    from mlci.config.schema import Config
    from mlci.contracts.comparison import ChangedExamples, Comparison
    from mlci.contracts.document import ReportDocument
    from mlci.contracts.drift import DriftReport
    from mlci.contracts.events import CheckDetails, RetrainDetails
    from mlci.data.tables import Datasets
    from mlci.flows.pipeline import Candidate, Run
    from mlci.github.context import GitHubContext
    from mlci.modeling.bundle import Bundle
    from mlci.modeling.results import ExampleResults
    from mlci.registry.registry import Registry


def rows_file(config: Config, scratch: Path, datasets: Datasets) -> Path:
    """Return a local file of the evaluation rows for MLCI_TEST_DATA: data.test itself, or a copy of an s3:// one."""
    from mlci.modeling.results import rows_suffix, write_rows

    test = str(config.data.test)
    uri = config.locate(test)
    if "://" not in uri:
        return Path(uri)
    path = scratch / f"rows{rows_suffix(test)}"
    write_rows(datasets.test, path)
    return path


def results_of(
    config: Config, bundle: Bundle, rows: Path, datasets: Datasets, scratch: Path, label: str
) -> ExampleResults:
    """Return what model.command writes for `bundle`'s artifacts on the evaluation rows (it runs once)."""
    from mlci.modeling.results import ARTIFACTS, read_results, run_command

    output = Path(tempfile.mkdtemp(prefix="out-", dir=scratch))
    seconds = run_command(config, rows=rows, artifacts=bundle.path / ARTIFACTS, output=output, label=label)
    results = read_results(config, output, datasets.test[str(config.data.id)], label)
    results.seconds = seconds
    return results


def make_candidate(
    config: Config, datasets: Datasets, rows: Path, scratch: Path, ctx: GitHubContext, code: str
) -> tuple[Candidate, ExampleResults]:
    """Return the candidate bundle of the checkout's artifacts, with the command's results attached."""
    from mlci.flows.pipeline import Candidate
    from mlci.modeling.results import artifact_files, attach_results, rows_suffix, write_results_bundle

    root = config.work_dir / "bundles"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="results-", dir=root))
    try:
        bundle = write_results_bundle(
            staging,
            config,
            artifact_files(config),
            rows=datasets.test,
            rows_suffix=rows_suffix(str(config.data.test)),
            fingerprint=datasets.fingerprints["test"],
            code=code,
            pr=ctx.pr_number,
            sha=ctx.head_sha,
            merge_sha=ctx.merge_sha,
        )
        results = results_of(config, bundle, rows, datasets, scratch, "the candidate")
        attach_results(bundle, results, str(config.data.id))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    final = root / bundle.version
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    bundle.path = final
    return Candidate(bundle=bundle, reused=False, seconds=results.seconds), results


def baseline_results(
    config: Config, baseline: Bundle, datasets: Datasets, rows: Path, scratch: Path, code: str, *, reuse: bool
) -> tuple[ExampleResults, str]:
    """Return the baseline's results and how they were had: stored ones when they answer the same question, else run.

    Only a PR's check (`reuse`) takes stored results: they are as trustworthy as whoever could
    write the registry's versions/ (the PR role), and the manifest that hashes them is bound to
    no version id. A job that decides (promote --from-pr, retrain) runs the baseline again.
    """
    from mlci.modeling.results import ARTIFACTS, stored_results

    record = baseline.manifest.results
    if record is None or not (baseline.path / ARTIFACTS).is_dir():
        raise ModelError(
            f"baseline version {baseline.version} is not a `format: results` version; mlci cannot compare "
            "per-example results with a model",
            hint="bootstrap the results model under a new model.name, or roll production back to a results version",
        )
    why = None
    if not reuse:
        why = "a job that decides never reuses stored results"
    elif record.data_fingerprint != datasets.fingerprints["test"]:
        why = "the evaluation rows changed"
    elif record.code_sha256 != code:
        why = "the command or its code changed"
    else:
        stored = stored_results(baseline, config, datasets.test[str(config.data.id)])
        if stored is not None:
            return stored, f"baseline results reused from version {baseline.version} (same rows, same command code)"
        why = "its stored results lack a metric asked now"
    results = results_of(config, baseline, rows, datasets, scratch, f"baseline {baseline.version}")
    return results, f"baseline results recomputed with version {baseline.version}'s artifacts ({why})"


def changes_of(config: Config, datasets: Datasets, cand: ExampleResults, base: ExampleResults) -> ChangedExamples:
    """Return the examples whose primary metric changed, with their slice values (and texts with report.show_examples)."""
    from mlci.stats.examples import changed_examples

    primary = config.metrics.primary
    spec = config.per_example(primary)
    assert spec is not None  # the primary metric of format: results is one of metrics.per_example
    test = datasets.test
    ident = str(config.data.id)
    texts = None
    if config.report.show_examples:
        texts = {c: test[c].to_numpy() for c in test.columns if c != ident and c not in config.data.slices}
    return changed_examples(
        cand.ids,
        cand.values[primary],
        base.values[primary],
        metric=primary,
        lower_is_better=spec.lower_is_better,
        slices={c: test[c].to_numpy() for c in config.data.slices},
        texts=texts,
        limit=config.report.changed_examples,
    )


def compare_results(
    config: Config, datasets: Datasets, cand: ExampleResults, base: ExampleResults | None
) -> Comparison:
    """Return the per-example comparison of candidate and baseline on the evaluation rows, overall and per slice."""
    from mlci.stats.examples import compare_examples

    test = datasets.test
    return compare_examples(
        cand.values,
        base.values if base is not None else None,
        specs=config.metrics.per_example,
        primary=config.metrics.primary,
        gates=config.gates,
        statistics=config.metrics.statistics,
        slices={c: test[c].to_numpy() for c in config.data.slices},
    )


def run_results(
    config: Config,
    registry: Registry | None,
    datasets: Datasets,
    ctx: GitHubContext,
    *,
    alias: str,
    baseline: str | None = "production",
    candidate: Bundle | None = None,
    store: bool = True,
    drift: DriftReport | None = None,
    before_worker: Callable[[], None] | None = None,
    no_baseline: str | None = None,
    details: Callable[[ReportDocument], CheckDetails | RetrainDetails] | None = None,
    reuse: bool = False,
) -> Run:
    """Return one run of the pipeline for `model.format: results` (see `flows/pipeline.run` for the arguments).

    `candidate`, when given (promote --from-pr), is a stored version: its artifacts are run again
    with this checkout's command, so the merged code decides.
    """
    from mlci.contracts.events import CheckDetails
    from mlci.flows.pipeline import Candidate, Run, _Clock, _event, build_document, store_candidate
    from mlci.flows.validate import data_failure, start_validation, stopped_document
    from mlci.modeling.results import code_hash
    from mlci.registry.references import actor, baseline_bundle
    from mlci.signing.sign import signature_messages, version_signer

    clock = _Clock()
    messages: list[str] = []
    who = actor(ctx)
    names = ["test"] if config.expectations is not None else []
    with clock("validate"):
        pending = start_validation(config, datasets, before_worker, names=names, cached=reuse)
        try:
            validation = pending.wait()
        finally:
            pending.close()
    if any(v.critical_failures for v in validation):
        document = stopped_document(config, validation, datasets, ctx, False)
        if store and registry is not None and details is not None:
            registry.log_event(_event(who, alias, details(document)))
        return Run(document, None, None, None, None, data_failure(validation, False), messages, clock.timings)

    code = code_hash(config)
    scratch_root = config.work_dir / "scratch"
    scratch_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="results-", dir=scratch_root) as tmp:
        scratch = Path(tmp)
        rows = rows_file(config, scratch, datasets)
        with clock("train"):
            if candidate is None:
                chosen, cand = make_candidate(config, datasets, rows, scratch, ctx, code)
                messages.append(f"ran the command for version {chosen.bundle.version} in {chosen.seconds:.1f}s")
            else:
                cand = results_of(config, candidate, rows, datasets, scratch, f"candidate {candidate.version}")
                chosen = Candidate(bundle=candidate, reused=True, seconds=cand.seconds)
                messages.append(f"ran the command again for version {candidate.version} with this checkout's code")
        with clock("evaluate"):
            base = baseline_bundle(config, registry, baseline) if registry is not None else None
            base_results = None
            if base is not None:
                base_results, how = baseline_results(config, base.bundle, datasets, rows, scratch, code, reuse=reuse)
                messages.append(how)
            comparison = compare_results(config, datasets, cand, base_results)
            uri = registry.version_uri(chosen.bundle.version) if registry is not None and store else None
            document = build_document(
                config,
                comparison,
                validation,
                chosen,
                base,
                alias if registry is not None and store else None,
                uri,
                datasets,
                ctx,
                drift=drift,
                no_baseline=no_baseline,
            )
            examples = changes_of(config, datasets, cand, base_results) if base_results is not None else None
            data = document.data.model_copy(update={"rows": {"test": len(datasets.test)}}) if document.data else None
            # The manifests' differences name estimators and features, which a results version has none of.
            document = document.model_copy(update={"examples": examples, "data": data, "changes": None})
    pushed = None
    if store and registry is not None and details is not None:
        with clock("push"):
            found = details(document)
            action = "check" if isinstance(found, CheckDetails) else "retrain"
            signer = version_signer(config, registry, ctx, action=action, actor=who)
            pushed = store_candidate(registry, chosen, document, actor=who, details=found, attach=signer)
            messages += signature_messages(signer)
        if signer is not None and signer.signed is not None:
            document = document.with_signature(signer.signed)
    return Run(document, chosen, comparison, base, pushed, None, messages, clock.timings)


def smoke_results(config: Config, bundle: Bundle, label: str) -> None:
    """Run model.command on the version's smoke rows with its artifacts; CheckFailed unless every row has a result."""
    import pandas as pd

    from mlci.data.tables import parse_table
    from mlci.errors import MlciError
    from mlci.modeling.results import ARTIFACTS, read_results, run_command

    record = bundle.manifest.results
    if record is None:
        raise CheckFailed(f"{label}: version {bundle.version} is not a `format: results` version")
    # The manifest names the smoke file: only a plain name it lists and hashes, never a path out of the bundle.
    name = str(record.smoke or "")
    smoke = bundle.path / name
    if not name or Path(name).name != name or name not in (bundle.manifest.files or {}) or not smoke.is_file():
        raise CheckFailed(f"{label}: version {bundle.version} has no smoke rows to smoke-test with")
    with tempfile.TemporaryDirectory(prefix="mlci-smoke-out-") as out:
        try:
            rows: pd.DataFrame = parse_table(str(smoke), smoke.read_bytes())
            run_command(config, rows=smoke, artifacts=bundle.path / ARTIFACTS, output=Path(out), label=label)
            read_results(config, Path(out), rows[str(config.data.id)], label)
        except MlciError as e:
            raise CheckFailed(f"{label}: {'; '.join(e.lines())}") from e
