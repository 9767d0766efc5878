"""Reading tables: formats, fingerprints and the clear errors for bad data."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from mlci.config.schema import load_config
from mlci.data.tables import load_datasets, read_table


def test_csv_and_parquet_read_the_same_rows_with_a_fingerprint(project, tmp_path):
    csv = project / "data" / "test.csv"
    pd.read_csv(csv).to_parquet(tmp_path / "t.parquet")
    a, b = read_table(str(csv)), read_table(str(tmp_path / "t.parquet"))
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert a.sha256 == hashlib.sha256(csv.read_bytes()).hexdigest()


def test_fingerprints_change_with_the_data(project):
    config = load_config(project / "mlci.yaml", env={})
    before = load_datasets(config).fingerprints
    path = project / "data" / "train.csv"
    path.write_text(path.read_text().replace("C100000,52", "C100000,53"))
    after = load_datasets(config).fingerprints
    assert before["test"] == after["test"] and before["train"] != after["train"]


def test_one_table_with_a_split_rule_is_split_the_same_way_every_time(project):
    text = (project / "mlci.yaml").read_text()
    text = text.replace(
        "  train: data/train.csv\n  test: data/test.csv\n", "  table: data/train.csv\n  split: {test_size: 0.2}\n"
    )
    (project / "mlci.yaml").write_text(text)
    config = load_config(project / "mlci.yaml", env={})
    one, two = load_datasets(config), load_datasets(config)
    assert len(one.test) == 600 and len(one.train) == 2400
    pd.testing.assert_frame_equal(one.test, two.test)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: (d / "train.csv").unlink(), "train.csv: no such file"),
        (lambda d: (d / "train.csv").write_text(""), "train.csv: the file is empty"),
        (lambda d: (d / "train.csv").write_text("a,b,churned\n"), "train.csv: the table has no rows"),
        (
            lambda d: (d / "train.csv").write_text("a,b\n1,2\n"),
            "train.csv: no column 'churned' (data.target in mlci.yaml)",
        ),
        (lambda d: (d / "train.csv").write_bytes(b'a,"b\n\x00\x01'), "train.csv: cannot parse as CSV"),
    ],
)
def test_bad_data_is_exit_2_with_one_clear_line(project, change, message):
    change(project / "data")
    run = project.run("validate")
    assert run.returncode == 2, run.text
    assert message in run.stderr
    assert "Traceback" not in run.text
    assert len(run.stderr.strip().splitlines()) == 1
