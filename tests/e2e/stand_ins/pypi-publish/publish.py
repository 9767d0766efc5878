"""The pypa/gh-action-pypi-publish stand-in: check the dists as twine and PyPI would, then "upload".

The real action (twine-upload.sh) warns when the directory holds no .whl or .tar.gz, runs
`twine check DIR/*` unless verify-metadata is false, and runs `twine upload DIR/*`; PyPI
refuses a file it already has (unless skip-existing) and a file whose name disagrees with its
metadata. This script does the same with the standard library (twine is not installed on the
runner) and copies each file into $E2E_OUT/pypi/, the index a test reads back.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

# PEP 427 wheel names and PEP 625 sdist names: {name}-{version}(-...).whl / {name}-{version}.tar.gz
WHEEL = re.compile(r"(?P<name>[^-]+)-(?P<version>[^-]+)(-[^-]+)?-[^-]+-[^-]+-[^-]+\.whl")
SDIST = re.compile(r"(?P<name>.+)-(?P<version>[^-]+)\.tar\.gz")


def metadata(path: Path) -> dict[str, str]:
    """Return the core metadata headers of a wheel (.dist-info/METADATA) or an sdist (PKG-INFO)."""
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as wheel:
            names = [n for n in wheel.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
            if len(names) != 1:
                raise ValueError("no .dist-info/METADATA")
            text = wheel.read(names[0]).decode()
    else:
        with tarfile.open(path) as sdist:
            names = [n for n in sdist.getnames() if re.fullmatch(r"[^/]+/PKG-INFO", n)]
            member = sdist.extractfile(names[0]) if len(names) == 1 else None
            if member is None:
                raise ValueError("no top-level PKG-INFO")
            text = member.read().decode()
    headers = HeaderParser().parsestr(text)
    return {key: str(headers[key]) for key in ("Metadata-Version", "Name", "Version") if headers[key]}


def check(path: Path) -> None:
    """Fail like `twine check` / PyPI's upload for a file that is no valid distribution."""
    found = WHEEL.fullmatch(path.name) or SDIST.fullmatch(path.name)
    if found is None:
        raise ValueError(f"InvalidDistribution: Unknown distribution format: '{path.name}'")
    meta = metadata(path)
    missing = [key for key in ("Metadata-Version", "Name", "Version") if key not in meta]
    if missing:
        raise ValueError(f"{path.name}: the metadata lacks {', '.join(missing)}")
    normalized = re.sub(r"[-_.]+", "_", meta["Name"]).lower()
    if found.group("name").lower() != normalized or found.group("version") != meta["Version"]:
        raise ValueError(
            f"400 The filename of {path.name} does not match its metadata "
            f"(Name {meta['Name']!r}, Version {meta['Version']!r})"
        )


def main(directory: str) -> int:
    packages = Path(directory)
    files = sorted(p for p in packages.glob("*") if p.is_file())
    if not any(p.name.endswith((".whl", ".tar.gz")) for p in files):
        print(
            "::warning file=# >> PyPA publish to PyPI GHA%3A MISSING DISTS << ::It looks like there are no "
            f'Python distribution packages to publish in the directory "{packages}/".'
        )
    index = Path(os.environ["E2E_OUT"]) / "pypi"
    index.mkdir(parents=True, exist_ok=True)
    skip_existing = os.environ.get("SKIP_EXISTING", "false").lower() != "false"
    try:
        if os.environ.get("VERIFY", "true").lower() != "false":
            for path in files:
                check(path)
                print(f"Checking {path}: PASSED")
        for path in files:
            if (index / path.name).exists():
                if skip_existing:
                    print(f"Skipping {path.name} because it appears to already exist")
                    continue
                raise ValueError(f"400 File already exists ('{path.name}')")
            shutil.copy2(path, index / path.name)
            print(f"Uploading {path.name}")
    except (ValueError, OSError, zipfile.BadZipFile, tarfile.TarError) as e:
        print(f"::error::{e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
