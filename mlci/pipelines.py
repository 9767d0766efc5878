"""The orchestration behind the commands: validate, train, evaluate, check, push, promote, history.

Each function takes a Config (and plain arguments), returns a result value and raises
MlciError subclasses; the CLI renders and maps exit codes.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci import __version__
from mlci.errors import ChecksFailed, ConfigError, DataError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

    from mlci.artifacts import Bundle
    from mlci.config import Config
    from mlci.data import Datasets
    from mlci.evaluation import Comparison, Predictions
    from mlci.registry.registry import PushResult, Registry
    from mlci.validation import ValidationResult

WORK_DIR = ".mlci"


def work_dir(config: Config) -> Path:
    """Return the directory where mlci keeps bundles and downloads (next to mlci.yaml)."""
    return config.base_dir / WORK_DIR


def actor(env: Mapping[str, str] | None = None) -> str:
    """Return who is acting: the GitHub actor in Actions, else the local user."""
    env = os.environ if env is None else env
    if env.get("GITHUB_ACTOR"):
        return f"github:{env['GITHUB_ACTOR']}"
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


# --- validation ---------------------------------------------------------------------------


def validate_data(config: Config, which: str | None = None) -> list[ValidationResult]:
    """Return the suite's result on each table: the configured ones, `train`, `test`, or a path."""
    from mlci.data import load_datasets, read_table, s3_options
    from mlci.validation import validate

    if config.expectations is None:
        raise ConfigError(f"{config.path}: no 'expectations' section", hint="add expectations.suite: PATH")
    suite = config.resolve(config.expectations.suite)
    if which is not None and which not in ("train", "test"):
        # A path on the command line is relative to where the user stands, not to mlci.yaml.
        table = read_table(which, s3_options=s3_options(config))
        return [validate(table.frame, suite, table=table.uri)]
    datasets = load_datasets(config)
    return validate_datasets(config, datasets, [which] if which else None)


def validate_datasets(
    config: Config, datasets: Datasets, names: list[str] | None = None, *, cached: bool = False
) -> list[ValidationResult]:
    """Return the suite's result on already loaded train/test tables (from the local cache when `cached`)."""
    from mlci.artifacts import sha256_file
    from mlci.cache import ResultCache, key_of
    from mlci.validation import ValidationResult, validate

    if config.expectations is None:
        return []
    suite = config.resolve(config.expectations.suite)
    chosen = names or list(config.expectations.tables)
    cache = ResultCache(work_dir(config) / "cache")
    results = []
    for name in chosen:
        table = datasets.sources.get(name, name)
        key = None
        if cached and Path(suite).exists():
            # The data fingerprint names the table's bytes; a split table adds its split rule.
            data = {k: v for k, v in datasets.fingerprints.items() if k in (name, "table", "split")}
            key = key_of("validation", table=table, name=name, data=data, suite=sha256_file(Path(suite)))
            hit = cache.get(key)
            if hit is not None:
                results.append(ValidationResult.from_dict(hit))
                continue
        result = validate(datasets.train if name == "train" else datasets.test, suite, table=table)
        if key is not None:
            cache.put(key, result.to_dict())
        results.append(result)
    return results


# --- registry -----------------------------------------------------------------------------


def open_registry(config: Config) -> Registry:
    """Return the Registry of the config's model on its configured store."""
    from mlci.registry.registry import Registry
    from mlci.registry.store import open_store

    r = config.registry
    store = open_store(
        r.uri,
        base_dir=config.base_dir,
        endpoint_url=r.endpoint_url or None,
        region=r.region or None,
        addressing_style=r.addressing_style,
        locking=r.locking,
    )
    return Registry(store, config.model.name)


def resolve_bundle(config: Config, registry: Registry, ref: str) -> Bundle:
    """Return the verified bundle named by REF: a bundle directory, a version id or an alias."""
    from mlci.artifacts import MANIFEST, open_bundle

    path = Path(ref)
    if (path / MANIFEST).exists():
        return open_bundle(path)
    version = registry.resolve(ref)
    cache = work_dir(config) / "versions"
    local = cache / version
    if not (local / MANIFEST).exists():
        registry.fetch(version, cache)
    return open_bundle(local)


