"""`mlci drift` on fresh data against the production model's training profile, and fresh data retrain cannot read."""

from __future__ import annotations

import json

import pytest

from tests.support.churn_data import drifted, generate
from tests.support.project import ProjectCopy


@pytest.fixture
def deployed(project: ProjectCopy) -> ProjectCopy:
    """The example with its model checked and deployed to production (built once a session, copied here)."""
    return project.with_production()


def test_drift_of_same_and_shifted_data_and_unseen_categories(deployed):
    generate(deployed, 2000, seed=5).to_csv(deployed / "same.csv", index=False)
    same = deployed.run("--json", "drift", "--current", "same.csv")
    assert same.returncode == 0, same.stderr
    doc = json.loads(same.stdout)
    assert doc["status"] == "ok" and all(f["status"] == "ok" for f in doc["features"])

    drifted(deployed, unseen=True).to_csv(deployed / "shifted.csv", index=False)
    shifted = deployed.run("drift", "--current", "shifted.csv")
    assert shifted.returncode == 1
    rows = shifted.stdout.splitlines()[2:]
    failing = {line.split()[0] for line in rows if " fail " in f" {line} "}
    assert {"monthly_charges", "contract"} <= failing
    plan = next(line for line in rows if line.startswith("plan "))
    assert "enterprise" in plan


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "fresh.csv: no such file"), ("tenure_months,plan,churned\n", "fresh.csv: the table has no rows")],
)
def test_missing_or_empty_fresh_data_is_exit_2(deployed, content, message):
    if content is not None:
        (deployed / "fresh.csv").write_text(content)
    for args in (["drift", "--current", "fresh.csv"],):
        result = deployed.run(*args)
        assert result.returncode == 2, result.stdout + result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
    result = deployed.with_retrain(data="fresh.csv").run("retrain")
    assert result.returncode == 2 and message in result.stderr
