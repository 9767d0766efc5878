"""Generate docs/config.md from the pydantic models, so the reference cannot drift from the code.

Run `python -m mlci.config.reference > docs/config.md`; a test fails when the file is stale.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from mlci.config.schema import Config, SparkSource, SqlSource
from mlci.stats.metrics import METRICS

HEADER = """# mlci.yaml reference

Generated from mlci's pydantic models by `python -m mlci.config.reference`; do not edit by hand.
`mlci config check` validates a file and `mlci config schema` prints its JSON Schema (point your
editor's YAML language server at it). Unknown keys are errors. Any string may use `${VAR}` or
`${VAR:-default}`, filled from the environment. Relative paths are relative to mlci.yaml. A local
table path must be a regular file; a relative one must lead inside the repository (the git work
tree holding mlci.yaml, else its directory) once symlinks are resolved, and an absolute one may
lead anywhere ([local files](data-sources.md#local-files)).

## A complete example

```yaml
version: 1
model:
  name: churn
  task: classification
  estimator: sklearn.ensemble.HistGradientBoostingClassifier
  params: {max_iter: 100, learning_rate: 0.05}
data:
  train: data/train.csv
  test: data/test.csv
  target: churned
  id: customer_id
  slices: [plan, region]
expectations:
  suite: expectations/churn.json
metrics:
  primary: roc_auc
  others: [accuracy, log_loss]
gates:
  - metric: roc_auc
    threshold: 0.7
  - metric: roc_auc
    non_inferiority_margin: 0.01
  - metric: roc_auc
    slices: true
    min_absolute_change: -0.03
    min_slice_size: 100
registry:
  uri: s3://ml-models/registry
  public_uri: ${MLCI_PUBLIC_REGISTRY:-}
  endpoint_url: ${S3_ENDPOINT_URL:-}
```
"""


# Documented once, below the sections, rather than under every field that names a table.
_TABLE_SOURCES: dict[type[BaseModel], str] = {SqlSource: "SQL table", SparkSource: "Spark table"}


def _type_name(annotation: Any) -> str:
    if annotation in _TABLE_SOURCES:
        return _TABLE_SOURCES[annotation]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + " (optional)"
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"mapping of {_type_name(args[0])} to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "see below"
        if isinstance(value, dict) and any(isinstance(v, BaseModel) for v in value.values()):
            return ", ".join(f"`{k}`" for k in value)
        return f"`{json.dumps(value)}`"
    if field.default is PydanticUndefined:
        return ""
    return f"`{json.dumps(field.default)}`"


def _example(field: Any) -> str:
    if not field.examples:
        return ""
    value = field.examples[0]
    return f"`{json.dumps(value)}`" if value is not None else ""


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += _nested_models(arg)
    return out


def _section(model: type[BaseModel], path: str, lines: list[str], seen: set[str]) -> None:
    title = f"## {path[1:-1]}" if path.startswith("<") else f"## `{path}`" if path else "## Top level"
    lines += ["", title, "", (model.__doc__ or "").strip(), ""]
    lines += ["| key | type | default | description | example |", "| --- | --- | --- | --- | --- |"]
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        desc = (field.description or "").replace("|", "\\\\|").replace("\\n", " ")
        lines.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {desc} | {_example(field)} |")
        for sub in _nested_models(field.annotation):
            if sub in _TABLE_SOURCES:
                continue
            origin = typing.get_origin(field.annotation)
            suffix = "[]" if origin is list else ".<name>" if origin is dict else ""
            nested.append((f"{path}.{key}{suffix}" if path else f"{key}{suffix}", sub))
    for sub_path, sub in nested:
        if sub_path not in seen:
            seen.add(sub_path)
            _section(sub, sub_path, lines, seen)


def reference_markdown() -> str:
    """Return the configuration reference as Markdown."""
    lines = [HEADER.rstrip()]
    _section(Config, "", lines, set())
    for model, name in _TABLE_SOURCES.items():
        _section(model, f"<{name}>", lines, set())
    lines += ["", "## Metrics", "", "| metric | task | better | description |", "| --- | --- | --- | --- |"]
    for m in METRICS.values():
        better = "higher" if m.greater_is_better else "lower"
        lines.append(f"| `{m.name}` | {m.task} | {better} | {m.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
