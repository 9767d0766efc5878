"""Cold start of the CLI: `mlci --help` and `mlci --version` wall time (target under 0.2 s).

Run: `python -m benchmarks.bench_startup`; prints one JSON line. Each command runs a few
times in fresh interpreters and the median is kept; the ratio is against a bare
`python -c pass` measured in the same run, so a noisy machine moves both alike.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

TARGET_SECONDS = 0.2


def _median_wall(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(repeats: int = 7) -> dict[str, Any]:
    """Return the median wall time of `mlci --help`, `mlci --version` and a bare interpreter."""
    python = [sys.executable]
    bare = _median_wall([*python, "-c", "pass"], repeats)
    helped = _median_wall([*python, "-m", "mlci", "--help"], repeats)
    version = _median_wall([*python, "-m", "mlci", "--version"], repeats)
    worst = max(helped, version)
    return {
        "name": "cold_start",
        "help_seconds": round(helped, 4),
        "version_seconds": round(version, 4),
        "bare_python_seconds": round(bare, 4),
        "ratio_to_bare_python": round(worst / bare, 2),
        "seconds": round(worst, 4),
        "target_seconds": TARGET_SECONDS,
        "met": worst < TARGET_SECONDS,
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 7)))
