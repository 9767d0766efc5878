"""`mlci demo`: the whole lifecycle on a copy of examples/churn, with a local registry."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlci.config.schema import WORK_DIR
from mlci.errors import NotFoundError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn"


@dataclass
class Step:
    """One command of the demo and what it is meant to show."""

    say: str
    args: list[str]
    estimator: tuple[str, str] | None = None  # (dotted path, params as YAML flow mapping)
    expect: int = 0


STEPS = [
    Step(
        "1. A first model: a shallow decision tree. No production model exists yet, so the "
        "check can only apply absolute thresholds (verdict: bootstrap).",
        ["check"],
        ("sklearn.tree.DecisionTreeClassifier", "{max_depth: 2}"),
    ),
    Step("   It becomes the production model.", ["promote", "candidate", "--to", "production"]),
    Step(
        "2. A pull request proposes gradient boosting. The check compares it with production on the "
        "same test rows, with confidence intervals and per-slice gates.",
        ["check"],
        ("sklearn.ensemble.HistGradientBoostingClassifier", "{max_iter: 100, learning_rate: 0.05, max_depth: 3}"),
    ),
    Step("   It passed, so it is merged and promoted.", ["promote", "candidate", "--to", "production"]),
    Step(
        "3. Another pull request tries a deep, overfitting tree. The gates reject it (exit 1), "
        "naming each failed gate with its numbers.",
        ["check"],
        ("sklearn.tree.DecisionTreeClassifier", "{max_depth: 12}"),
        expect=1,
    ),
    Step("4. The registry remembers every version, alias move and check.", ["history"]),
]


def _set_estimator(config: Path, dotted: str, params: str) -> None:
    text = config.read_text()
    text = re.sub(r"(?m)^  estimator: .*$", f"  estimator: {dotted}", text)
    text = re.sub(r"(?m)^  params:.*\n(?:    .*\n)*", f"  params: {params}\n", text)
    config.write_text(text)


def run(echo: Callable[[str], None], env: Mapping[str, str], keep: bool = True) -> int:
    """Run the demo, printing commentary and each command's output; return 0 when every step did as expected.

    `env` is the process environment; the demo's commands run without its GitHub variables.
    """
    if not (EXAMPLE / "mlci.yaml").exists():
        raise NotFoundError(f"{EXAMPLE}: the example project is missing (mlci demo runs from a source checkout)")
    work = Path(tempfile.mkdtemp(prefix="mlci-demo-"))
    project = work / "churn"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(WORK_DIR, "__pycache__", "*.md", "*.json.bak"))
    env = {k: v for k, v in env.items() if not k.startswith(("GITHUB_", "MLCI_"))}
    echo(f"mlci demo in {project} (a copy of examples/churn; registry at .mlci/registry)\n")
    surprises = 0
    try:
        for step in STEPS:
            echo(step.say)
            if step.estimator:
                _set_estimator(project / "mlci.yaml", *step.estimator)
                echo(f"   (mlci.yaml: model.estimator = {step.estimator[0]}, params = {step.estimator[1]})")
            echo(f"$ mlci {' '.join(step.args)}")
            proc = subprocess.run(
                [sys.executable, "-m", "mlci", *step.args], cwd=project, env=env, capture_output=True, text=True
            )
            for line in (proc.stdout + proc.stderr).rstrip().splitlines():
                echo(f"    {line}")
            echo(f"    [exit {proc.returncode}]\n")
            if proc.returncode != step.expect:
                surprises += 1
                echo(f"    unexpected: this step should exit {step.expect}\n")
        if keep:
            echo(f"The report of the last check is in {project / 'report.md'}.")
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if surprises else 0