def push(config: Config, bundle_dir: str, alias: str | None = None, *, reason: str = "") -> dict[str, Any]:
    """Store a bundle as an immutable version and optionally point an alias at it."""
    from mlci.artifacts import open_bundle

    bundle = open_bundle(Path(bundle_dir))
    registry = open_registry(config)
    who = actor()
    result = registry.push(bundle.path, actor=who, reason=reason)
    out: dict[str, Any] = {"version": result.version, "created": result.created, "uri": result.uri}
    if alias:
        record = registry.set_alias(alias, result.version, actor=who, reason=reason or "push")
        out.update(alias=alias, previous=record.previous)
    return out


def promote(
    config: Config,
    ref: str,
    alias: str,
    *,
    reason: str = "",
    allow_failed: bool = False,
    expect: str | None = None,
) -> dict[str, Any]:
    """Move `alias` to the version REF names, by compare-and-swap; ConflictError if it moved under us.

    `expect` ("none" for an unset alias) is the version the caller believes the alias holds,
    e.g. the baseline a PR was compared with: if the alias holds anything else, nothing moves.
    """
    from mlci.errors import ConflictError

    registry = open_registry(config)
    version = registry.resolve(ref)
    current = registry.alias(alias)
    if expect is not None:
        wanted = None if expect == "none" else registry.resolve(expect)
        held = current.version if current else None
        if held != wanted:
            raise ConflictError(
                f"alias '{alias}' of model '{config.model.name}' holds {held or 'nothing'}, not {wanted or 'nothing'} "
                f"as expected; someone moved it first. Re-run the check against the new '{alias}'"
            )
    verdict = last_verdict(registry, version)
    if verdict == "fail" and not allow_failed:
        raise ChecksFailed(
            f"version {version} failed its gates at its last check; not promoting it to '{alias}'",
            hint="pass --allow-failed to promote it anyway (recorded in the event log)",
        )
    why = reason or f"promote {ref}"
    if verdict == "fail":
        why += " (--allow-failed: its check had failed)"
    record = registry.set_alias(
        alias, version, actor=actor(), reason=why, expected_etag=current.etag if current else None
    )
    return {"alias": alias, "version": record.version, "previous": record.previous, "verdict": verdict}


def pr_candidate(config: Config, from_pr: str, ctx: Any) -> tuple[str, str]:
    """Return (REF of the candidate a PR's check stored, how the PR was found); ChecksFailed if none."""
    from mlci.deploy import pr_of_commit

    if from_pr == "auto":
        number, how = pr_of_commit(ctx)
    elif from_pr.isdigit():
        number, how = int(from_pr), f"PR #{from_pr} named on the command line"
    else:
        raise ConfigError(f"--from-pr {from_pr!r}: give a PR number or 'auto'")
    registry = open_registry(config)
    if registry.alias(f"pr-{number}") is None:
        raise ChecksFailed(
            f"PR #{number} has no stored candidate (no alias pr-{number} for model '{config.model.name}'); "
            "did its mlci check run and push?"
        )
    return f"pr-{number}", f"{how}: promoting its candidate pr-{number}"


def last_verdict(registry: Registry, version: str) -> str | None:
    """Return the verdict of the latest check (or scheduled retrain) that stored `version`, if any."""
    for event in reversed(registry.events()):
        if event.get("action") in ("check", "retrain") and event.get("version") == version:
            return str((event.get("extra") or {}).get("verdict"))
    return None


def history(config: Config, alias: str | None = None) -> dict[str, Any]:
    """Return versions (with metrics), aliases (current and previous) and the event log."""
    registry = open_registry(config)
    aliases = [a for a in registry.aliases() if alias is None or a.name == alias]
    if alias is not None and not aliases:
        raise NotFoundError(f"model '{config.model.name}' has no alias '{alias}'")
    events = registry.events()
    if alias is not None:
        events = [e for e in events if e.get("alias") == alias or e.get("env") == alias]
    versions = []
    for m in registry.versions():
        versions.append(
            {
                "version": m.get("version"),
                "created_at": m.get("created_at"),
                "git_sha": m.get("git_sha"),
                "pr": m.get("pr"),
                "metrics": m.get("metrics", {}),
            }
        )
    return {
        "model": config.model.name,
        "registry": registry.store.uri,
        "versions": versions,
        "aliases": [
            {
                "alias": a.name,
                "version": a.version,
                "previous": a.previous,
                "updated_at": a.updated_at,
                "actor": a.actor,
            }
            for a in aliases
        ],
        "events": events,
    }


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
    config: Config, datasets: Datasets, output: Path | None = None, *, pr: int | None = None, key: str | None = None
) -> Candidate:
    """Fit the candidate and write its bundle (to `output`, else .mlci/bundles/<version>)."""
    from mlci.training import train

    root = work_dir(config) / "bundles"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="train-", dir=root)) if output is None else output
    result = train(config, datasets, staging, pr=pr, key=key)
    bundle = result.bundle
    if output is None:
        final = root / bundle.version
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
        bundle.path = final
    return Candidate(bundle=bundle, reused=False, seconds=result.seconds, predictions=result.test_predictions)


