"""`mlci init`: write mlci.yaml, an expectation suite drawn from the data, the workflows and a .gitignore."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci._internal.serial import plain
from mlci.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from mlci.contracts.validation import ValidationResult
    from mlci.data.features import FeatureKinds

MAX_SET = 20  # a categorical column with at most this many values gets an in-set expectation
TARGET_GUESSES = ("target", "label", "y", "class", "outcome")
# Ranges: from the 0.1% to the 99.9% quantile of the data init saw, widened by a tenth of
# that span on each side, and `mostly` 0.99 so a few rows beyond still pass. The exact
# extremes of a sample say little about the next file; these bounds catch a unit change or
# a broken join without failing on the next outlier.
QUANTILES = (0.001, 0.999)
WIDEN = 0.1
MOSTLY = 0.99
# The variables the shipped workflows set for the mlci step (workflows/*.yml), read by the
# registry section init writes.
REGISTRY_VARIABLES = ("MLCI_REGISTRY", "MLCI_PUBLIC_REGISTRY", "S3_ENDPOINT_URL")
GITIGNORE = (".mlci/", "report.md", "comparison.json")


@dataclass
class Scaffold:
    """The files `mlci init` wrote, what it guessed, and the suite's first run on the data."""

    directory: Path
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    validation: list[ValidationResult] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(v.success for v in self.validation)


def workflows_dir() -> Path:
    """Return the directory of mlci's example workflows (source checkout or installed wheel)."""
    package = Path(__file__).resolve().parents[1]  # mlci/
    for candidate in (package / "_workflows", package.parent / "workflows"):
        if candidate.is_dir():
            return candidate
    raise DataError("mlci's example workflows are missing from this installation")


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "model"
    return slug[:64]


def _columns_text(frame: pd.DataFrame, limit: int = 20) -> str:
    names = [str(c) for c in frame.columns]
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def choose_target(frame: pd.DataFrame, uri: str, target: str | None) -> tuple[str, str | None]:
    """Return the target column and a note on how it was chosen; UsageError with the columns when none fits."""
    from mlci.data.features import column_kind

    if target is not None:
        if target not in frame.columns:
            raise UsageError(f"--target '{target}': {uri} has no such column; its columns: {_columns_text(frame)}")
        return target, None
    lowered = {str(c).lower(): str(c) for c in frame.columns}
    for name in TARGET_GUESSES:
        if name in lowered:
            return lowered[name], f"target '{lowered[name]}' chosen by its name; pass --target to choose another"
    last = str(frame.columns[-1])
    if len(frame.columns) > 1 and column_kind(frame[last]) in ("numeric", "boolean", "categorical"):
        return last, f"target '{last}' is the last column; pass --target to choose another"
    raise UsageError(
        f"{uri}: no column looks like the target; name it with --target COLUMN (columns: {_columns_text(frame)})"
    )


def guess_task(series: pd.Series) -> str:
    """Return classification for labels (strings, booleans, or at most 10 distinct numbers), else regression."""
    values = series.dropna()
    numeric = values.dtype.kind in "fiu"
    return "classification" if not numeric or values.nunique() <= 10 else "regression"


def guess_id(frames: list[pd.DataFrame], name: str, target: str) -> str | None:
    """Return the identifier column: named id, <model>_id or *_id, and unique in every table."""
    for c in frames[0].columns:
        low = str(c).lower()
        named = low in ("id", f"{name}_id") or low.endswith("_id")
        if c != target and named and all(c in f.columns and f[c].is_unique for f in frames):
            return str(c)
    return None


def _range(values: pd.Series, integer: bool) -> tuple[float, float]:
    lo, hi = (float(q) for q in values.quantile(list(QUANTILES)))
    span = hi - lo
    margin = WIDEN * span if span > 0 else max(abs(lo) * WIDEN, 1.0)
    low, high = lo - margin, hi + margin
    if float(values.min()) >= 0:
        low = max(low, 0.0)  # non-negative data (counts, amounts) stays non-negative
    if integer:
        return float(math.floor(low)), float(math.ceil(high))
    return float(f"{low:.6g}"), float(f"{high:.6g}")


