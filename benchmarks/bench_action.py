"""The composite action through act: time to mlci's first output on a cold and on a warm runner.

Run: `python -m benchmarks.bench_action`; prints one JSON line. Both runs execute
tests/e2e/workflows/config-check.yml (`mlci config check`) in act's host mode with the
actions/cache and setup-python stand-ins of tests/e2e/stand_ins/:
- cold: an empty tool cache and an empty actions/cache store: the action installs mlci;
- warm: the tool cache deleted again (a fresh hosted runner), the store kept: actions/cache
  restores the environment saved by the cold run.
The clock starts when act starts and stops at the first line mlci prints; the ratio
cold/warm is the figure to watch (act's own start-up is in both).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT

FIRST_OUTPUT = "mlci.yaml: valid"


def _repo(tmp: Path) -> Path:
    from tests.e2e.conftest import CHECKOUT, JUNK, ORIGIN, git

    root = tmp / "ml-repo"
    root.mkdir()
    for name in CHECKOUT:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, root / name, ignore=shutil.ignore_patterns(*JUNK))
        elif path.exists():
            shutil.copy2(path, root / name)
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", ORIGIN)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "bench")
    return root


def _run(root: Path, cache: Path, store: Path, event: Path) -> dict[str, Any]:
    from tests.e2e.conftest import STAND_INS, WORKFLOWS, act_binary, host_env

    cmd = [
        act_binary(), "push", "-C", str(root), "-W", str(WORKFLOWS / "config-check.yml"), "-e", str(event),
        "-P", "ubuntu-latest=-self-hosted", "--container-daemon-socket", "-", "--action-cache-path", str(cache),
        "--no-cache-server", "--defaultbranch", "main",
        "--local-repository", f"actions/setup-python@v5={STAND_INS / 'setup-python'}",
        "--local-repository", f"actions/cache@v4={STAND_INS / 'cache'}",
        "--env", f"E2E_CACHE_STORE={store}", "--env", f"E2E_SRC={root}",
    ]  # fmt: skip
    start = time.monotonic()
    first: float | None = None
    log: list[str] = []
    proc = subprocess.Popen(cmd, cwd=root, env=host_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        log.append(line)
        if first is None and FIRST_OUTPUT in line:
            first = time.monotonic() - start
    code = proc.wait(timeout=900)
    total = time.monotonic() - start
    text = "".join(log)
    if code != 0 or first is None:
        raise RuntimeError(f"act exited {code}:\n{text[-3000:]}")
    return {
        "first_output_seconds": round(first, 2),
        "total_seconds": round(total, 2),
        "installed": "installing mlci into" in text,
        "restored": "Cache restored from key:" in text,
    }


def run() -> dict[str, Any]:
    """Return the cold and warm times to mlci's first output (and their ratio)."""
    with tempfile.TemporaryDirectory(prefix="bench-action-") as tmp_name:
        tmp = Path(tmp_name)
        root = _repo(tmp)
        cache, store = tmp / "act-cache", tmp / "store"
        event = tmp / "event.json"
        event.write_text(json.dumps({"ref": "refs/heads/main", "after": "0" * 40}))
        cold = _run(root, cache, store, event)
        shutil.rmtree(cache / "tool_cache" / "mlci")
        warm = _run(root, cache, store, event)
    return {
        "name": "action_cold_vs_warm",
        "cold": cold,
        "warm": warm,
        "seconds": warm["first_output_seconds"],
        "ratio_cold_to_warm": round(cold["first_output_seconds"] / warm["first_output_seconds"], 1),
    }


if __name__ == "__main__":
    print(json.dumps(run()))
    sys.exit(0)
