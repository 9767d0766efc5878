"""The results command's runner: no shell, its process group killed at the deadline, secrets masked in its output."""

from __future__ import annotations

import logging
import shlex
import shutil
import sys
import time
from pathlib import Path

import pytest

from mlci.config.schema import load_config
from mlci.contracts.manifest import Manifest
from mlci.errors import TrainingError
from mlci.modeling.results import run_command

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "llm"


def project(tmp_path: Path, script: str, timeout_minutes: float, env: dict[str, str]):
    root = tmp_path / "p"
    shutil.copytree(EXAMPLE, root)
    (root / "script.py").write_text(script)
    text = (root / "mlci.yaml").read_text()
    text = text.replace("command: python eval.py", f"command: {shlex.quote(sys.executable)} script.py 'two words'")
    text = text.replace("timeout_minutes: 10", f"timeout_minutes: {timeout_minutes}")
    (root / "mlci.yaml").write_text(text)
    return load_config(root / "mlci.yaml", env=env)


def test_a_command_past_its_deadline_is_killed_with_its_children(tmp_path: Path):
    pidfile = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    config = project(tmp_path, script, 0.02, {})
    started = time.monotonic()
    with pytest.raises(
        TrainingError, match=r"model.command \(for the candidate\): .* still ran after model.timeout_minutes = 0.02"
    ):
        run_command(config, rows=tmp_path, artifacts=tmp_path, output=tmp_path / "out", label="the candidate")
    assert time.monotonic() - started < 10
    child = int(pidfile.read_text())
    for _ in range(50):  # the group's SIGKILL reaches the grandchild too
        if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the command's child outlived the deadline")


def test_argv_has_no_shell_and_secrets_are_masked_in_the_output(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    script = "import os, sys\nprint(sys.argv[1:], os.environ['MLCI_PARAMS'], os.environ['OPENAI_API_KEY'])\n"
    config = project(tmp_path, script, 1, {"OPENAI_API_KEY": "sk-secret-123456", "PATH": "/usr/bin:/bin"})
    with caplog.at_level(logging.INFO, logger="mlci.command"):
        run_command(config, rows=tmp_path, artifacts=tmp_path, output=tmp_path / "out", label="the candidate")
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert "['two words'] {}" in said
    assert "sk-secret-123456" not in said and "***" in said


def test_the_code_hash_covers_modules_the_command_imports_but_not_the_versions_artifacts_or_rows(tmp_path: Path):
    from mlci.modeling.results import code_hash

    config = project(tmp_path, "print('scored')\n", 1, {})
    root = config.base_dir
    before = code_hash(config)
    # The artifacts (what makes a version) and the evaluation rows are recorded apart from the code.
    (root / "prompts" / "template.txt").write_text("Answer briefly.\n{question}")
    with open(root / "data" / "eval.jsonl", "a") as rows:
        rows.write('{"qid": "extra", "question": "?", "answer": "!", "topic": "api"}\n')
    assert code_hash(config) == before
    # A module the command imports is code: stored baseline results no longer answer the question.
    (root / "judge.py").write_text("def score(answer):\n    return 1\n")
    assert code_hash(config) != before


def test_a_smoke_file_the_manifest_names_outside_the_bundle_is_never_read(tmp_path: Path):
    from mlci.errors import CheckFailed
    from mlci.flows.results import smoke_results
    from mlci.modeling.bundle import Bundle

    outside = tmp_path / "private.jsonl"
    outside.write_text('{"qid": "q1", "question": "secret"}\n')
    config = project(tmp_path, "raise SystemExit('the command must not run')\n", 1, {})
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    manifest = Manifest.model_validate(
        {
            "version": "0" * 16,
            "model_format": "results",
            "results": {"smoke": "../private.jsonl"},
            "files": {"../private.jsonl": "0" * 64},
        }
    )
    with pytest.raises(CheckFailed, match="has no smoke rows to smoke-test with"):
        smoke_results(config, Bundle(path=bundle, manifest=manifest), "deploy")
