"""`mlci init`: write mlci.yaml, an expectation suite drawn from the data, and the workflows."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_ROWS = 10_000
MAX_SET = 20  # a column with at most this many distinct values gets an in-set expectation
TARGET_GUESSES = ("target", "label", "y", "class", "outcome")


@dataclass
class Scaffold:
    """The files `mlci init` wrote."""

    directory: Path
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def workflows_dir() -> Path:
    """Return the directory of mlci's example workflows (source checkout or installed wheel)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_workflows", here.parent / "workflows"):
        if candidate.is_dir():
            return candidate
    raise DataError("mlci's example workflows are missing from this installation")


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "model"
    return slug[:64]


def guess_target(frame: pd.DataFrame) -> str:
    """Return the likeliest target column: a conventional name, else the last column."""
    lowered = {str(c).lower(): str(c) for c in frame.columns}
    for name in TARGET_GUESSES:
        if name in lowered:
            return lowered[name]
    return str(frame.columns[-1])


def build_suite(frame: pd.DataFrame, name: str) -> dict[str, Any]:
    """Return a GX 1.x suite (as JSON) of expectations that `frame` meets, for the user to edit."""
    import great_expectations as gx
    import pandas as pd

    E = gx.expectations
    exps: list[Any] = [E.ExpectTableRowCountToBeBetween(min_value=1)]
    exps.append(E.ExpectTableColumnsToMatchSet(column_set=[str(c) for c in frame.columns], exact_match=False))
    for col in frame.columns:
        column = frame[col]
        name_ = str(col)
        nulls = float(column.isna().mean())
        if nulls == 0:
            exps.append(E.ExpectColumnValuesToNotBeNull(column=name_))
        elif nulls < 0.5:
            # Allow a little more missingness than the sample shows, rounded down to a percent.
            exps.append(
                E.ExpectColumnValuesToNotBeNull(column=name_, mostly=max(0.0, round(1 - nulls * 1.5 - 0.005, 2)))
            )
        values = column.dropna()
        if values.empty:
            continue
        if pd.api.types.is_bool_dtype(column):
            exps.append(E.ExpectColumnValuesToBeInSet(column=name_, value_set=[True, False]))
        elif pd.api.types.is_numeric_dtype(column):
            lo, hi = float(values.min()), float(values.max())
            exps.append(E.ExpectColumnValuesToBeBetween(column=name_, min_value=lo, max_value=hi))
            distinct = values.unique()
            if len(distinct) <= MAX_SET and pd.api.types.is_integer_dtype(values):
                exps.append(E.ExpectColumnValuesToBeInSet(column=name_, value_set=sorted(int(v) for v in distinct)))
        else:
            distinct = values.astype(str).unique()
            if len(distinct) <= MAX_SET:
                exps.append(E.ExpectColumnValuesToBeInSet(column=name_, value_set=sorted(distinct.tolist())))
            elif values.is_unique and len(values) == len(column):
                exps.append(E.ExpectColumnValuesToBeUnique(column=name_))
    suite = gx.ExpectationSuite(name=name, expectations=exps)
    data: dict[str, Any] = suite.to_json_dict()
    return data


def _config_text(
    name: str, data_path: str, target: str, task: str, id_column: str | None, suite: str, features: list[str] | None
) -> str:
    if task == "classification":
        estimator, metrics = "sklearn.ensemble.HistGradientBoostingClassifier", ("roc_auc", "[accuracy, log_loss]")
    else:
        estimator, metrics = "sklearn.ensemble.HistGradientBoostingRegressor", ("rmse", "[mae, r2]")
    id_line = f"  id: {json.dumps(id_column)}\n" if id_column else ""
    if features is not None:
        id_line += "  # Unique text columns (identifiers, e-mails) are left out of the features.\n"
        id_line += f"  features: {json.dumps(features)}\n"
    return f"""# mlci configuration. Reference: https://github.com/mlci-dev/mlci/blob/main/docs/config.md
version: 1

model:
  name: {name}
  task: {task}
  estimator: {estimator}
  params: {{}}

data:
  table: {json.dumps(data_path)}
  split: {{test_size: 0.25, seed: 0}}
  target: {json.dumps(target)}
{id_line}  # slices: [segment]   # categorical columns to report (and gate) per category

expectations:
  suite: {suite}

metrics:
  primary: {metrics[0]}
  others: {metrics[1]}

gates:
  # The candidate may be worse than production by at most this much, with 95% confidence.
  - metric: {metrics[0]}
    non_inferiority_margin: 0.01

registry:
  # A directory (the default) or s3://bucket/prefix with endpoint_url for S3-compatible stores.
  uri: ${{MLCI_REGISTRY:-.mlci/registry}}
"""


def init(directory: Path, data: str | None, target: str | None, *, force: bool) -> Scaffold:
    """Write mlci.yaml, expectations/<model>.json and .github/workflows/ into `directory`."""
    from mlci.data import read_table

    result = Scaffold(directory)
    name = _slug(directory.resolve().name)
    if data is None:
        raise UsageError("mlci init needs a sample of your data: mlci init --data data/train.csv")
    table = read_table(data)
    frame = table.frame.head(SAMPLE_ROWS)
    target = target or guess_target(frame)
    if target not in frame.columns:
        raise DataError(f"{data}: no column '{target}' to predict", hint="pass --target COLUMN")
    series = frame[target].dropna()
    numeric = series.dtype.kind in "fiu"
    task = "classification" if not numeric or series.nunique() <= 10 else "regression"
    id_column = next(
        (str(c) for c in frame.columns if str(c).lower() in ("id", f"{name}_id") or str(c).lower().endswith("_id")),
        None,
    )
    if id_column is not None and not frame[id_column].is_unique:
        id_column = None
    identifiers = [
        str(c)
        for c in frame.columns
        if c not in (target, id_column) and frame[c].dtype.kind not in "fiub" and frame[c].dropna().is_unique
    ]
    features = [str(c) for c in frame.columns if c not in (target, id_column, *identifiers)] if identifiers else None
    try:
        data_path = str(Path(data).resolve().relative_to(directory.resolve()))
    except ValueError:
        data_path = str(Path(data).resolve())
    suite_rel = f"expectations/{name}.json"

    files: dict[Path, str] = {
        directory / "mlci.yaml": _config_text(name, data_path, target, task, id_column, suite_rel, features),
        directory / suite_rel: json.dumps(build_suite(frame, name), indent=2) + "\n",
    }
    for workflow in sorted(workflows_dir().glob("*.yml")):
        files[directory / ".github" / "workflows" / workflow.name] = workflow.read_text()
    existing = [p for p in files if p.exists()]
    if existing and not force:
        shown = ", ".join(str(p) for p in existing[:4]) + (" ..." if len(existing) > 4 else "")
        raise UsageError(f"mlci init would overwrite {shown}", hint="pass --force to overwrite")
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        result.written.append(path)
    result.notes.append(f"task guessed as {task} from target '{target}'; check mlci.yaml")
    return result
