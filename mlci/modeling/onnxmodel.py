"""ONNX models: checked before use (onnx.checker, operator domains, tensor sizes, external data), scored by onnxruntime.

An ONNX file is data, but onnxruntime runs what it names: a custom-op domain needs a shared
library (user code), external data is a file path the model chooses, and a tensor's declared
size is what the runtime allocates. So before a session exists the model is parsed and walked
(every node, every subgraph of If/Loop/Scan, every function): only the standard domains ('',
'ai.onnx', 'ai.onnx.ml'), external data only in regular files inside the model's bundle within
`max_model_mb`, no tensor declaring more than that, then `onnx.checker`. The session gets no
custom-op library and only the CPU provider, or CUDA's when onnxruntime-gpu sees a GPU (never
the Azure provider, which calls out). All of it runs in the contained process (mlci.modeling.sandbox):
what the checks cannot bound (a Loop's trip count, a ConstantOfShape) meets its deadline, CPU and
memory limits.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci.errors import ModelError

if TYPE_CHECKING:
    import pandas as pd

    from mlci.stats.evaluation import Predictions

STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
_INSTALL = "install mlci's ONNX support: pip install 'mlci[onnx]' (or list onnxruntime in the action's requirements)"


def require_onnx(field: str = "model.format") -> None:
    """Raise ModelError (one line) unless onnx and onnxruntime can be imported."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelError(f"{field}: onnx needs {' and '.join(missing)}, which is not installed", hint=_INSTALL)


def _graphs(graph: Any) -> Iterator[Any]:
    """Yield `graph` (or a FunctionProto) and every subgraph in its nodes' attributes (If, Loop, Scan), depth first."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g)
            for sub in attr.graphs:
                yield from _graphs(sub)


def _nodes(graphs: Sequence[Any], functions: Sequence[Any]) -> Iterator[Any]:
    """Yield every node of `graphs` and of the functions' bodies, with the subgraphs of the latter (If, Loop, Scan).

    `graphs` are already walked into their subgraphs (`_graphs`); a FunctionProto holds its nodes
    like a graph, so `_graphs` walks it the same way.
    """
    for graph in [*graphs, *(sub for function in functions for sub in _graphs(function))]:
        yield from graph.node


def _sparse(graphs: Sequence[Any], functions: Sequence[Any]) -> Iterator[Any]:
    """Yield every SparseTensorProto: sparse initializers and Constant nodes' sparse_value attributes."""
    for graph in graphs:
        yield from graph.sparse_initializer
    for node in _nodes(graphs, functions):
        for attr in node.attribute:
            if attr.HasField("sparse_tensor"):
                yield attr.sparse_tensor
            yield from attr.sparse_tensors


def _tensors(graphs: Sequence[Any], functions: Sequence[Any]) -> Iterator[Any]:
    """Yield every TensorProto stored in the model, wherever the format allows one.

    Initializers, Constant nodes' values, the values and indices of sparse tensors, in the main
    graph, its subgraphs and model-local functions (theirs included): a tensor this walk missed
    could hold external data that onnxruntime resolves from its working directory.
    """
    for graph in graphs:
        yield from graph.initializer
    for sparse in _sparse(graphs, functions):
        yield sparse.values
        yield sparse.indices
    for node in _nodes(graphs, functions):
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors


@dataclass(frozen=True)
class _Dense:
    """The dense shape a sparse tensor declares, counted against model.max_model_mb like a tensor's."""

    name: str
    dims: Sequence[int]
    data_type: int


def _declared_bytes(tensor: Any) -> int:
    import onnx

    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except Exception:  # strings and unknown types: count one byte an element
        itemsize = 1
    count = math.prod(max(int(d), 0) for d in tensor.dims)
    return count * itemsize


