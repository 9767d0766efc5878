"""mlci.yaml for `model.format: results`: the contract's keys, and one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlci.config.schema import load_config
from mlci.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "llm" / "mlci.yaml"


def test_the_llm_example_is_valid_without_task_or_target():
    config = load_config(EXAMPLE)
    assert config.model.format == "results" and config.model.task is None and config.data.target is None
    assert config.model.artifacts == ["prompts/", "app/config.json"]
    assert [(m.name, m.kind, m.summarised, m.lower_is_better) for m in config.metrics.per_example] == [
        ("correct", "binary", "rate", False),
        ("judge_score", "continuous", "mean", False),
        ("latency_ms", "continuous", "p95", True),
        ("cost_usd", "continuous", "sum", True),
    ]
    assert [g.metric for g in config.gates] == ["correct", "latency_ms"]


def test_results_problems_are_one_line_each(tmp_path: Path):
    text = EXAMPLE.read_text()
    text = text.replace("  command: python eval.py\n", "").replace("  id: qid\n", "")
    text = text.replace("{metric: latency_ms,", "{metric: latency,")
    path = tmp_path / "mlci.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = caught.value.lines()
    assert any("model: format 'results' needs 'command'" in line for line in lines), lines
    assert any("gates[1].metric: unknown metric 'latency': metrics.per_example names" in line for line in lines)
    assert len(lines) == 2


def test_a_model_config_still_needs_task_and_target(tmp_path: Path):
    path = tmp_path / "mlci.yaml"
    path.write_text(
        "model: {name: m, estimator: sklearn.linear_model.LogisticRegression}\n"
        "data: {train: a.csv, test: b.csv}\nmetrics: {primary: correct}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = sorted(caught.value.lines())
    assert lines == [
        f"{path}:1 model.task: required field is missing",
        f"{path}:2 data.target: required field is missing",
        f"{path}:3 metrics.primary: unknown metric 'correct' (known: " + lines[2].split("(known: ")[1],
    ]