def build_suite(
    frames: list[pd.DataFrame],
    name: str,
    kinds: FeatureKinds,
    *,
    target: str,
    task: str,
    id_column: str | None,
) -> dict[str, Any]:
    """Return a GX 1.x suite (as JSON) that every table in `frames` meets with room to spare, for the user to edit."""
    import great_expectations as gx
    import pandas as pd

    from mlci.data.features import column_kind

    E = gx.expectations
    columns = [str(c) for c in frames[0].columns]
    exps: list[Any] = [E.ExpectTableRowCountToBeBetween(min_value=1)]
    exps.append(E.ExpectTableColumnsToMatchSet(column_set=columns, exact_match=False))
    for col in columns:
        present = [f[col] for f in frames if col in f.columns]
        nulls = max(float(s.isna().mean()) for s in present)
        if nulls == 0:
            exps.append(E.ExpectColumnValuesToNotBeNull(column=col))
        elif nulls < 0.9:
            # A little more missingness than the data shows, rounded down to a percent.
            mostly = math.floor((1 - min(1.0, nulls * 1.5 + 0.01)) * 100) / 100
            exps.append(E.ExpectColumnValuesToNotBeNull(column=col, mostly=mostly))
        values = pd.concat([s.dropna() for s in present], ignore_index=True)
        if values.empty:
            continue
        kind = kinds.kinds.get(col) or column_kind(values)
        if col == id_column or (kind == "identifier" and all(s.dropna().is_unique for s in present)):
            exps.append(E.ExpectColumnValuesToBeUnique(column=col))
        elif kind == "boolean":
            exps.append(E.ExpectColumnValuesToBeInSet(column=col, value_set=[True, False]))
        elif col == target and task == "classification":
            labels = _sorted(values.unique().tolist())
            exps.append(E.ExpectColumnValuesToBeInSet(column=col, value_set=[plain(v) for v in labels]))
        elif kind == "numeric" and pd.api.types.is_numeric_dtype(values):
            integer = pd.api.types.is_integer_dtype(values) or bool((values == values.round()).all())
            low, high = _range(values.astype("float64"), integer)
            exps.append(E.ExpectColumnValuesToBeBetween(column=col, min_value=low, max_value=high, mostly=MOSTLY))
        elif kind == "datetime" and not pd.api.types.is_datetime64_any_dtype(values):
            # Dates read as text (CSV). A datetime64 column (Parquet) gets none: GX compares its
            # min and max with string bounds and fails.
            # The dates seen, with room for as much future again: fresh rows are later, but not
            # decades later (a unit or parsing error), nor earlier than the history.
            stamps = pd.to_datetime(
                values, errors="coerce", utc=True, format="ISO8601" if values.dtype == object else None
            )
            low, high = stamps.min(), stamps.max()
            if pd.notna(low) and pd.notna(high):
                # GX compares dates as a column's min and max (a per-row "between" refuses strings).
                span = max(high - low, pd.Timedelta(days=365))
                bounds = {"min_value": (low - span / 10).strftime("%Y-%m-%d")}
                exps.append(E.ExpectColumnMinToBeBetween(column=col, **bounds, max_value=high.strftime("%Y-%m-%d")))
                exps.append(
                    E.ExpectColumnMaxToBeBetween(
                        column=col, min_value=low.strftime("%Y-%m-%d"), max_value=(high + span).strftime("%Y-%m-%d")
                    )
                )
        elif kind == "categorical":
            distinct = sorted(values.astype(str).unique().tolist())
            if len(distinct) <= MAX_SET:
                exps.append(E.ExpectColumnValuesToBeInSet(column=col, value_set=distinct))
    suite = gx.ExpectationSuite(name=name, expectations=exps)
    data: dict[str, Any] = suite.to_json_dict()
    return data


def _sorted(values: list[Any]) -> list[Any]:
    """Return labels in the order evaluation sorts them (numbers as numbers), by text when types mix."""
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


#: The roc_auc non-inferiority margin `mlci init` writes.
MARGIN = 0.01
# What init assumes of models it has not seen, to say what a test set can resolve: an AUC of
# 0.85 (Hanley & McNeil's variance) and a correlation of 0.5 between the two models' AUCs,
# so the paired difference has the variance of one AUC. A rough planning figure, said as such.
PLANNING_AUC, PLANNING_CORRELATION = 0.85, 0.5


def resolvable_auc_change(rows: int, minority: float, confidence: float = 0.95) -> float:
    """Return about what roc_auc change `rows` test rows resolve (the half-width of the paired interval)."""
    from scipy import stats

    a = PLANNING_AUC
    m = max(1.0, rows * minority)
    k = max(1.0, rows - m)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (m - 1) * (q1 - a * a) + (k - 1) * (q2 - a * a)) / (m * k)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    return z * math.sqrt(2 * (1 - PLANNING_CORRELATION) * var)


