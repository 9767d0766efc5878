"""Where the model comes from (estimator, entrypoint, command or file) and its format, as mlci.yaml says it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlci.config.schema import load_config
from mlci.errors import ConfigError
from tests.support.project import write_config


def _load(tmp_path: Path, **model: Any) -> Any:
    section = {"name": "m", "task": "classification", **model}
    data = {"train": "train.csv", "test": "test.csv", "target": "y"}
    write_config(tmp_path / "mlci.yaml", {"model": section, "data": data, "metrics": {"primary": "accuracy"}})
    return load_config(tmp_path / "mlci.yaml")


def _problem(tmp_path: Path, **model: Any) -> str:
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, **model)
    assert len(refused.value.problems) == 1, refused.value.problems
    return str(refused.value.problems[0])


def test_a_command_is_split_like_a_shell_would_and_run_by_none(tmp_path: Path) -> None:
    config = _load(tmp_path, format="onnx", command='python train.py --name "two words" $HOME; rm -rf /')
    assert config.model.argv == ["python", "train.py", "--name", "two words", "$HOME;", "rm", "-rf", "/"]
    assert config.model.source == "command" and config.model.timeout_minutes == 60


@pytest.mark.parametrize(
    ("model", "says"),
    [
        ({}, "give exactly one of 'estimator' (dotted path), 'entrypoint' (module:function), 'command'"),
        ({"estimator": "a.B", "command": "python t.py"}, "(found estimator, command)"),
        ({"file": "m.onnx", "command": "python t.py", "format": "onnx"}, "(found command, file)"),
        ({"estimator": "a.B", "format": "onnx"}, "format: onnx needs a 'command' or a 'file'"),
        ({"file": "models/model.onnx"}, "does not end in .skops (model.format is skops)"),
        ({"command": "python 'unclosed", "format": "onnx"}, "cannot be split into arguments"),
        ({"command": "python t.py", "format": "pickle"}, "model.format"),
    ],
)
def test_an_unclear_model_source_is_one_line(tmp_path: Path, model: dict[str, Any], says: str) -> None:
    assert says in _problem(tmp_path, **model)


def test_config_check_imports_the_estimator_and_suggests_a_close_name(project) -> None:  # type: ignore[no-untyped-def]
    project.with_estimator("sklearn.ensemble.RandomForestClasifier")
    checked = project.run("config", "check")
    assert checked.returncode == 2
    assert checked.stderr.strip() == (
        "model.estimator: module 'sklearn.ensemble' has no 'RandomForestClasifier'; "
        "did you mean 'RandomForestClassifier'?"
    )
    project.with_estimator("sklearn.ensembl.RandomForestClassifier")
    checked = project.run("config", "check")
    assert "no module named 'sklearn.ensembl'; did you mean 'ensemble'?" in checked.stderr
