"""This repository's release workflow (.github/workflows/release.yml), unchanged, under act.

A tag push runs its three jobs (act runs the file as shipped but for `queue: max`, which its
schema does not know yet; conftest.without_queue) on a copy of this repository: build (the tag checked against
mlci/__init__.py by scripts/release_tag.py, then `python -m build`), publish (the
pypa/gh-action-pypi-publish stand-in checks the dists like twine and PyPI and keeps them in
$E2E_OUT/pypi) and move-major-tag (the release and the major tag through the REST API at
GITHUB_API_URL, here the GitHub API test server, with a token holding that job's permissions).
The artifact between the jobs goes through the upload/download-artifact stand-ins.
"""

from __future__ import annotations

import re
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import ORIGIN, Act, ActRun, Repo, git, load_event, without_queue, workflow_token
from tests.support.github_server import GitHubServer
from tests.support.paths import ROOT
from tests.support.s3_server import SeaweedFS

pytestmark = pytest.mark.slow

RELEASE = ROOT / ".github" / "workflows" / "release.yml"


def set_version(root: Path, version: str) -> None:
    init = root / "mlci" / "__init__.py"
    init.write_text(re.sub(r'(?m)^__version__ = ".*"$', f'__version__ = "{version}"', init.read_text()))


@pytest.fixture
def release_act(
    act_cache: Path,
    cache_store: Path,
    source: Path,
    github_server: GitHubServer,
    s3_server: SeaweedFS,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> Act:
    """Return a runner whose repository is a copy of mlci's (what release.yml's checkout gets) at 1.2.2, committed."""
    root = tmp_path / "mlci"
    shutil.copytree(source, root, ignore=shutil.ignore_patterns("examples"))
    shutil.copytree(ROOT / ".github", root / ".github")
    set_version(root, "1.2.2")
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", ORIGIN)
    repo = Repo(root=root, project=root, bucket="")
    previous = repo.commit("Release 1.2.2")
    github_server.add_ref("refs/tags/v1", previous)  # v1 follows the last release
    runner = Act(act_cache, cache_store, repo, github_server, s3_server, tmp_path / "act", record=record_property)
    runner.tmp.mkdir()
    return runner


def push_tag(act: Act, version: str, tag: str, **options: Path) -> tuple[str, ActRun]:
    """Commit `version` into mlci/__init__.py, push `tag` on that commit; return its sha and the run."""
    set_version(act.repo.root, version)
    sha = act.repo.commit(f"Release {version}")
    git(act.repo.root, "tag", tag)
    act.github.add_commit(sha, f"Release {version}")
    act.github.add_ref(f"refs/tags/{tag}", sha)
    event = load_event("push_tag", ref=f"refs/tags/{tag}", after=sha)
    event["head_commit"].update(id=sha, message=f"Release {version}")
    # The job that calls the API gets a token with its own `permissions:` (contents: write).
    token = workflow_token(act.github, RELEASE, job="move-major-tag")
    act.tokens.append(token)
    workflow = without_queue(RELEASE, act.tmp / "workflows")  # act's schema predates `queue`; see there
    return sha, act(workflow, "push", event, token=token, secrets={}, **options)


def dist_version(path: Path) -> str:
    """Return the version a wheel's METADATA or an sdist's PKG-INFO declares."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            text = wheel.read("mlci-1.2.3.dist-info/METADATA").decode()
    else:
        with tarfile.open(path) as sdist:
            member = sdist.extractfile("mlci-1.2.3/PKG-INFO")
            assert member is not None
            text = member.read().decode()
    found = re.search(r"(?m)^Version: (.+)$", text)
    assert found is not None, path.name
    return found.group(1)


def test_a_release_tag_builds_publishes_and_moves_the_major_tag(
    release_act: Act, github_server: GitHubServer, runner_python: Path
):
    before = github_server.ref("refs/tags/v1")
    sha, run = push_tag(release_act, "1.2.3", "v1.2.3", path_first=runner_python)
    run.assert_ok()
    out = release_act.tmp / "run-1"
    built = sorted(p.name for p in (out / "artifacts" / "dist").iterdir())
    assert built == ["mlci-1.2.3-py3-none-any.whl", "mlci-1.2.3.tar.gz"]
    # PyPI got exactly what the build job built, and the files say 1.2.3 inside.
    published = sorted((out / "pypi").iterdir())
    assert [p.name for p in published] == built
    assert all(p.read_bytes() == (out / "artifacts" / "dist" / p.name).read_bytes() for p in published)
    assert [dist_version(p) for p in published] == ["1.2.3", "1.2.3"]
    with zipfile.ZipFile(published[0]) as wheel:
        assert '__version__ = "1.2.3"' in wheel.read("mlci/__init__.py").decode()
    # The GitHub release holds the same files, and v1 moved from the previous release to this commit.
    (release,) = github_server.releases()
    assert release["tag_name"] == "v1.2.3" and release["name"] == "v1.2.3"
    assert {name: len(data) for name, data in release["assets"].items()} == {
        p.name: p.stat().st_size for p in published
    }
    assert before != sha and github_server.ref("refs/tags/v1") == sha
    (moved,) = github_server.requests_for("PATCH", "/git/refs/tags/v1")
    assert moved.body == {"sha": sha, "force": True} and moved.status == 200
    assert f"released v1.2.3; v1 now points at {sha}" in run.log
    release_act.assert_no_secret_in_logs()


def test_a_tag_that_disagrees_with_the_version_fails_the_build_and_publishes_nothing(
    release_act: Act, github_server: GitHubServer
):
    before = github_server.ref("refs/tags/v1")
    _, run = push_tag(release_act, "1.2.3", "v1.2.4")
    assert run.code != 0
    refused = [line for line in run.log.splitlines() if "release: " in line]
    assert len(refused) == 1 and "[release/build" in refused[0], run.log[-3000:]
    assert "release: tag v1.2.4 disagrees with mlci/__init__.py's __version__ = '1.2.3'" in refused[0]
    assert str(release_act.cache) not in refused[0]  # no runner-local path
    assert 'set __version__ = "1.2.4" in a commit and tag that commit' in refused[0]
    assert "Traceback" not in run.log
    # The build stopped at the check: nothing built, published, released or moved.
    out = release_act.tmp / "run-1"
    assert not (out / "artifacts").exists() and not (out / "pypi").exists()
    assert "[release/publish" not in run.log and "[release/move-major-tag" not in run.log
    assert github_server.releases() == [] and github_server.ref("refs/tags/v1") == before
    assert github_server.requests == []
