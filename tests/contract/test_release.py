"""The release workflow checks its tag against mlci's version and moves the major tag users pin."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.support.paths import ROOT

RELEASE = ROOT / ".github" / "workflows" / "release.yml"


def release_tag() -> ModuleType:
    spec = importlib.util.spec_from_file_location("release_tag", ROOT / "scripts" / "release_tag.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_tag_that_matches_the_version_moves_its_major(tmp_path: Path):
    init = tmp_path / "__init__.py"
    init.write_text('"""x"""\n\n__version__ = "1.2.3"\n')
    assert release_tag().major_tag("v1.2.3", init) == "v1"


@pytest.mark.parametrize("tag", ["v1.2.4", "v1.2", "1.2.3", "v1.2.3-rc1", "v01.2.3"])
def test_a_tag_that_disagrees_or_is_no_release_fails_in_one_line(tmp_path: Path, tag: str):
    init = tmp_path / "__init__.py"
    init.write_text('__version__ = "1.2.3"\n')
    with pytest.raises(ValueError) as e:
        release_tag().major_tag(tag, init)
    assert tag in str(e.value) and "\n" not in str(e.value)


def test_the_version_of_this_checkout_is_a_release_version():
    version = release_tag().VERSION.search((ROOT / "mlci" / "__init__.py").read_text()).group(1)
    assert release_tag().major_tag(f"v{version}", ROOT / "mlci" / "__init__.py") == f"v{version.split('.')[0]}"


def test_the_release_checks_before_it_builds_and_moves_the_major_tag_only_after_publishing():
    data = yaml.safe_load(RELEASE.read_text())
    assert data[True]["push"]["tags"] == ["v[0-9]+.[0-9]+.[0-9]+"]
    build = data["jobs"]["build"]["steps"]
    names = [s.get("name", s.get("uses", "")) for s in build]
    check = names.index("Check the tag against mlci/__init__.py")
    assert check < names.index("Build the wheel and sdist")
    assert "scripts/release_tag.py" in build[check]["run"] and build[check]["env"]["TAG"] == "${{ github.ref_name }}"
    move = data["jobs"]["move-major-tag"]
    assert move["needs"] == ["build", "publish"] and move["permissions"] == {"contents": "write"}
    assert move["steps"][-1]["env"]["MAJOR"] == "${{ needs.build.outputs.major }}"
    assert data["permissions"] == {}  # every job asks for what it needs
    # PyPI's trusted publishing (the e2e stand-in cannot exchange the OIDC token): only the publish job may ask for one.
    publish = data["jobs"]["publish"]
    assert publish["permissions"] == {"id-token": "write"} and publish["environment"] == "pypi"
    assert all(
        "id-token" not in (job.get("permissions") or {}) for name, job in data["jobs"].items() if name != "publish"
    )
