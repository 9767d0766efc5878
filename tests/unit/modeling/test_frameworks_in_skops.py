"""XGBoost, LightGBM and models skops cannot store, on the skops path: docs/security.md's trusted-type lists,
string class labels with XGBoost, and a PyTorch-like model refused in one line that points to ONNX.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, ClassifierMixin

from mlci.errors import ModelError
from mlci.modeling.bundle import MLCI_TRUSTED_TYPES, dump_skops
from tests.support.frameworks import tiny_project
from tests.support.paths import ROOT


def _documented(library: str) -> list[str]:
    """Return the exact names docs/security.md lists for `library` (its line of the trusted-type list)."""
    text = (ROOT / "docs" / "security.md").read_text()
    entry = re.search(rf"^- \*\*{library}\*\*:(.*?)(?=^- \*\*|^\s*$)", text, re.M | re.S)
    assert entry, f"docs/security.md lists no trusted types for {library}"
    return [name for name in re.findall(r"`([\w.]+)`", entry.group(1)) if "." in name]


# CatBoost is not in make test's environment (its wheel is 97 MB and pulls matplotlib and plotly);
# the test runs wherever it is installed (checked with CatBoost 1.2.10) and says so where it is not.
_SMALL = {
    "XGBoost": {"n_estimators": 5},
    "LightGBM": {"n_estimators": 5, "verbose": -1},
    "CatBoost": {"iterations": 5, "verbose": False, "allow_writing_files": False},
}


@pytest.mark.parametrize(
    ("library", "classifier"),
    [
        ("XGBoost", "xgboost.XGBClassifier"),
        ("LightGBM", "lightgbm.LGBMClassifier"),
        ("CatBoost", "catboost.CatBoostClassifier"),
    ],
)
def test_docs_trusted_types_save_and_load_the_library_model(library: str, classifier: str) -> None:
    module, _, name = classifier.rpartition(".")
    cls = getattr(pytest.importorskip(module, reason=f"{module} is not installed (not in make test)"), name)
    X = np.random.default_rng(0).normal(size=(120, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = cls(**_SMALL[library]).fit(X, y)
    data = sio.dumps(model)
    listed = _documented(library)
    needed = sorted(set(sio.get_untrusted_types(data=data)) - set(MLCI_TRUSTED_TYPES))
    assert set(needed) <= set(listed), f"docs/security.md misses {sorted(set(needed) - set(listed))} for {library}"
    loaded = sio.loads(data, trusted=needed)
    assert np.array_equal(loaded.predict(X), model.predict(X))


class _Tensor:
    """Stands in for a torch.Tensor: skops calls its __reduce__, which torch's C base refuses."""

    def __reduce__(self) -> Any:
        # What copyreg._reduce_ex ends in for a torch.Tensor: `TensorBase(self)` raises this.
        raise RuntimeError("Cannot directly construct TensorBase; subclass it and then construct that")


class TorchLikeClassifier(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> TorchLikeClassifier:
        self.classes_ = np.unique(y)
        self.weights_ = _Tensor()
        return self

    def predict(self, X: Any) -> Any:
        return np.full(len(X), self.classes_[0])


def test_objects_skops_cannot_store_are_one_line_pointing_to_onnx() -> None:
    for model in (TorchLikeClassifier().fit([[0.0]], [0]), {"head": lambda x: x}):
        with pytest.raises(ModelError) as refused:
            dump_skops(model)
        assert "model.format: onnx" in str(refused.value)


_ENTRYPOINT = """
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class Tensor:
    def __reduce__(self):
        raise RuntimeError("Cannot directly construct TensorBase; subclass it and then construct that")


class Net(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.weights_ = Tensor()
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def build():
    return Net()
"""


def test_a_pytorch_model_in_skops_is_one_line_naming_format_onnx(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "repo").without("model.command", "model.format")
    checked = project.with_entrypoint("net", _ENTRYPOINT).run("check")
    assert checked.returncode == 2, checked.text
    lines = checked.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error" not in lines[0], checked.text
    assert "skops cannot store this Net" in lines[0] and "model.format: onnx" in lines[0]


def test_xgboost_with_string_labels_passes_and_the_report_shows_them(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "repo", labels=("leave", "stay")).without("model.command", "model.format")
    project.with_estimator("xgboost.XGBClassifier", {"n_estimators": 10, "max_depth": 2})
    project.with_("model.trusted_types", _documented("XGBoost"))
    checked = project.run("--json", "check")
    assert checked.returncode == 0, checked.text
    document = json.loads(checked.stdout)
    assert document["comparison"]["positive_class"] == "stay"
    assert "Positive class: stay" in (project.path / "report.md").read_text()
    version = document["candidate"]["version"]
    manifest = json.loads((project.registry / "versions" / version / "manifest.json").read_text())
    assert manifest["classes"] == ["leave", "stay"]
