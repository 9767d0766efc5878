"""Helpers the benchmarks share: the example project at any size, timed subprocesses, the machine.

The example's tables come from `examples/churn/generate.py:make(rows, seed)`; a generated
table is kept in `benchmarks/.data/` (git-ignored) so a second size or a re-run does not pay
for generating it again (10M rows take ~40 s to generate).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "churn"
DATA_CACHE = ROOT / "benchmarks" / ".data"
SEED = 11
# The example splits its table 3:1 into train and test; the benchmarks keep that ratio.
TRAIN_SHARE = 0.75
MLCI = [sys.executable, "-m", "mlci"]


def clean_env(**extra: str) -> dict[str, str]:
    """Return this environment less GitHub Actions and mlci variables, so nothing posts or redirects."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "INPUT_", "MLCI_"))}
    env.setdefault("GX_ANALYTICS_ENABLED", "false")
    env.update(extra)
    return env


def example_table(rows: int, seed: int = SEED) -> Path:
    """Return a Parquet file of the example's table at `rows` rows (generated once, then reused)."""
    DATA_CACHE.mkdir(parents=True, exist_ok=True)
    path = DATA_CACHE / f"churn-{rows}-{seed}.parquet"
    if not path.exists():
        if str(EXAMPLE) not in sys.path:
            sys.path.insert(0, str(EXAMPLE))
        from generate import make  # the example's own deterministic generator

        partial = path.with_suffix(".partial")
        make(rows=rows, seed=seed).to_parquet(partial, index=False)
        partial.rename(path)
    return path


def project(where: Path, rows: int, seed: int = SEED) -> Path:
    """Return a copy of examples/churn in `where` whose train/test tables are Parquet files of `rows` rows in all."""
    import pandas as pd

    dest = where / "churn"
    shutil.copytree(
        EXAMPLE,
        dest,
        ignore=shutil.ignore_patterns(".mlci", "__pycache__", "report.md", "comparison.json", "data"),
    )
    frame = pd.read_parquet(example_table(rows, seed))
    cut = int(rows * TRAIN_SHARE)
    (dest / "data").mkdir()
    frame.iloc[:cut].to_parquet(dest / "data" / "train.parquet", index=False)
    frame.iloc[cut:].to_parquet(dest / "data" / "test.parquet", index=False)
    text = (dest / "mlci.yaml").read_text()
    text = text.replace("data/train.csv", "data/train.parquet").replace("data/test.csv", "data/test.parquet")
    (dest / "mlci.yaml").write_text(text)
    # The production model of these benchmarks: the same estimator, fewer boosting rounds.
    (dest / "baseline.yaml").write_text(re.sub(r"max_iter: \d+", "max_iter: 30", text))
    return dest


@dataclass
class Measured:
    """One timed process: wall seconds, its own peak RSS, exit code and output."""

    seconds: float
    peak_mib: int
    code: int
    out: str
    err: str


# Runs the command under a tiny wrapper, so ru_maxrss is that command's own peak (a process's
# RUSAGE_CHILDREN is the max over all its children, which would mix the benchmark's sides).
_WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[2:], capture_output=True, text=True)
wall = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
with open(sys.argv[1], "w") as f:
    json.dump({"seconds": wall, "peak_mib": peak, "code": p.returncode, "out": p.stdout, "err": p.stderr}, f)
"""


def measure(
    cmd: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    ok: tuple[int, ...] = (0,),
    timeout: float = 1800,
) -> Measured:
    """Return the wall time and peak memory of `cmd` as a whole process; RuntimeError on an unexpected exit."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result_file = Path(f.name)
    try:
        subprocess.run(
            [sys.executable, "-c", _WRAPPER, str(result_file), *cmd],
            cwd=cwd,
            env=env if env is not None else clean_env(),
            check=True,
            timeout=timeout,
        )
        raw = json.loads(result_file.read_text())
    finally:
        result_file.unlink(missing_ok=True)
    m = Measured(float(raw["seconds"]), int(raw["peak_mib"]), int(raw["code"]), raw["out"], raw["err"])
    if m.code not in ok:
        tail = (m.err or m.out).strip().splitlines()[-15:]
        raise RuntimeError(f"{' '.join(map(str, cmd[:6]))} exited {m.code}:\n" + "\n".join(tail))
    return m


def run_ok(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 1800) -> str:
    """Run an untimed setup step; return its stdout, RuntimeError with its stderr tail when it fails."""
    p = subprocess.run(
        cmd, cwd=cwd, env=env if env is not None else clean_env(), capture_output=True, text=True, timeout=timeout
    )
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-15:]
        raise RuntimeError(f"{' '.join(map(str, cmd[:6]))} exited {p.returncode}:\n" + "\n".join(tail))
    return p.stdout


def machine() -> dict[str, Any]:
    """Return the CPU model, cores, memory, OS and Python of this machine (from /proc where it exists)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def library_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Return the installed version of each distribution in `names` that is installed."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
