"""The action's `requirements` input, its scripts run by bash without act: the files' sha256 key the cache,
mlci and the user's requirements are installed in one pip run, and a complete environment is used without pip.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import yaml

from tests.support.paths import ROOT


def _script(name: str) -> str:
    steps = yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]
    return str(next(step["run"] for step in steps if step.get("name") == name))


def _outputs(path: Path) -> dict[str, str]:
    """Return the outputs a step wrote to $GITHUB_OUTPUT (name=value and name<<EOF blocks)."""
    found: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if "<<" in line:
            name, _, end = line.partition("<<")
            found[name] = "\n".join(iter(lambda: next(lines), end))
        else:
            name, _, value = line.partition("=")
            found[name] = value
    return found


def _key(repo: Path, tmp: Path, requirements: str) -> subprocess.CompletedProcess[str]:
    output = tmp / "output"
    output.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_OUTPUT": str(output),
        "RUNNER_TEMP": str(tmp),
        "MLCI_REQUIREMENTS": requirements,
        "MLCI_WORKDIR": str(repo),
    }
    return subprocess.run(["bash", "-c", _script("Key mlci's environment")], env=env, capture_output=True, text=True)


def test_the_cache_key_covers_the_requirement_files_and_a_missing_one_is_one_error(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "requirements.txt").write_text("lightgbm==4.7.0\n")
    (repo / "gpu.txt").write_text("onnxruntime-gpu\n")
    keyed = _key(repo, tmp_path, "requirements.txt\ngpu.txt")
    assert keyed.returncode == 0, keyed.stderr
    first = _outputs(tmp_path / "output")
    assert first["requirements"].split("\n") == [str(repo / "requirements.txt"), str(repo / "gpu.txt")]
    (repo / "requirements.txt").write_text("lightgbm==4.6.0\n")
    assert _key(repo, tmp_path, "requirements.txt gpu.txt").returncode == 0
    second = _outputs(tmp_path / "output")
    assert second["key"] != first["key"] and second["path"] != first["path"]
    assert _key(repo, tmp_path, "").returncode == 0
    assert _outputs(tmp_path / "output")["key"] not in (first["key"], second["key"])
    missing = _key(repo, tmp_path, "requirements.txt missing.txt")
    assert missing.returncode == 2
    assert (
        missing.stdout.strip()
        == f"::error title=mlci::requirements: missing.txt does not exist in working-directory '{repo}'"
    )


# python3 -m venv DIR makes a venv whose pip only records how it was called and whose python imports mlci.
_FAKE_PYTHON = """#!/bin/bash
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/bash\\necho "$*" >> %s\\n' "$PIP_LOG" > "$3/bin/pip"
  printf '#!/bin/bash\\nexit 0\\n' > "$3/bin/python"
  chmod +x "$3/bin/pip" "$3/bin/python"
  exit 0
fi
exit 1
"""


def test_mlci_and_the_requirements_install_in_one_pip_run_and_a_complete_environment_needs_no_pip(
    tmp_path: Path,
) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python3").write_text(_FAKE_PYTHON)
    (fake / "python3").chmod(stat.S_IRWXU)
    log, venv = tmp_path / "pip.log", tmp_path / "venv"
    env = {
        "PATH": f"{fake}:{os.environ['PATH']}",
        "PIP_LOG": str(log),
        "GITHUB_ACTION_PATH": str(ROOT),
        "GITHUB_ENV": str(tmp_path / "env"),
        "MLCI_VENV": str(venv),
        "MLCI_REQUIREMENT_PATHS": "/repo/requirements.txt\n/repo/gpu.txt\n",
    }
    install = _script("Install mlci from the action's checkout")
    first = subprocess.run(["bash", "-c", install], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert log.read_text().splitlines() == [
        f"install --quiet --disable-pip-version-check --no-compile {ROOT} -r /repo/requirements.txt -r /repo/gpu.txt"
    ]
    again = subprocess.run(["bash", "-c", install], env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "mlci's environment is ready" in again.stdout
    assert len(log.read_text().splitlines()) == 1  # restored and complete: no pip