def check_onnx(data: bytes, where: Path, *, bundle_dir: Path | None, max_mb: int) -> Any:
    """Return the parsed ModelProto of `data` once it passed every check; ModelError (one line) otherwise."""
    import onnx
    from google.protobuf.message import DecodeError

    limit = max_mb * 1024 * 1024
    if len(data) > limit:
        raise ModelError(
            f"{where}: {len(data) / 2**20:.0f} MiB, past model.max_model_mb = {max_mb}; refusing to load it"
        )
    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ModelError(f"{where}: not a readable ONNX file ({type(e).__name__}: {_first(e)})") from None
    if not model.HasField("graph"):
        raise ModelError(f"{where}: not an ONNX model (it has no graph)")
    foreign = sorted({o.domain for o in model.opset_import} - STANDARD_DOMAINS)
    graphs = list(_graphs(model.graph))
    foreign += [f.domain for f in model.functions if f.domain not in STANDARD_DOMAINS]
    nodes = list(_nodes(graphs, list(model.functions)))
    foreign += sorted({n.domain for n in nodes} - STANDARD_DOMAINS)
    if foreign:
        raise ModelError(
            f"{where}: uses the custom operator domain {sorted(set(foreign))[0]!r}; mlci runs only the standard "
            "ONNX operators ('ai.onnx', 'ai.onnx.ml'), never a custom-op library",
            hint="export the model with standard operators only",
        )
    total = 0
    # A sparse tensor's dense shape is what onnxruntime allocates (a Constant densifies it).
    dense = [
        _Dense(s.values.name or s.indices.name, s.dims, s.values.data_type)
        for s in _sparse(graphs, list(model.functions))
    ]
    for tensor in [*_tensors(graphs, list(model.functions)), *dense]:
        declared = _declared_bytes(tensor)
        if not isinstance(tensor, _Dense) and tensor.data_location == onnx.TensorProto.EXTERNAL:
            _check_external(tensor, where, bundle_dir, limit)
        total += declared
        if declared > limit or total > limit:
            raise ModelError(
                f"{where}: tensor {tensor.name!r} declares {declared / 2**20:,.0f} MiB "
                f"({total / 2**20:,.0f} MiB in all), past model.max_model_mb = {max_mb}; refusing to load it",
                hint="raise model.max_model_mb in mlci.yaml if this model really is that large",
            )
    try:
        # Without the external data: it is checked above, and the checker would read it from a path.
        onnx.checker.check_model(data if not _uses_external(model) else model)
    except Exception as e:  # onnx.checker.ValidationError and the C++ checker's own errors
        raise ModelError(f"{where}: fails onnx.checker ({_first(e)})") from None
    return model


def _uses_external(model: Any) -> bool:
    import onnx

    graphs = list(_graphs(model.graph))
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in _tensors(graphs, list(model.functions)))


def _check_external(tensor: Any, where: Path, bundle_dir: Path | None, limit: int) -> None:
    """Refuse external data that is not a regular file inside the bundle, or that reads past it or the cap."""
    info = {entry.key: entry.value for entry in tensor.external_data}
    location = info.get("location", "")
    parts = Path(location).parts
    name = f"tensor {tensor.name!r}: external data {location!r}"
    if bundle_dir is None or not location or Path(location).is_absolute() or ".." in parts or len(parts) != 1:
        raise ModelError(
            f"{where}: {name} is not a file beside the model in its bundle; refusing to read it",
            hint="save the model with its weights inside model.onnx, or beside it in the bundle",
        )
    path = bundle_dir / location
    try:
        stat = os.lstat(path)
    except OSError:
        raise ModelError(f"{where}: {name} does not exist in the bundle") from None
    import stat as st

    if not st.S_ISREG(stat.st_mode):
        raise ModelError(f"{where}: {name} is not a regular file; refusing to read it")
    try:
        offset, length = int(info.get("offset", 0)), int(info.get("length", stat.st_size))
    except ValueError:
        raise ModelError(f"{where}: {name} has an offset or length that is not a number") from None
    if offset < 0 or length < 0 or offset + length > stat.st_size or length > limit:
        raise ModelError(f"{where}: {name} reads bytes {offset}..{offset + length} of a {stat.st_size}-byte file")