def margin_warning(rows: int, minority: float, margin: float) -> str | None:
    """Return a warning when `rows` test rows likely cannot resolve `margin` (with the rows that would), else None."""
    half = resolvable_auc_change(rows, minority)
    if half <= margin:
        return None
    needed = math.ceil(rows * (half / margin) ** 2 / 10) * 10
    return (
        f"warning: {rows:,} test rows likely resolve roc_auc changes of only about ±{half:.3g}, wider than the "
        f"margin {margin:g} written to mlci.yaml; about {needed:,} test rows would resolve it (until then, checks "
        "will fail as inconclusive unless you widen non_inferiority_margin)"
    )


def gates_text(task: str, n_classes: int) -> tuple[str, str, str]:
    """Return (primary metric, other metrics, gates YAML) that make sense for the task."""
    if task == "regression":
        return (
            "rmse",
            "[mae, r2]",
            """  # The candidate's rmse may exceed production's by at most 2% of production's rmse,
  # with 95% confidence: a relative margin, because rmse is in the target's units.
  - metric: rmse
    relative_non_inferiority_margin: 0.02
""",
        )
    averaged = "" if n_classes == 2 else " (one-vs-rest, averaged over the classes)"
    return (
        "roc_auc",
        "[accuracy, log_loss]",
        f"""  # The candidate's roc_auc{averaged} may be lower than production's by at most 0.01
  # (on its 0-1 scale), with 95% confidence.
  - metric: roc_auc
    non_inferiority_margin: {MARGIN}
""",
    )


def _config_text(
    name: str,
    tables: dict[str, str],
    target: str,
    task: str,
    n_classes: int,
    id_column: str | None,
    suite: str,
    kinds: FeatureKinds,
    read_options: dict[str, str],
    positive: Any = None,
    split_by: str | None = None,
) -> str:
    estimator = f"sklearn.ensemble.HistGradientBoosting{'Classifier' if task == 'classification' else 'Regressor'}"
    primary, others, gates = gates_text(task, n_classes)
    if "test" in tables:
        where = f"  train: {json.dumps(tables['train'])}\n  test: {json.dumps(tables['test'])}\n"
    else:
        where = f"  table: {json.dumps(tables['train'])}\n  split: {{test_size: 0.25, seed: 0}}\n"
        if split_by is not None:
            where = (
                f"  table: {json.dumps(tables['train'])}\n"
                f"  # By time: the latest 25% of rows (by {split_by}) are the test set, so no future row\n"
                "  # leaks into training. Remove `by` for a random split.\n"
                f"  split: {{by: {json.dumps(split_by)}, test_size: 0.25}}\n"
            )
    if read_options:
        where += f"  read_options: {json.dumps(read_options)}\n"
    lines = [f"  target: {json.dumps(target)}"]
    if id_column:
        lines.append(f"  id: {json.dumps(id_column)}")
    if positive is not None:
        lines.append(
            f"  positive_class: {json.dumps(positive)}   # the default: the last of the two labels in sort order"
        )
    for note in kinds.notes():
        lines.append(f"  # {note}")
    if kinds.excluded:
        lines.append(f"  features: {json.dumps(kinds.used)}")
    lines.append("  # slices: [segment]   # categorical columns to report (and gate) per category")
    return f"""# mlci configuration. Reference: https://github.com/mlci-dev/mlci/blob/main/docs/config.md
version: 1

model:
  name: {name}
  task: {task}
  estimator: {estimator}
  params: {{}}

data:
{where}{chr(10).join(lines)}

expectations:
  suite: {suite}

metrics:
  primary: {primary}
  others: {others}

gates:
{gates}
registry:
  # Locally a directory; in CI the shipped workflows pass the repository variable
  # MLCI_REGISTRY (s3://bucket/prefix) and the secret S3_ENDPOINT_URL (empty for AWS),
  # so every PR is compared with the model your merges promoted.
  uri: ${{MLCI_REGISTRY:-.mlci/registry}}
  # Fork PRs get no credentials: they read the baseline from this copy anyone may read
  # (repository variable MLCI_PUBLIC_REGISTRY) and store nothing; unset, they have none.
  public_uri: ${{MLCI_PUBLIC_REGISTRY:-}}
  endpoint_url: ${{S3_ENDPOINT_URL:-}}
"""


