"""Run a Great Expectations 1.x suite (GX's own JSON format) against a table."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci._internal.nesting import read_json_file
from mlci._internal.serial import plain
from mlci._internal.text import first_line
from mlci.contracts.validation import ExpectationFailure, ValidationResult
from mlci.errors import SuiteError

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_VALUES = 5


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _expectation_lines(text: str) -> list[int]:
    """Return the 1-based line of each `"type": "expect_..."` in the suite file, in order."""
    lines = []
    for m in re.finditer(r'"(?:type|expectation_type)"\s*:\s*"expect_', text):
        lines.append(text.count("\n", 0, m.start()) + 1)
    return lines


def load_suite(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[int]]:
    """Return the suite JSON in `path` (checked expectation by expectation) and each one's line."""
    p = Path(path)
    data, text = read_json_file(
        p, SuiteError, missing="no such expectation suite", hint="check expectations.suite in mlci.yaml"
    )
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise SuiteError(f"{p}: not a GX expectation suite (expected an object with an 'expectations' list)")
    lines = _expectation_lines(text)
    if _is_gx0(data):
        data = _from_gx0(p, data, lines)
    for i, exp in enumerate(data["expectations"]):
        _check_expectation(p, i, exp, lines[i] if i < len(lines) else None)
    return data, lines


# GX 0.x wrote `expectation_type` and `expectation_suite_name`, and per-expectation result
# options inside kwargs; GX 1.x reads `type` and `name`, and refuses those kwargs.
_GX0_KWARGS = ("result_format", "include_config", "catch_exceptions")
_GX0_TOP = ("expectation_suite_name", "data_asset_type", "ge_cloud_id")
GX0_STEP = (
    'rename "expectation_suite_name" to "name" and every "expectation_type" to "type", '
    'delete "data_asset_type", "ge_cloud_id" and the kwargs result_format, include_config and catch_exceptions'
)


def _is_gx0(data: dict[str, Any]) -> bool:
    exps = data["expectations"]
    return any(k in data for k in _GX0_TOP) or any(isinstance(e, dict) and "expectation_type" in e for e in exps)


def _from_gx0(path: Path, data: dict[str, Any], lines: list[int]) -> dict[str, Any]:
    """Return a GX 0.x suite in GX 1.x's shape; SuiteError with the exact conversion step when that is not enough."""
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    out = {k: v for k, v in data.items() if k not in _GX0_TOP}
    out.setdefault("name", data.get("expectation_suite_name") or path.stem)
    converted = []
    for i, exp in enumerate(data["expectations"]):
        if not isinstance(exp, dict):
            converted.append(exp)
            continue
        new = {k: v for k, v in exp.items() if k not in ("expectation_type", "ge_cloud_id")}
        new["type"] = exp.get("type", exp.get("expectation_type"))
        if isinstance(exp.get("kwargs"), dict):
            new["kwargs"] = {k: v for k, v in exp["kwargs"].items() if k not in _GX0_KWARGS}
        try:
            ExpectationConfiguration(type=new["type"], kwargs=new.get("kwargs", {})).to_domain_obj()
        except ExpectationNotFoundError:
            line = lines[i] if i < len(lines) else None
            raise SuiteError(
                f"{path}{f':{line}' if line else ''} expectations[{i}]: this GX 0.x suite uses "
                f"'{new['type']}', which GX 1.x no longer has",
                hint=f"replace or delete it, then {GX0_STEP}",
            ) from None
        except Exception:
            pass  # a kwargs problem: _check_expectation names it with its line
        converted.append(new)
    out["expectations"] = converted
    out["_mlci_gx0"] = True
    return out


def _check_expectation(path: Path, index: int, exp: Any, line: int | None) -> None:
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    where = f"{path}:{line}" if line else str(path)
    if not isinstance(exp, dict):
        raise SuiteError(f"{where} expectations[{index}]: expected an object with 'type' and 'kwargs'")
    etype = exp.get("type", exp.get("expectation_type"))
    if not isinstance(etype, str):
        raise SuiteError(f"{where} expectations[{index}]: missing 'type' (e.g. 'expect_column_values_to_not_be_null')")
    kwargs = exp.get("kwargs", {})
    if not isinstance(kwargs, dict):
        raise SuiteError(f"{where} expectations[{index}] {etype}: 'kwargs' must be an object")
    try:
        ExpectationConfiguration(type=etype, kwargs=kwargs).to_domain_obj()
    except ExpectationNotFoundError:
        raise SuiteError(
            f"{where} expectations[{index}]: unknown expectation type '{etype}'",
            hint="see the GX expectation gallery for valid names",
        ) from None
    except Exception as e:  # GX validates kwargs with pydantic v1; turn its report into one line
        raise SuiteError(f"{where} expectations[{index}] {etype}: {_pydantic_v1_summary(e)}") from None