def _first(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return line if len(line) <= 300 else line[:299] + "…"


class OnnxPredictor:
    """An ONNX model in an onnxruntime session: its features fed as it declares them, its outputs read per the contract."""

    def __init__(
        self,
        session: Any,
        model: Any,
        features: list[str],
        classes: list[Any] | None,
        where: Path,
        fallback: list[Any] | None = None,
    ) -> None:
        import onnxruntime as ort

        self.session, self.features, self.where = session, features, where
        self.runtime = f"onnxruntime {ort.__version__} ({session.get_providers()[0]})"
        self.classes = classes
        if classes is None:
            props = {p.key: p.value for p in model.metadata_props}
            self.classes = _metadata_classes(props.get("classes"), where)
        if self.classes is None:  # the sorted labels of the training data (given while training only)
            self.classes = fallback
        self.inputs = session.get_inputs()
        names = [i.name for i in self.inputs]
        if set(names) == set(features) and len(names) == len(features):
            self.per_feature = True
        elif len(self.inputs) == 1 and len(self.inputs[0].shape) == 2:
            width = self.inputs[0].shape[1]
            if isinstance(width, int) and width != len(features):
                raise ModelError(
                    f"{where}: its input {names[0]!r} takes {width} columns, but data.features names {len(features)}"
                )
            self.per_feature = False
        else:
            raise ModelError(
                f"{where}: its inputs {names} fit neither contract: one 2-D tensor with the {len(features)} "
                "features in data.features order, or one input per feature named after its column"
            )

    def feed(self, rows: pd.DataFrame) -> dict[str, Any]:
        import numpy as np

        if not self.per_feature:
            return {self.inputs[0].name: rows[self.features].to_numpy(dtype=_dtype(self.inputs[0].type, self.where))}
        fed = {}
        for spec in self.inputs:
            column = rows[spec.name]
            dtype = _dtype(spec.type, self.where)
            values = column.fillna("").astype(str).to_numpy(dtype=object) if dtype is object else column.to_numpy(dtype)
            fed[spec.name] = values.reshape(-1, 1) if len(spec.shape) != 1 else values
            if dtype is object:
                fed[spec.name] = np.asarray(fed[spec.name], dtype=object)
        return fed

    def predict(self, rows: pd.DataFrame, task: str) -> Predictions:
        """Return the model's predictions on `rows`: values (regression), or labels and probabilities."""
        import numpy as np

        from mlci.stats.evaluation import Predictions

        names = [o.name for o in self.session.get_outputs()]
        outputs = dict(zip(names, self.session.run(None, self.feed(rows)), strict=True))
        n = len(rows)
        if task == "regression":
            for value in outputs.values():
                if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.shape in ((n,), (n, 1)):
                    return Predictions(labels=value.reshape(n).astype("float64"))
            raise ModelError(
                f"{self.where}: a regressor must give a float output of shape [N] or [N, 1]; it gives {_shapes(outputs)}"
            )
        proba, keys = _probabilities(outputs, n)
        if proba is None:
            raise ModelError(
                f"{self.where}: a classifier must give a float output of shape [N, classes] (named "
                f"'probabilities' when there are several); it gives {_shapes(outputs)}"
            )
        classes = self.classes if self.classes is not None else keys
        if classes is None:
            raise ModelError(f"{self.where}: names no classes; list them under model.classes in mlci.yaml")
        if len(classes) != proba.shape[1]:
            raise ModelError(
                f"{self.where}: gives {proba.shape[1]} probability columns for {len(classes)} classes "
                f"({', '.join(map(str, classes[:5]))}{', …' if len(classes) > 5 else ''})",
                hint="set model.classes in mlci.yaml to the model's classes, in the order of its columns",
            )
        labels = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
        if all(isinstance(c, (int, np.integer)) for c in classes):
            labels = labels.astype("int64")
        return Predictions(labels=labels, proba=proba.astype("float64"), classes=list(classes))


def _probabilities(outputs: dict[str, Any], n: int) -> tuple[Any, list[Any] | None]:
    """Return (probabilities [n, classes], the classes a ZipMap output names) per the output contract."""
    import numpy as np

    def matrix(value: Any) -> bool:
        return isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.ndim == 2 and value.shape[0] == n

    if matrix(outputs.get("probabilities")):
        return outputs["probabilities"], None
    for value in outputs.values():
        if matrix(value):
            return value, None
    for value in outputs.values():  # a ZipMap (skl2onnx and onnxmltools by default): one {class: p} per row
        if isinstance(value, list) and len(value) == n and all(isinstance(v, dict) for v in value):
            keys = list(value[0]) if value else []
            try:
                return np.array([[float(row[k]) for k in keys] for row in value]).reshape(n, len(keys)), keys
            except (KeyError, TypeError, ValueError):
                continue
    return None, None


def _shapes(outputs: dict[str, Any]) -> str:
    return ", ".join(f"{k} {getattr(v, 'shape', type(v).__name__)}" for k, v in outputs.items()) or "nothing"


def _dtype(onnx_type: str, where: Path) -> Any:
    import numpy as np

    types: dict[str, Any] = {
        "tensor(float)": np.float32,
        "tensor(double)": np.float64,
        "tensor(int64)": np.int64,
        "tensor(int32)": np.int32,
        "tensor(bool)": np.bool_,
        "tensor(string)": object,
    }
    if onnx_type not in types:
        raise ModelError(f"{where}: takes an input of type {onnx_type}, which mlci cannot feed from a table")
    return types[onnx_type]


def _metadata_classes(text: str | None, where: Path) -> list[Any] | None:
    if text is None:
        return None
    try:
        classes = json.loads(text)
    except ValueError:
        classes = None
    if not isinstance(classes, list) or not all(isinstance(c, (str, int)) and not isinstance(c, bool) for c in classes):
        raise ModelError(f"{where}: its metadata property 'classes' is not a JSON list of labels")
    return classes


def load_onnx(
    data: bytes,
    where: Path,
    *,
    bundle_dir: Path,
    features: list[str],
    classes: list[Any] | None,
    max_mb: int,
    fallback: list[Any] | None = None,
) -> OnnxPredictor:
    """Return a predictor for the ONNX model `data` (checked first), in a session without custom ops."""
    require_onnx()
    import onnxruntime as ort

    model = check_onnx(data, where, bundle_dir=bundle_dir, max_mb=max_mb)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: its warnings are not the user's business
    available = set(ort.get_available_providers())
    providers = [p for p in PROVIDERS if p in available]
    try:
        if _uses_external(model):  # onnxruntime finds external data beside the model's own path
            session = ort.InferenceSession(str(where), options, providers=providers)
        else:
            session = ort.InferenceSession(data, options, providers=providers)
    except Exception as e:  # onnxruntime's Fail/InvalidGraph/NotImplemented: one line
        raise ModelError(f"{where}: onnxruntime cannot load it ({_first(e)})") from None
    return OnnxPredictor(session, model, features, classes, where, fallback)