def cached_candidate(config: Config, registry: Registry, key: str, aliases: list[str]) -> Bundle | None:
    """Return a stored candidate trained from the same data, config and code, if there is one."""
    seen = set()
    for name in aliases:
        record = registry.alias(name)
        if record is not None:
            seen.add(record.version)
            if registry.manifest(record.version).get("cache_key") == key:
                return resolve_bundle(config, registry, record.version)
    for manifest in registry.versions():
        if manifest.get("version") not in seen and manifest.get("cache_key") == key:
            return resolve_bundle(config, registry, str(manifest["version"]))
    return None


def predict(config: Config, bundle: Bundle, frame: pd.DataFrame) -> Predictions:
    """Return a bundle's predictions on `frame` (labels, and probabilities for classifiers)."""
    from mlci.data import require_columns
    from mlci.training import load_trusted, predictions

    model = load_trusted(config, bundle)
    features = list(bundle.manifest.get("features") or [])
    require_columns(frame, features, uri="the test table", field=f"features of version {bundle.version}")
    return predictions(model, frame[features], str(bundle.manifest.get("task")))


def evaluate(
    config: Config,
    datasets: Datasets,
    candidate: Bundle,
    baseline: Bundle | None,
    *,
    cached: bool = False,
    candidate_predictions: Predictions | None = None,
) -> Comparison:
    """Return the comparison of candidate and baseline on the same test rows, gates applied."""
    from mlci.cache import ResultCache, key_of
    from mlci.evaluation import Comparison

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
    if cached and (hit := cache.get(key)) is not None:
        return Comparison.from_dict(hit)
    comparison = _compare(config, datasets, candidate, baseline, candidate_predictions)
    cache.put(key, comparison.to_dict())
    return comparison


def _compare(
    config: Config,
    datasets: Datasets,
    candidate: Bundle,
    baseline: Bundle | None,
    candidate_predictions: Predictions | None = None,
) -> Comparison:
    from mlci.evaluation import compare

    test = datasets.test
    y = test[datasets.target].to_numpy()
    slices = {c: test[c].to_numpy() for c in config.data.slices if c in test.columns}
    return compare(
        y,
        candidate_predictions or predict(config, candidate, test),
        predict(config, baseline, test) if baseline is not None else None,
        task=config.model.task,
        metrics=config.metrics.names,
        primary=config.metrics.primary,
        gates=config.gates,
        statistics=config.metrics.statistics,
        slices=slices,
    )


def baseline_bundle(config: Config, registry: Registry, ref: str | None) -> Bundle | None:
    """Return the baseline bundle (default: the production alias); None when there is none yet."""
    if ref is None:
        return None
    path = Path(ref)
    if path.exists() or registry.alias(ref) is not None:
        return resolve_bundle(config, registry, ref)
    if ref in ("production", "staging") or ref in config.environments:
        return None  # no model in that environment yet: the first candidate bootstraps it
    return resolve_bundle(config, registry, ref)  # a version id: NotFoundError if unknown


# --- the PR check -------------------------------------------------------------------------


