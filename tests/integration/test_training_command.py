"""The user's training command: its failures are one line with exit 2, its output streams masked, its
deadline kills every process it started.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from mlci.errors import TrainingError
from mlci.modeling.command import run_command
from tests.support.frameworks import tiny_project
from tests.support.project import ProjectCopy


def _fails(project: ProjectCopy, command: str, says: str) -> None:
    checked = project.with_("model.command", command).run("check")
    assert checked.returncode == 2, checked.text
    last = checked.stderr.strip().splitlines()[-1]
    assert says in last, checked.text
    assert not (project.registry / "versions").exists()


def test_a_command_that_fails_writes_nothing_or_the_wrong_format_is_one_line_and_exit_2(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "repo")
    failing = "python -c \"import sys; print('step 1'); print('CUDA out of memory', file=sys.stderr); sys.exit(1)\""
    _fails(project, failing, "exited with code 1; last lines of stderr: CUDA out of memory")
    _fails(project, "python -c pass", "ended without writing model.onnx into $MLCI_OUTPUT_DIR")
    wrong = "python -c \"import os; open(os.environ['MLCI_OUTPUT_DIR'] + '/model.skops', 'wb').write(b'PK')\""
    _fails(project, wrong, "wrote model.skops, but model.format is onnx")
    _fails(project, "no-such-trainer --fast", "cannot run 'no-such-trainer': no such program")


def test_the_commands_output_streams_to_the_log_with_tokens_masked(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "repo")
    token = "ghp_" + "x7" * 18
    trained = project.run("check", env=project.env_with(GITHUB_TOKEN=token))
    assert trained.returncode == 0, trained.text
    assert "trained 6 hidden units for ***" in trained.stderr
    assert token not in trained.text


_SPAWNS = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(300)
"""


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie no one reaped yet runs nothing


def test_a_command_past_its_timeout_is_killed_with_every_process_it_started(tmp_path: Path) -> None:
    script, pid_file = tmp_path / "train.py", tmp_path / "child.pid"
    script.write_text(_SPAWNS)
    started = time.monotonic()
    with pytest.raises(TrainingError) as stopped:
        run_command(
            [sys.executable, str(script), str(pid_file)],
            cwd=tmp_path,
            env={"PATH": os.defpath},
            timeout_seconds=1.5,
        )
    assert time.monotonic() - started < 15
    assert "still ran after model.timeout_minutes = 0.025; it and its process group were killed" in str(stopped.value)
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while not _gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(grandchild)
