"""The shipped pr-check.yml with the action's `requirements` input, under act: a LightGBM model in CI.

The repository a user would have: mlci.yaml with `model.estimator: lightgbm.LGBMClassifier`
(stored with skops, its trusted types as docs/security.md lists them) and a requirements.txt
that pins lightgbm. mlci does not ship lightgbm, so only the action's `requirements` input can
put it into mlci's environment. The workflow is a copy of the shipped workflows/pr-check.yml with
exactly one line added, the `requirements: requirements.txt` its comment shows (asserted below),
since the shipped file leaves that line commented for users who need nothing more.

This environment has its own cache key and tool-cache directory (the requirement file's sha256
is part of both), so the test deletes only its own and runs beside the other act tests.
"""

from __future__ import annotations

import difflib
import json
import re
from importlib.metadata import version
from pathlib import Path

import pytest
import skops.io as sio

from tests.e2e.conftest import NO_REQUIREMENTS, Act, Repo, git, pr_event, requirements_hash, set_aside
from tests.support.frameworks import FEATURES, tables
from tests.support.github_server import GitHubServer
from tests.support.paths import ROOT
from tests.support.s3_server import SeaweedFS

pytestmark = pytest.mark.slow

REQUIREMENT = "          requirements: requirements.txt\n"
CONFIG = """\
version: 1
model:
  name: boosted
  task: classification
  estimator: lightgbm.LGBMClassifier
  params: {n_estimators: 20, num_leaves: 7, verbose: -1}
  trusted_types: [lightgbm.sklearn.LGBMClassifier, lightgbm.basic.Booster, collections.OrderedDict]
data:
  train: train.csv
  test: test.csv
  target: label
  features: [f1, f2, f3, f4]
metrics:
  primary: roc_auc
gates:
  - metric: roc_auc
    threshold: 0.6
registry:
  uri: ${MLCI_REGISTRY:-.mlci/registry}
  endpoint_url: ${S3_ENDPOINT_URL:-}
  addressing_style: path
"""


def pr_check_with_requirements(dest: Path) -> Path:
    """Write the shipped pr-check.yml with the `requirements:` input added to its mlci step; return its path."""
    shipped = (ROOT / "workflows" / "pr-check.yml").read_text()
    anchor = '          python-version: "3.11"\n'
    assert shipped.count(anchor) == 1, "pr-check.yml's mlci step no longer sets python-version"
    text = shipped.replace(anchor, anchor + REQUIREMENT)
    changed = [line for line in difflib.ndiff(shipped.splitlines(True), text.splitlines(True)) if line[0] in "+-"]
    assert changed == ["+ " + REQUIREMENT], changed  # the copy is the shipped workflow plus that one line
    path = dest / "pr-check.yml"
    path.write_text(text)
    return path


def lightgbm_checkout(dest: Path) -> Path:
    """Write the user's repository: mlci.yaml, 300 training and 200 test rows, requirements.txt pinning lightgbm."""
    dest.mkdir()
    columns = [*FEATURES, "label"]
    tables(300, 1)[columns].to_csv(dest / "train.csv", index=False)
    tables(200, 2)[columns].to_csv(dest / "test.csv", index=False)
    (dest / "mlci.yaml").write_text(CONFIG)
    # The version this machine has, so pip takes it from its local index and wheel cache.
    (dest / "requirements.txt").write_text(f"lightgbm=={version('lightgbm')}\n")
    return dest


def test_the_shipped_pr_check_installs_the_users_requirements_and_restores_them_from_the_cache(
    act: Act, repo: Repo, github_server: GitHubServer, s3_server: SeaweedFS, act_cache: Path, tmp_path: Path
):
    workflow = pr_check_with_requirements(tmp_path)
    checkout = lightgbm_checkout(tmp_path / "checkout")
    needs = requirements_hash({"requirements.txt": (checkout / "requirements.txt").read_bytes()})
    assert needs != NO_REQUIREMENTS
    variables = {"MLCI_REGISTRY": f"s3://{repo.bucket}/registry", "S3_ENDPOINT_URL": s3_server.endpoint_url}
    sha = git(repo.root, "rev-parse", "HEAD")
    github_server.add_pull(12, head_sha=sha, title="Try LightGBM", head_ref="lightgbm")

    act.own_environment = True  # venv-<code>-<needs>, beside the session's shared environment
    # A cold cache: mlci and lightgbm are installed into an environment of their own, which the
    # cache's post step saves under a key that ends with the requirement file's hash.
    first = act(
        workflow,
        "pull_request",
        pr_event("opened", 12, sha, title="Try LightGBM", head_ref="lightgbm"),
        variables=variables,
        src=checkout,
    )
    first.assert_ok()
    missed = re.search(r"Cache not found for input keys: (mlci-venv-\S+)", first.log)
    assert missed, first.log[-4000:]
    key = missed.group(1)
    assert key.endswith(f"-{needs}") and "installing mlci into" in first.log
    assert f"Cache saved with key: {key}" in first.log
    (venv,) = (act_cache / "tool_cache" / "mlci").glob(f"venv-*-{needs}")
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    assert list(venv.glob(f"lib/python3.*/site-packages/lightgbm-{version('lightgbm')}.dist-info"))

    # The comment: a LightGBM model trained and stored by the job's mlci, from that environment.
    (comment,) = github_server.comments(12)
    assert comment["body"].startswith("<!-- mlci:boosted -->") and "mlci · boosted: first model" in comment["body"]
    assert "roc_auc" in comment["body"] and "passes 1 of 1 gate" in comment["body"]
    candidate = _alias(s3_server, repo.bucket, "pr-12")  # where pr-check stores the PR's candidate
    assert candidate in comment["body"]
    manifest = json.loads(_object(s3_server, repo.bucket, f"registry/boosted/versions/{candidate}/manifest.json"))
    assert manifest["estimator"] == "lightgbm.LGBMClassifier"
    # The types the stored file names, read without loading it.
    stored = _object(s3_server, repo.bucket, f"registry/boosted/versions/{candidate}/model.skops")
    assert {"lightgbm.sklearn.LGBMClassifier", "lightgbm.basic.Booster"} <= set(sio.get_untrusted_types(data=stored))

    # A fresh hosted runner: nothing on disk but the cache. The environment is restored from the
    # requirements' key and used as it is: no pip; the same check edits the same comment.
    set_aside(venv, tmp_path / "removed")  # the runner sees the same as after a delete: no environment
    second = act(
        workflow,
        "pull_request",
        pr_event("synchronize", 12, sha, title="Try LightGBM", head_ref="lightgbm"),
        variables=variables,
        src=checkout,
    )
    second.assert_ok()
    assert f"Cache restored from key: {key}" in second.log, second.log[-4000:]
    assert "mlci's environment is ready" in second.log and "installing mlci into" not in second.log
    assert "not saving cache" in second.log  # an exact hit is not saved again
    (edited,) = github_server.comments(12)
    assert edited["id"] == comment["id"] and "mlci · boosted" in edited["body"]
    set_aside(venv, tmp_path / "removed")  # the tool cache as the test found it
    act.assert_no_secret_in_logs()


def _object(s3: SeaweedFS, bucket: str, key: str) -> bytes:
    return bytes(s3.client().get_object(Bucket=bucket, Key=key)["Body"].read())


def _alias(s3: SeaweedFS, bucket: str, name: str) -> str:
    return str(json.loads(_object(s3, bucket, f"registry/boosted/aliases/{name}.json"))["version"])