@dataclass
class CheckResult:
    """Everything `mlci check` found, stored and wrote."""

    status: str
    validation: list[ValidationResult]
    candidate: Candidate
    comparison: Comparison
    baseline: Bundle | None
    alias: str
    push: PushResult
    document: dict[str, Any]
    report_path: Path
    comparison_path: Path
    messages: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def check(
    config: Config,
    *,
    baseline: str | None = "production",
    env: Mapping[str, str] | None = None,
    output_dir: Path | None = None,
) -> CheckResult:
    """Validate, train (or reuse), evaluate against the baseline, push under pr-<n>, write the report."""
    from mlci.data import load_datasets
    from mlci.github.context import GitHubContext
    from mlci.training import cache_key

    env = os.environ if env is None else env
    ctx = GitHubContext.from_env(env)
    pr = ctx.pr_number
    alias = f"pr-{pr}" if pr is not None else "candidate"
    messages: list[str] = []
    clock = _Clock()

    with clock("load"):
        datasets = load_datasets(config)
    with clock("validate"):
        validation = validate_datasets(config, datasets, cached=True)
    with clock("train"):
        registry = open_registry(config)
        key = cache_key(config, datasets.fingerprints)
        cached = cached_candidate(config, registry, key, [alias])
        if cached is not None:
            candidate = Candidate(bundle=cached, reused=True, seconds=0.0)
            messages.append(f"train cache hit: reusing version {cached.version} (same data, config and code)")
        else:
            candidate = train_candidate(config, datasets, pr=pr, key=key)
            messages.append(f"trained version {candidate.bundle.version} in {candidate.seconds:.1f}s")
    with clock("evaluate"):
        base = baseline_bundle(config, registry, baseline)
        comparison = evaluate(
            config, datasets, candidate.bundle, base, cached=True, candidate_predictions=candidate.predictions
        )
    status = verdict_of(comparison, validation)
    with clock("push"):
        pushed = store_candidate(
            registry,
            candidate,
            comparison,
            status,
            base,
            alias,
            actor=actor(env),
            action="check",
            pr=pr,
            sha=ctx.head_sha,
        )
    with clock("report"):
        document = report_document(config, comparison, validation, candidate, base, alias, pushed.uri, datasets, env)
        out = output_dir or Path.cwd()
        out.mkdir(parents=True, exist_ok=True)
        comparison_path = out / "comparison.json"
        comparison_path.write_text(json.dumps(document, indent=2) + "\n")
        report_path = out / Path(config.report.output).name
        report_path.write_text(render_report(config, document))
    document["timings"] = clock.timings
    return CheckResult(
        status=status,
        validation=validation,
        candidate=candidate,
        comparison=comparison,
        baseline=base,
        alias=alias,
        push=pushed,
        document=document,
        report_path=report_path,
        comparison_path=comparison_path,
        messages=messages,
        timings=clock.timings,
    )


def verdict_of(comparison: Comparison, validation: list[ValidationResult]) -> str:
    """Return the verdict of a candidate: its gates' verdict, or fail when the data broke its expectations."""
    return "fail" if not all(v.success for v in validation) else comparison.verdict.status


def store_candidate(
    registry: Registry,
    candidate: Candidate,
    comparison: Comparison,
    verdict: str,
    baseline: Bundle | None,
    alias: str,
    *,
    actor: str,
    action: str,
    **event: Any,
) -> PushResult:
    """Push a candidate (its manifest carrying metrics and verdict), point `alias` at it, log the `action`."""
    if not candidate.reused:  # a stored version is immutable; its manifest says what its first check found
        bundle = candidate.bundle
        bundle.manifest["metrics"] = {m.name: m.candidate for m in comparison.metrics}
        bundle.manifest["evaluation"] = {"baseline": baseline.version if baseline else None, "verdict": verdict}
        bundle.write_manifest()
    pushed = registry.push(candidate.bundle.path, actor=actor, reason=f"mlci {action} ({alias})")
    registry.set_alias(alias, pushed.version, actor=actor, reason=f"mlci {action}: {verdict}")
    baseline_version = baseline.version if baseline else None
    registry.log_event(
        action, actor=actor, alias=alias, version=pushed.version, verdict=verdict, baseline=baseline_version, **event
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


def report_document(
    config: Config,
    comparison: Comparison,
    validation: list[ValidationResult],
    candidate: Candidate,
    baseline: Bundle | None,
    alias: str,
    uri: str,
    datasets: Datasets,
    env: Mapping[str, str],
    drift: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the comparison.json document the report is rendered from."""
    from mlci.github.context import GitHubContext
    from mlci.training import library_versions

    ctx = GitHubContext.from_env(env)
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