def _pydantic_v1_summary(e: Exception) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        try:
            parts = []
            for err in errors():
                loc = ".".join(str(x) for x in err.get("loc", ()))
                msg = "missing argument" if err.get("type") == "value_error.missing" else err.get("msg", "")
                parts.append(f"'{loc}': {msg}" if loc else msg)
            if parts:
                return "; ".join(parts)
        except Exception:
            pass
    return str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__


def _index_by_content(cfg: Any, expectations: list[Any], fallback: int) -> int:
    """Return the index of the expectation with `cfg`'s type and kwargs (for results without an id)."""
    kwargs = {k: v for k, v in dict(cfg.kwargs).items() if k != "batch_id"}
    for i, e in enumerate(expectations):
        config = e.configuration
        if config.type == cfg.type and {k: v for k, v in dict(config.kwargs).items() if k != "batch_id"} == kwargs:
            return i
    return fallback


def _gx_context() -> Any:
    # analytics_enabled=False below is what GX reads; its GX_ANALYTICS_ENABLED variable is only
    # the fallback when the config leaves it unset, so mlci need not touch the environment.
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def validate(frame: pd.DataFrame, suite_path: str | os.PathLike[str], *, table: str = "table") -> ValidationResult:
    """Return the result of the suite in `suite_path` on `frame`, run in an ephemeral GX context."""

    def batch(context: Any) -> tuple[Any, dict[str, Any]]:
        source = context.data_sources.add_pandas("mlci")
        return source.add_dataframe_asset(name="table").add_batch_definition_whole_dataframe("all"), {
            "dataframe": frame
        }

    return run_suite(suite_path, batch, table=table, rows=lambda: len(frame))


def run_suite(
    suite_path: str | os.PathLike[str],
    batch: Callable[[Any], tuple[Any, dict[str, Any] | None]],
    *,
    table: str,
    rows: Callable[[], int],
) -> ValidationResult:
    """Return the result of the suite on the batch `batch(context)` defines: (batch definition, batch parameters).

    The batch may live in pandas, a SQL database or Spark; GX runs the expectations where it lives
    and hands back only metrics and up to SAMPLE_VALUES failing values per expectation.
    """
    import great_expectations as gx

    started = time.perf_counter()
    data, lines = load_suite(suite_path)
    context = _gx_context()
    suite_args = {k: v for k, v in data.items() if k in ("name", "expectations", "meta", "notes")}
    suite_args.setdefault("name", Path(suite_path).stem)
    # GX records the name only; an id from an exported suite would clash with nothing here, so drop it.
    suite = context.suites.add(gx.ExpectationSuite(**suite_args))
    batch_definition, parameters = batch(context)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="mlci", data=batch_definition, suite=suite)
    )
    result = definition.run(
        batch_parameters=parameters,
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_VALUES},
    )
    # GX's SQL and Spark engines return results grouped by metric, not in suite order: map each
    # back to its index in the file by the id GX gave the expectation when the suite was added.
    index_of = {str(e.id): i for i, e in enumerate(suite.expectations) if e.id is not None}
    failures = []
    for position, r in enumerate(result.results):
        if r.success:
            continue
        cfg = r.expectation_config
        index = index_of.get(str(cfg.id), _index_by_content(cfg, suite.expectations, position))
        kwargs = {k: v for k, v in dict(cfg.kwargs).items() if k != "batch_id"}
        res = dict(r.result or {})
        exc = r.exception_info or {}
        error = None
        if isinstance(exc, dict) and exc.get("raised_exception"):
            error = first_line(str(exc.get("exception_message") or "exception"))
        failures.append(
            ExpectationFailure(
                index=index,
                type=cfg.type,
                column=kwargs.get("column"),
                kwargs=plain(kwargs),
                observed=plain(res.get("observed_value")),
                unexpected_count=res.get("unexpected_count"),
                unexpected_percent=res.get("unexpected_percent"),
                sample_values=plain(list(res.get("partial_unexpected_list") or [])[:SAMPLE_VALUES]),
                line=lines[index] if index < len(lines) else None,
                error=error,
                severity=str(getattr(cfg.severity, "value", cfg.severity) or "critical"),
            )
        )
    failures.sort(key=lambda f: f.index)
    # Column expectations report the table's row count; ask the engine only when none did.
    counted = [r.result["element_count"] for r in result.results if r.result and "element_count" in r.result]
    stats = result.statistics
    notes = [f"{suite_path} is a GX 0.x suite, converted in memory; to convert the file, {GX0_STEP}"]
    return ValidationResult(
        notes=notes if data.get("_mlci_gx0") else [],
        suite=str(suite_path),
        suite_name=suite.name,
        table=table,
        rows=int(counted[0]) if counted else rows(),
        evaluated=int(stats["evaluated_expectations"]),
        failed=int(stats["unsuccessful_expectations"]),
        failures=failures,
        seconds=time.perf_counter() - started,
    )
