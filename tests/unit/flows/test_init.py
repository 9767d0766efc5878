"""`mlci init`: a working project from a sample of the user's data, and no silent overwrites."""

from __future__ import annotations

import json
import shutil

from tests.support.paths import EXAMPLE, ROOT


def test_init_writes_config_suite_and_workflows_that_work(mlci, tmp_path):
    (tmp_path / "data").mkdir()
    shutil.copy(EXAMPLE / "data" / "train.csv", tmp_path / "data" / "train.csv")
    run = mlci("init", "--data", "data/train.csv", "--target", "churned", cwd=tmp_path)
    assert run.returncode == 0, run.text
    suite = json.loads((tmp_path / "expectations" / f"{tmp_path.name}.json").read_text())
    kinds = {e["type"] for e in suite["expectations"]}
    assert {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
    } <= kinds
    workflows = sorted(p.name for p in (tmp_path / ".github" / "workflows").iterdir())
    assert workflows == sorted(p.name for p in (ROOT / "workflows").glob("*.yml"))
    config = (tmp_path / "mlci.yaml").read_text()
    assert "customer_id" in config and '"email"' not in config.split("features:")[1].splitlines()[0]
    assert mlci("config", "check", cwd=tmp_path).returncode == 0
    # The suite was drawn from this data, so the data meets it.
    validated = mlci("validate", cwd=tmp_path)
    assert validated.returncode == 0, validated.text


def test_init_refuses_to_overwrite_without_force(mlci, tmp_path):
    shutil.copy(EXAMPLE / "data" / "train.csv", tmp_path / "t.csv")
    (tmp_path / "mlci.yaml").write_text("# mine\n")
    refused = mlci("init", "--data", "t.csv", cwd=tmp_path)
    assert refused.returncode == 2 and "would overwrite" in refused.stderr and "--force" in refused.stderr
    assert (tmp_path / "mlci.yaml").read_text() == "# mine\n"
    forced = mlci("init", "--data", "t.csv", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and "churned" in (tmp_path / "mlci.yaml").read_text()
