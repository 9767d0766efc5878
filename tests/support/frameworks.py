"""Models from outside mlci, for the tests of model.command, model.file and ONNX: a tiny project and model builders.

`tiny_project(dest)` writes a project of a few hundred rows (four numbers and a string column)
whose `command` trains a small MLP in numpy and writes it with onnx.helper: no scikit-learn model
anywhere. The builders write ONNX models as other frameworks' converters do (skl2onnx, onnxmltools)
and the hostile ones an attacker could push (custom-op domain, external data outside the bundle, a
declared 3 GB tensor, bytes that are no protobuf, a Loop that never ends).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.project import ProjectCopy, write_config

FEATURES = ["f1", "f2", "f3", "f4"]

# The user's own training script: reads the MLCI_* variables, trains, writes model.onnx.
MLP_SCRIPT = '''\
"""Train a small MLP in numpy and write it with onnx.helper."""
import json, os
import numpy as np
import pyarrow.parquet
import onnx
from onnx import TensorProto, helper, numpy_helper

frame = pyarrow.parquet.read_table(os.environ["MLCI_TRAIN_DATA"]).to_pandas()
features = json.loads(os.environ["MLCI_FEATURES"])
params = json.loads(os.environ["MLCI_PARAMS"])
assert list(frame.columns) == [*features, os.environ["MLCI_TARGET"]], frame.columns
assert os.environ["MLCI_TASK"] == "classification"
rng = np.random.default_rng(int(os.environ["MLCI_SEED"]))
X = frame[features].to_numpy(np.float32)
y = frame[os.environ["MLCI_TARGET"]].to_numpy()
classes = np.unique(y)
Y = np.eye(len(classes), dtype=np.float32)[np.searchsorted(classes, y)]
mean, std = X.mean(0), X.std(0) + 1e-6
Xs = (X - mean) / std
hidden = int(params.get("hidden", 8))
W1 = rng.normal(0, 0.5, (X.shape[1], hidden)).astype(np.float32)
b1 = np.zeros(hidden, np.float32)
W2 = rng.normal(0, 0.5, (hidden, len(classes))).astype(np.float32)
b2 = np.zeros(len(classes), np.float32)
for _ in range(int(params.get("epochs", 100))):
    H = np.maximum(Xs @ W1 + b1, 0)
    Z = H @ W2 + b2
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    G = (P - Y) / len(X)
    GH = (G @ W2.T) * (H > 0)
    W2 -= 0.5 * H.T @ G; b2 -= 0.5 * G.sum(0); W1 -= 0.5 * Xs.T @ GH; b1 -= 0.5 * GH.sum(0)
print(f"trained {hidden} hidden units for {os.environ.get('GITHUB_TOKEN', 'nobody')}", flush=True)
tensors = {"scale": 1 / std, "shift": -mean / std, "W1": W1, "b1": b1, "W2": W2, "b2": b2}
nodes = [
    helper.make_node("Mul", ["X", "scale"], ["a"]), helper.make_node("Add", ["a", "shift"], ["xs"]),
    helper.make_node("MatMul", ["xs", "W1"], ["h0"]), helper.make_node("Add", ["h0", "b1"], ["h1"]),
    helper.make_node("Relu", ["h1"], ["h"]), helper.make_node("MatMul", ["h", "W2"], ["z0"]),
    helper.make_node("Add", ["z0", "b2"], ["z"]), helper.make_node("Softmax", ["z"], ["probabilities"], axis=1),
]
graph = helper.make_graph(
    nodes, "mlp",
    [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, X.shape[1]])],
    [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, len(classes)])],
    [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in tensors.items()],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.save(model, os.path.join(os.environ["MLCI_OUTPUT_DIR"], "model.onnx"))
'''


def tables(rows: int = 300, seed: int = 0, labels: tuple[Any, Any] = (0, 1)) -> Any:
    """Return a table of `rows`: four numeric features, a string `segment` and a binary `label`."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 4))
    frame = pd.DataFrame(X, columns=FEATURES)
    frame["segment"] = rng.choice(["north", "south"], rows)
    signal = X[:, 0] + 0.5 * X[:, 1] - X[:, 2] + (frame["segment"] == "north") * 0.5 + rng.normal(0, 0.7, rows)
    frame["label"] = np.where(signal > 0, labels[1], labels[0])
    return frame


def tiny_project(dest: Path, *, labels: tuple[Any, Any] = (0, 1), **model: Any) -> ProjectCopy:
    """Write a project to `dest` (300 training rows, 200 test rows) whose `command` trains the numpy MLP."""
    dest.mkdir(parents=True)
    tables(300, 1, labels).to_csv(dest / "train.csv", index=False)
    tables(200, 2, labels).to_csv(dest / "test.csv", index=False)
    (dest / "train.py").write_text(MLP_SCRIPT)
    section = {"name": "churn", "task": "classification", "format": "onnx", "command": "python train.py"}
    section.update({"params": {"hidden": 6, "epochs": 60}, **model})
    write_config(
        dest / "mlci.yaml",
        {
            "model": section,
            "data": {"train": "train.csv", "test": "test.csv", "target": "label", "features": FEATURES},
            "metrics": {"primary": "roc_auc", "others": ["accuracy"]},
            "gates": [{"metric": "roc_auc", "non_inferiority_margin": 0.1}],
        },
    )
    return ProjectCopy(dest)


# --- models other frameworks' converters write -----------------------------------------------


