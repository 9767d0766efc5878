"""Hostile ONNX files: each is one line, nothing is stored or deployed, and the job ends within its deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlci.contracts.manifest import Manifest
from mlci.errors import ModelError
from mlci.modeling.bundle import write_model
from mlci.modeling.sandbox import Sandbox, score
from tests.support import frameworks
from tests.support.frameworks import FEATURES, tables, tiny_project

HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "custom-op domain": (frameworks.custom_domain, "custom operator domain 'com.attacker'"),
    "external data outside the bundle": (frameworks.external_outside, "is not a file beside the model in its bundle"),
    "external sparse values read from the checkout": (
        frameworks.sparse_external_in_checkout,
        "tensor 'sv': external data '.git/config' is not a file beside the model in its bundle",
    ),
    "a declared 3 GB tensor": (frameworks.huge_tensor, "declares 2,861 MiB"),
    "a sparse Constant that densifies to 64 GiB": (frameworks.huge_sparse_constant, "declares 65,536 MiB"),
    "a malformed protobuf": (frameworks.malformed, "not a readable ONNX file"),
    "a Loop with a huge trip count": (frameworks.endless_loop, "after model.sandbox.timeout_seconds = 1.5 s"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_onnx_model_is_refused_in_one_line_within_its_deadline(kind: str, tmp_path: Path) -> None:
    build, says = HOSTILE[kind]
    manifest = Manifest(model="m", task="classification", features=FEATURES, classes=[0, 1])
    bundle = write_model(tmp_path / "bundle", build(), "onnx", manifest)
    started = time.monotonic()
    with pytest.raises(ModelError) as refused:
        score(bundle, tables(20, 3)[FEATURES], Sandbox(timeout_seconds=1.5))
    # The first scoring of a run starts the fork server (its imports): the deadline is the model's.
    assert time.monotonic() - started < 30
    message = str(refused.value)
    assert says in message and "\n" not in message


@pytest.mark.slow
def test_a_check_of_a_hostile_onnx_file_stores_nothing(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "repo")
    (project.path / "model.onnx").write_bytes(frameworks.custom_domain())
    project.without("model.command").with_("model.file", "model.onnx")
    checked = project.run("check")
    assert checked.returncode == 2, checked.text
    lines = checked.stderr.strip().splitlines()
    assert len(lines) == 1 and "custom operator domain 'com.attacker'" in lines[0], checked.text
    assert not (project.registry / "versions").exists() or not any((project.registry / "versions").iterdir())
