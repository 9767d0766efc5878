"""Scoring on the GPU: onnxruntime's CUDA provider scores an ONNX model when onnxruntime-gpu sees a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlci.contracts.manifest import Manifest
from mlci.modeling.bundle import write_model
from mlci.modeling.sandbox import Sandbox, score
from tests.support.frameworks import FEATURES, lightgbm_onnx, tables


def _cuda_missing() -> str | None:
    """Return why the CUDA provider cannot score here, or None when it can."""
    try:
        import onnxruntime
    except ImportError:
        return "onnxruntime is not installed"
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return f"onnxruntime {onnxruntime.__version__} has no CUDAExecutionProvider (install onnxruntime-gpu)"
    if not Path("/dev/nvidiactl").exists() and not list(Path("/dev").glob("nvidia[0-9]*")):
        return "no NVIDIA GPU is visible (/dev/nvidia*)"
    return None


@pytest.mark.gpu
def test_an_onnx_model_is_scored_by_the_cuda_provider(tmp_path: Path) -> None:
    if reason := _cuda_missing():
        pytest.skip(reason)
    lightgbm_onnx(tmp_path / "model.onnx")
    manifest = Manifest(model="m", task="classification", features=FEATURES, classes=[0, 1])
    bundle = write_model(tmp_path / "bundle", (tmp_path / "model.onnx").read_bytes(), "onnx", manifest)
    # The CUDA driver reserves a large address space: the contained process gets the most it may.
    predictions = score(bundle, tables(50, 3)[FEATURES], Sandbox(memory_mb=1048576))
    assert predictions.runtime is not None and predictions.runtime.endswith("(CUDAExecutionProvider)")
    assert predictions.proba.shape == (50, 2)