def _gitignore(directory: Path) -> tuple[Path, str] | None:
    path = directory / ".gitignore"
    current = path.read_text() if path.exists() else ""
    have = {line.strip() for line in current.splitlines()}
    missing = [entry for entry in GITIGNORE if entry not in have]
    if not missing:
        return None
    sep = "" if not current or current.endswith("\n") else "\n"
    return path, current + sep + "# mlci: local registry and work files, report and comparison\n" + "\n".join(
        missing
    ) + "\n"


def _relative(path: str, directory: Path) -> str:
    if "://" in path:
        return path
    try:
        return str(Path(path).resolve().relative_to(directory.resolve()))
    except ValueError:
        return str(Path(path).resolve())


def init(
    directory: Path,
    data: str | None,
    target: str | None,
    *,
    force: bool,
    test: str | None = None,
    read_options: dict[str, Any] | None = None,
) -> Scaffold:
    """Write mlci.yaml, expectations/<model>.json, .github/workflows/ and .gitignore; run the suite once."""
    from mlci.data.features import feature_kinds
    from mlci.data.tables import read_table, sniff_csv
    from mlci.data.validation import validate

    result = Scaffold(directory)
    name = _slug(directory.resolve().name)
    if data is None:
        raise UsageError("mlci init needs a sample of your data: mlci init --data data/train.csv")
    options = dict(read_options or {})
    if not options and data.lower().endswith((".csv", ".csv.gz", ".txt")) and Path(data).is_file():
        with open(data, "rb") as f:
            options = sniff_csv(f.read(65536), data.lower())
    train = read_table(data, options=options)
    tables = {"train": train}
    if test is not None:
        tables["test"] = read_table(test, options=options)
    target, how = choose_target(train.frame, data, target)
    if how:
        result.notes.append(how)
    for table in tables.values():
        if target not in table.frame.columns:
            raise DataError(f"{table.uri}: no column '{target}'; its columns: {_columns_text(table.frame)}")
    frames = [t.frame for t in tables.values()]
    task = guess_task(train.frame[target])
    n_classes = int(train.frame[target].nunique()) if task == "classification" else 0
    id_column = guess_id(frames, name, target)
    labels = _sorted(train.frame[target].dropna().unique().tolist()) if n_classes == 2 else []
    positive = plain(labels[-1]) if labels else None
    kinds = feature_kinds(train.frame, [str(c) for c in train.frame.columns if c not in (target, id_column)])
    suite_rel = f"expectations/{name}.json"
    paths = {k: _relative(t.uri, directory) for k, t in tables.items()}
    dates = kinds.of("datetime")
    split_by = dates[0] if dates and "test" not in tables else None
    if split_by is not None:
        result.notes.append(
            f"data.split.by: {split_by} — the latest 25% of rows by '{split_by}' are the test set, so no future "
            "row leaks into training (a random split would)"
        )
    test_rows = len(tables["test"].frame) if "test" in tables else math.ceil(len(train.frame) * 0.25)
    if task == "classification":
        counts = train.frame[target].value_counts()
        warning = margin_warning(test_rows, float(counts.min() / counts.sum()), MARGIN)
        if warning:
            result.notes.append(warning)
    files: dict[Path, str] = {
        directory / "mlci.yaml": _config_text(
            name, paths, target, task, n_classes, id_column, suite_rel, kinds, options, positive, split_by
        ),
        directory / suite_rel: json.dumps(
            build_suite(frames, name, kinds, target=target, task=task, id_column=id_column), indent=2
        )
        + "\n",
    }
    for workflow in sorted(workflows_dir().glob("*.yml")):
        files[directory / ".github" / "workflows" / workflow.name] = workflow.read_text()
    existing = [p for p in files if p.exists()]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing[:4]) + (" ..." if len(existing) > 4 else "")
        raise UsageError(f"mlci init would overwrite {shown}", hint="pass --force to overwrite")
    ignore = _gitignore(directory)  # added to, never overwritten: no --force needed
    if ignore is not None:
        files[ignore[0]] = ignore[1]
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        result.written.append(path)
    result.notes.append(f"task guessed as {task} from target '{target}'; check mlci.yaml")
    result.notes.extend(kinds.notes())
    for key, table in tables.items():
        result.validation.append(validate(table.frame, directory / suite_rel, table=f"{key} ({table.uri})"))
    return result
