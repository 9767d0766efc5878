"""Check a release tag against mlci's version; print the major tag it moves.

`python scripts/release_tag.py v1.2.3` exits 0 and prints `v1` when mlci/__init__.py says
`__version__ = "1.2.3"`, else exits 1 with one line saying which disagrees and what to do.
Read with a regular expression, not an import: the release job checks before installing anything.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

TAG = re.compile(r"v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
VERSION = re.compile(r'^__version__ = "([^"]+)"$', re.M)


def major_tag(tag: str, init: Path) -> str:
    """Return the major tag (`v1`) a release tag moves; ValueError when the tag is no release or disagrees."""
    found = TAG.fullmatch(tag)
    if found is None:
        raise ValueError(f"tag {tag!r} is not a release tag vX.Y.Z")
    declared = VERSION.search(init.read_text(encoding="utf-8"))
    if declared is None:
        raise ValueError(f"{init}: no `__version__ = \"X.Y.Z\"` line")
    if declared.group(1) != tag[1:]:
        raise ValueError(
            f"tag {tag} disagrees with {init}'s __version__ = {declared.group(1)!r}: "
            f"set __version__ = \"{tag[1:]}\" in a commit and tag that commit"
        )
    return f"v{found.group(1)}"


if __name__ == "__main__":
    # Named relative to the repository root, so the one line never shows the runner's directories.
    os.chdir(Path(__file__).resolve().parent.parent)
    try:
        print(major_tag(sys.argv[1] if len(sys.argv) > 1 else "", Path("mlci") / "__init__.py"))
    except ValueError as e:
        print(f"release: {e}", file=sys.stderr)
        sys.exit(1)
