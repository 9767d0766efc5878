"""Inputs that would hang a reader or blow up a parser are refused at once, in one line.

A FIFO named as a table or as the config, a FIFO or symlink inside a bundle, a YAML bomb: each
runs as a real `mlci` process under a deadline, since a reader opening a FIFO would wait for a
writer forever and an expanding bomb would never end.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support.bundles import GOOD
from tests.support.cli import mlci_env, one_line, run_process
from tests.support.project import ProjectCopy


@pytest.fixture
def pushed(project: ProjectCopy, trained) -> tuple[ProjectCopy, str]:
    """The example project (local registry) with a small trained version pushed; returns it and that version."""
    return project, project.push(trained(params=GOOD))


def test_a_fifo_named_as_data_train_or_as_the_config_is_refused_at_once(project):
    train = project / "data" / "train.csv"
    train.unlink()
    os.mkfifo(train)
    os.mkfifo(project / "fifo.yaml")

    run = project.process("validate", "--data", "train", timeout=60)
    config = project.process("-c", "fifo.yaml", "config", "check", timeout=60)

    assert run.returncode == 2, run.stderr
    assert one_line(run.stderr) == f"{train}: is a FIFO, not a regular file; mlci reads tables only from regular files"
    assert config.returncode == 2, config.stderr
    assert one_line(config.stderr) == "fifo.yaml: not a regular file; mlci reads its config only from a file"


def test_yaml_bomb_in_mlci_yaml_is_refused_at_once(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    (tmp_path / "mlci.yaml").write_text("\n".join(lines) + "\nmodel: *a9\n")
    assert (tmp_path / "mlci.yaml").stat().st_size < 2048
    # A whole process with a 30 s bound: the bomb is refused at once, not after it expanded.
    run = run_process(tmp_path, "config", "check", env=mlci_env(), timeout=30)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == (
        "mlci.yaml:6 YAML anchors and aliases expand to more than 100,000 nodes; refusing to load (a YAML bomb?) "
        "(write the values out instead of nesting aliases)"
    )


def test_a_symlink_or_fifo_in_a_bundle_is_refused_by_push(pushed, trained, tmp_path):
    project, _ = pushed
    good = trained(params=GOOD)
    for kind in ("symlink", "fifo"):
        bundle = tmp_path / kind
        shutil.copytree(good, bundle)
        (bundle / "smoke.parquet").unlink()
        if kind == "symlink":
            (bundle / "smoke.parquet").symlink_to(good / "smoke.parquet")
        else:
            os.mkfifo(bundle / "smoke.parquet")
        # A whole process with a bound: opening a FIFO for reading would block it forever.
        run = project.process("push", str(bundle), timeout=60)
        assert run.returncode == 2, run.stderr
        what = "a symlink" if kind == "symlink" else "not a regular file"
        assert f"smoke.parquet: is {what}; a bundle holds only regular files" in run.stderr