def skl2onnx_pipeline(path: Path) -> list[str]:
    """Write a scikit-learn pipeline (one-hot of the string column + logistic regression) with skl2onnx; return its features."""
    from skl2onnx import to_onnx
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    features = [*FEATURES, "segment"]
    frame = tables(300, 1).astype({f: "float32" for f in FEATURES})
    pipeline = Pipeline(
        [
            ("prep", ColumnTransformer([("seg", OneHotEncoder(), ["segment"])], remainder="passthrough")),
            ("model", LogisticRegression()),
        ]
    ).fit(frame[features], frame["label"])
    # One input per column, as skl2onnx writes a DataFrame: the string column as a string tensor.
    path.write_bytes(to_onnx(pipeline, frame[features][:1], target_opset=17).SerializeToString())
    return features


def lightgbm_onnx(path: Path) -> None:
    """Write a LightGBM classifier converted with onnxmltools (one 2-D float input, a ZipMap of probabilities)."""
    import lightgbm
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    frame = tables(300, 1)
    model = lightgbm.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1).fit(
        frame[FEATURES].to_numpy(), frame["label"]
    )
    converted = onnxmltools.convert_lightgbm(
        model, initial_types=[("X", FloatTensorType([None, len(FEATURES)]))], target_opset=15
    )
    path.write_bytes(converted.SerializeToString())


# --- hostile models -------------------------------------------------------------------------


def _model(nodes: list[Any], initializers: list[Any] = (), domains: tuple[str, ...] = ()) -> bytes:  # type: ignore[assignment]
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "hostile",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        list(initializers),
    )
    opsets = [helper.make_opsetid("", 17), *(helper.make_opsetid(d, 1) for d in domains)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return bytes(model.SerializeToString())


def _head(source: str) -> list[Any]:
    """Return nodes that turn `source` [N, 2] into probabilities [N, 2]."""
    from onnx import helper

    return [helper.make_node("Softmax", [source], ["probabilities"], axis=1)]


def _slice_two() -> tuple[list[Any], list[Any]]:
    import numpy as np
    from onnx import helper, numpy_helper

    weights = numpy_helper.from_array(np.ones((4, 2), np.float32), "W")
    return [helper.make_node("MatMul", ["X", "W"], ["z"])], [weights]


def custom_domain() -> bytes:
    """A model whose operator lives in a custom domain: onnxruntime would need a shared library for it."""
    from onnx import helper

    return _model(
        [helper.make_node("Steal", ["X"], ["z"], domain="com.attacker"), *_head("z")], domains=("com.attacker",)
    )


def external_outside() -> bytes:
    """A model whose weights are 'external data' in a file outside its bundle (/etc/passwd, via ..)."""
    from onnx import TensorProto

    nodes, (weights,) = _slice_two()
    weights.ClearField("float_data")
    weights.ClearField("raw_data")
    weights.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../../../../etc/passwd"), ("offset", "0"), ("length", "32")):
        entry = weights.external_data.add()
        entry.key, entry.value = key, value
    return _model([*nodes, *_head("z")], [weights])


def sparse_external_in_checkout() -> bytes:
    """A model whose weights are a Constant's sparse_value with external values in '.git/config'.

    A relative location that is no file of the bundle: built from bytes, onnxruntime would read it
    from its working directory, the checkout (where actions/checkout may leave a token).
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    values = TensorProto(name="sv", data_type=TensorProto.FLOAT, dims=[8], data_location=TensorProto.EXTERNAL)
    for key, value in (("location", ".git/config"), ("offset", "0"), ("length", "32")):
        entry = values.external_data.add()
        entry.key, entry.value = key, value
    indices = numpy_helper.from_array(np.arange(8, dtype=np.int64), "si")
    weights = helper.make_node("Constant", [], ["W"], sparse_value=helper.make_sparse_tensor(values, indices, [4, 2]))
    return _model([weights, helper.make_node("MatMul", ["X", "W"], ["z"]), *_head("z")])


def huge_sparse_constant() -> bytes:
    """A model whose Constant is a sparse tensor of one value that densifies to 64 GiB."""
    import numpy as np
    from onnx import helper, numpy_helper

    values = numpy_helper.from_array(np.ones(1, np.float32), "v")
    indices = numpy_helper.from_array(np.zeros(1, np.int64), "i")
    huge = helper.make_node("Constant", [], ["H"], sparse_value=helper.make_sparse_tensor(values, indices, [1 << 34]))
    nodes, weights = _slice_two()
    return _model([huge, *nodes, *_head("z")], weights)


def huge_tensor() -> bytes:
    """A model that declares a 3 GB weight tensor (with no bytes behind it)."""
    from onnx import TensorProto

    huge = TensorProto(name="huge", data_type=TensorProto.FLOAT, dims=[750_000_000])
    nodes, weights = _slice_two()
    return _model([*nodes, *_head("z")], [*weights, huge])


def malformed() -> bytes:
    """Bytes that are no protobuf at all."""
    return b"\x0a\xff\xff\xff\xff\x0f" + b"not an onnx model" * 10


def endless_loop() -> bytes:
    """A model whose Loop runs 2**62 times: no check can bound it, the contained process's deadline must."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["acc_in", "one"], ["acc_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [None, 2]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [None, 2]),
        ],
        [numpy_helper.from_array(np.ones((1, 2), np.float32), "one")],
    )
    nodes, weights = _slice_two()
    loop = helper.make_node("Loop", ["trips", "cond", "z"], ["looped"], body=body)
    init = [
        *weights,
        numpy_helper.from_array(np.array(2**62, np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "cond"),
    ]
    return _model([*nodes, loop, *_head("looped")], init)
