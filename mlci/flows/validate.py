"""Validate the data with the expectation suite: on the command line's table, on loaded tables, or beside the fit.

Results of a suite on a file's bytes are cached locally (`.mlci/cache`); tables in an engine
are validated there, whole, and never cached.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.errors import CheckFailed, ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from mlci.config.schema import Config, TableSource
    from mlci.contracts.document import ReportDocument
    from mlci.contracts.validation import ValidationResult
    from mlci.data.background import BackgroundValidation
    from mlci.data.tables import Datasets
    from mlci.github.context import GitHubContext


def shown(config: Config, results: list[ValidationResult]) -> list[ValidationResult]:
    """Return the results naming their suite and tables relative to the project (never a runner's absolute path)."""
    from dataclasses import replace

    from mlci._internal.files import shown_path

    base = config.base_dir
    # Every result is of this config's suite; one read from the local cache may have been written
    # by a copy of the project elsewhere (same bytes, same key): it is named as this config names it.
    suite = shown_path(config.locate(config.expectations.suite), base) if config.expectations else None
    return [replace(r, suite=suite or shown_path(r.suite, base), table=shown_path(r.table, base)) for r in results]


def validate_data(config: Config, which: TableSource | None = None) -> list[ValidationResult]:
    """Return the suite's result on each table: the configured ones, `train`, `test`, a path or an engine table."""
    return shown(config, _validate_data(config, which))


def _validate_data(config: Config, which: TableSource | None = None) -> list[ValidationResult]:
    from mlci.data.tables import confinement, load_datasets, read_table, s3_options
    from mlci.data.validation import validate

    if config.expectations is None:
        raise ConfigError(f"{config.path}: no 'expectations' section", hint="add expectations.suite: PATH")
    suite = config.locate(config.expectations.suite)
    if which is not None and which not in ("train", "test"):
        from mlci.data.engines import open_table, parse_source

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
    from mlci.data.engines import is_engine, open_table

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
    from mlci._internal.cache import key_of
    from mlci._internal.files import sha256_file

    table = datasets.sources.get(name, name)
    # The data fingerprint names the table's bytes; a split table adds its split rule.
    data = {k: v for k, v in datasets.fingerprints.items() if k in (name, "table", "split")}
    return key_of("validation", table=table, name=name, data=data, suite=sha256_file(suite))


def validate_datasets(
    config: Config, datasets: Datasets, names: list[str] | None = None, *, cached: bool = False
) -> list[ValidationResult]:
    """Return the suite's result on already loaded train/test tables (from the local cache when `cached`)."""
    from mlci._internal.cache import ResultCache
    from mlci._internal.serial import to_data
    from mlci.contracts.validation import ValidationResult
    from mlci.data.validation import validate

    if config.expectations is None:
        return []
    suite = config.locate(config.expectations.suite)
    chosen = names or list(config.expectations.tables)
    cache = ResultCache(config.work_dir / "cache")
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
            hit = cache.get_as(key, ValidationResult)
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
        from mlci._internal.cache import ResultCache
        from mlci._internal.serial import to_data

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
    config: Config,
    datasets: Datasets,
    before_worker: Callable[[], None] | None = None,
    *,
    names: list[str] | None = None,
    cached: bool = True,
) -> PendingValidation:
    """Return the validation of `names` (default: expectations.tables): cache hits at once (with `cached`),
    the rest validated here when small, else started in a worker process beside the fit.

    `before_worker` runs just before a worker is started beside the fit (the CLI uses it to
    make OpenMP's idle threads yield their core to the worker; see `mlci.cli.app.check`).

    Tables in an engine (SQL, Spark) are validated here, in their engine, before the fit: their
    connection cannot move to another process, and the work runs in the engine anyway.
    """
    from mlci._internal.cache import ResultCache
    from mlci.contracts.validation import ValidationResult
    from mlci.data.background import BackgroundValidation

    cache_dir = config.work_dir / "cache"
    if config.expectations is None:
        return PendingValidation([], {}, {}, None, cache_dir)
    suite = Path(config.locate(config.expectations.suite))
    chosen = names or list(config.expectations.tables)
    names = []
    cache = ResultCache(cache_dir)
    ready: dict[str, ValidationResult] = {}
    keys: dict[str, str] = {}
    jobs: list[tuple[str, str, pd.DataFrame]] = []
    in_engine: set[str] = set()
    for name in chosen:
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
            hit = cache.get_as(keys[name], ValidationResult) if cached else None
            if hit is not None:
                ready[name] = hit
                continue
        frame = datasets.train if name == "train" else datasets.test
        jobs.append((name, datasets.sources.get(name, name), frame))
    if jobs and validate_here(jobs):
        from mlci._internal.serial import to_data
        from mlci.data.validation import validate

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


class DataFailed(CheckFailed):
    """The data broke a critical expectation, so the check stopped before evaluating a candidate.

    It carries the check's report document (verdict fail, the data validation stage first) and
    where its report was written, so the CLI can still post the comment, status and outputs.
    """

    def __init__(self, failure: CheckFailed, document: ReportDocument, report_path: Path) -> None:
        super().__init__(failure.message, problems=failure.problems, hint=failure.hint)
        self.document = document
        self.report_path = report_path


def stopped_document(
    config: Config, validation: list[ValidationResult], datasets: Datasets, ctx: GitHubContext, stopped: bool
) -> ReportDocument:
    """Return the document of a check the data stopped: no candidate, no comparison, verdict fail."""
    from mlci.contracts.document import DataRef, report_document

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


def data_failure(validation: list[ValidationResult], stopped: bool) -> CheckFailed:
    """Return the error of a check whose data broke its expectations: one line per failed expectation."""
    failed = [v for v in validation if v.critical_failures]
    summary = ", ".join(f"{v.table}: {v.failed} of {v.evaluated} expectations failed" for v in failed)
    what = "training stopped" if stopped else "the candidate was not evaluated"
    problems = [f"  {v.table}: {f.describe()}" for v in failed for f in v.failures]
    return CheckFailed(
        f"the data broke its expectations ({summary}); {what}",
        problems=problems,
        hint="fix the data or the suite, then re-run; `mlci validate` shows the same findings",
    )
