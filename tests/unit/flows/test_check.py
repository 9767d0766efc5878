"""The PR check on the example project: train, gates, registry, caches, safe artifacts."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from mlci._internal.serial import to_data
from tests.support.project import ProjectCopy

WEAK = ("sklearn.tree.DecisionTreeClassifier", {"max_depth": 2})
GOOD = ("sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": 100, "learning_rate": 0.05, "max_depth": 3})
BAD = ("sklearn.tree.DecisionTreeClassifier", {"max_depth": 12})


@pytest.fixture
def weak(project: ProjectCopy) -> ProjectCopy:
    """The example with the weak model checked and in production (built once a session, copied here)."""
    return project.with_estimator(*WEAK).with_production()


def test_a_better_candidate_passes_and_a_worse_one_fails_naming_gate_and_numbers(weak):
    good = weak.with_estimator(*GOOD).run("check")
    assert good.returncode == 0, good.text
    assert "verdict: PASS" in good.stdout

    bad = weak.with_estimator(*BAD).run("check")
    assert bad.returncode == 1, bad.text
    assert "verdict: FAIL" in bad.stdout
    failed = bad.stdout.split("failed gates:")[1]
    # The threshold gate names the metric, the candidate's value and the bound.
    assert re.search(r"roc_auc is 0\.6\d+, below the threshold 0\.7", failed), failed
    assert "allowed: 0.01 at 95% confidence" in failed
    # Two gates on roc_auc overall failing: one line, said once.
    assert failed.count("roc_auc on overall") == 1, failed
    report = (weak / "report.md").read_text()
    assert "threshold" in report


def test_check_writes_comparison_and_report_and_stores_the_candidate(weak):
    run = weak.with_estimator(*GOOD).run("--json", "check")
    assert run.returncode == 0, run.stderr
    doc = json.loads((weak / "comparison.json").read_text())
    assert doc["baseline"]["version"] == weak.alias("production")
    assert doc["candidate"]["version"] == weak.alias("candidate")
    roc = next(m for m in doc["comparison"]["metrics"] if m["name"] == "roc_auc")
    assert roc["method"] == "delong" and roc["ci_low"] < roc["delta"] < roc["ci_high"]
    assert {s["column"] for s in doc["comparison"]["slices"]} == {"plan", "region"}
    manifest = json.loads((weak.registry / "versions" / doc["candidate"]["version"] / "manifest.json").read_text())
    assert manifest["metrics"]["roc_auc"] == pytest.approx(roc["candidate"])
    assert set(manifest["data"]["fingerprints"]) == {"train", "test"}
    assert {"model.skops", "profile.json", "smoke.parquet"} <= set(manifest["files"])


# A model that appends a line to `log` at every fit: what a re-run refits is counted, not guessed.
COUNTED = """
from pathlib import Path

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder


class CountedFits(ClassifierMixin, BaseEstimator):
    def __init__(self, log="fits.log"):
        self.log = log

    def fit(self, X, y):
        with open(self.log, "a") as f:
            f.write("fit\\n")
        numeric = ["tenure_months", "monthly_charges", "total_charges", "support_calls"]
        pre = make_column_transformer(
            ("passthrough", numeric), (OneHotEncoder(handle_unknown="ignore"), ["plan", "region", "contract"])
        )
        self.model_ = make_pipeline(pre, HistGradientBoostingClassifier(max_iter=60, max_depth=3)).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


def build(log="fits.log"):
    return CountedFits(log)
"""


def _stamps(root: Path) -> dict[str, tuple[int, int]]:
    """Return {file under root: (inode, mtime in ns)}: a file written again, even with the same bytes, differs."""
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_unchanged_second_check_reuses_the_candidate_and_skips_every_stage(weak, tmp_path):
    from mlci import Project

    fits = tmp_path / "fits.log"
    weak.with_entrypoint("counted_model", COUNTED, log=str(fits))
    weak.with_("model.trusted_types", ["counted_model.CountedFits"])
    first = Project.load(weak / "mlci.yaml").check(output_dir=weak.path)
    assert first.candidate is not None and not first.candidate.reused
    assert fits.read_text() == "fit\n"
    work = weak / ".mlci"
    version = first.candidate.bundle.version
    # What the first check wrote: the candidate's bundle and stored version, and the cached
    # validation and comparison results.
    bundles, stored, cached = _stamps(work / "bundles"), _stamps(weak.registry / "versions"), _stamps(work / "cache")
    assert any(version in name for name in bundles) and cached

    workers: list[str] = []
    second = Project.load(weak / "mlci.yaml").check(output_dir=weak.path, before_worker=lambda: workers.append("x"))

    # Reused: the same version, said so, and nothing was fitted, written or validated again.
    assert second.candidate is not None and second.candidate.reused
    assert second.candidate.bundle.version == version
    assert any(m == f"train cache hit: reusing version {version} (same data, config and code)" for m in second.messages)
    assert fits.read_text() == "fit\n", "the unchanged check fitted the model again"
    assert _stamps(work / "bundles") == bundles, "the unchanged check wrote a bundle again"
    assert _stamps(weak.registry / "versions") == stored, "the unchanged check stored the version again"
    assert _stamps(work / "cache") == cached, (
        "the unchanged check validated or compared again (its cache was rewritten)"
    )
    assert workers == [], "the unchanged check started a validation worker"
    # ...and it found what the first check found, and says it reused the candidate.
    assert second.verdict == first.verdict
    assert to_data(second.comparison) == to_data(first.comparison)
    assert [to_data(v) for v in second.validation] == [to_data(v) for v in first.validation]
    doc = json.loads((weak / "comparison.json").read_text())
    assert doc["candidate"]["reused"] is True and doc["candidate"]["version"] == version

    run = weak.run("check")
    assert "train cache hit: reusing version" in run.stdout
    assert fits.read_text() == "fit\n"


def test_changed_params_retrain(weak):
    assert "trained version" in weak.with_estimator(*GOOD).run("check").stdout
    assert "trained version" in weak.with_("model.params.max_iter", 50).run("check").stdout


def test_same_inputs_give_the_same_version(project, tmp_path):
    project.with_estimator(*WEAK)
    a = project.run("--json", "train", "-o", str(tmp_path / "a"))
    b = project.run("--json", "train", "-o", str(tmp_path / "b"))
    assert json.loads(a.stdout)["version"] == json.loads(b.stdout)["version"]
    assert (tmp_path / "a/model.skops").read_bytes() == (tmp_path / "b/model.skops").read_bytes()


def test_a_bundle_altered_by_one_byte_is_refused(weak, tmp_path):
    out = tmp_path / "bundle"
    assert weak.run("train", "-o", str(out)).returncode == 0
    data = bytearray((out / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0x01
    (out / "model.skops").write_bytes(bytes(data))
    run = weak.run("evaluate", "--candidate", str(out))
    assert run.returncode == 2
    assert "does not match the manifest" in run.stderr and "refusing" in run.stderr
    assert "Traceback" not in run.stderr


def test_evaluate_sets_the_verdict_output_in_actions(weak, tmp_path):
    from tests.support.actions import read_github_output

    outputs = tmp_path / "output.txt"
    env = {**weak.env, "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs)}
    run = weak.run("evaluate", "--candidate", "production", env=env)
    assert run.returncode == 0, run.text
    found = read_github_output(outputs.read_text())
    assert found["verdict"] == "pass" and found["version"] == weak.alias("production")


def test_what_a_check_leaves_names_no_absolute_path_of_the_machine(weak, tmp_path):
    # Reports travel (PR comments, artifacts, the registry): a runner's /home/runner/... means nothing there.
    check = weak.with_estimator(*GOOD).run("check")
    assert check.returncode == 0, check.text
    validate = weak.run("validate")
    assert validate.returncode == 0, validate.text
    evaluate = weak.run("evaluate", "--candidate", "candidate", "-o", str(weak / "out" / "evaluated.json"))
    assert evaluate.returncode == 0, evaluate.text
    version = json.loads((weak.registry / "aliases" / "candidate.json").read_text())["version"]
    written = {
        "report.md": (weak / "report.md").read_text(),
        "comparison.json": (weak / "comparison.json").read_text(),
        "manifest.json": (weak.registry / "versions" / version / "manifest.json").read_text(),
        "validate": validate.stdout,
        # The terminal lines too: a runner's log is read on the PR's checks page, far from its disk.
        "check's output": check.stdout + check.stderr,
        "validate's errors": validate.stderr,
        "evaluate's output": evaluate.stdout + evaluate.stderr,
    }
    for name, text in written.items():
        for absolute in {str(weak.path), str(weak.path.resolve()), str(tmp_path.parent)}:
            assert absolute not in text, f"{name} names {absolute}"
    assert "data/train.csv" in written["validate"] and "expectations/churn.json" in written["validate"]
    assert '"test": "data/test.csv"' in written["manifest.json"]
    assert "report: report.md  comparison: comparison.json" in check.stdout
    assert f"in .mlci/registry/churn/versions/{version}/" in check.stdout
    assert "comparison written to out/evaluated.json" in evaluate.stdout


def test_a_stored_version_altered_in_the_registry_is_refused(weak):
    version = weak.alias("production")
    stored = weak.registry / "versions" / str(version) / "model.skops"
    data = bytearray(stored.read_bytes())
    data[100] ^= 0x01
    stored.write_bytes(bytes(data))
    shutil.rmtree(weak / ".mlci/versions", ignore_errors=True)
    run = weak.run("evaluate", "--candidate", "production")
    assert run.returncode == 2, run.text
    assert "sha256" in run.stderr


ENTRYPOINT = """
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder


class Clip(BaseEstimator, TransformerMixin):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X.clip(0, 200).fillna(0)


def build(C=1.0, explode=False):
    if explode:
        raise ValueError("the learning rate must be positive")
    numeric = ["tenure_months", "monthly_charges", "support_calls"]
    pre = make_column_transformer((Clip(), numeric), (OneHotEncoder(handle_unknown="ignore"), ["plan", "contract"]))
    return make_pipeline(pre, LogisticRegression(C=C, max_iter=500))
"""


def test_entrypoint_errors_name_the_config_field_and_the_users_message(project):
    run = project.with_entrypoint("churn_model", ENTRYPOINT, explode=True).run("train")
    assert run.returncode == 2
    assert "model.entrypoint 'churn_model:build' raised ValueError: the learning rate must be positive" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_custom_transformer_is_caught_by_the_check_that_trains_it_until_listed(weak):
    weak.with_entrypoint("churn_model", ENTRYPOINT, C=0.5)
    # The registry's versions (.mlci/versions/ beside it caches the production baseline, fetched
    # to score beside the fit).
    stored = set((weak / ".mlci" / "registry").rglob("versions/*/manifest.json"))
    refused = weak.run("check")
    assert refused.returncode == 2, refused.text
    assert "holds 1 type(s) that are not trusted: churn_model.Clip" in refused.stderr
    assert "model.trusted_types" in refused.stderr and "Traceback" not in refused.stderr
    # Nothing stored: the PR learns now, not at the next PR or at deploy.
    assert set((weak / ".mlci" / "registry").rglob("versions/*/manifest.json")) == stored
    allowed = weak.with_("model.trusted_types", ["churn_model.Clip"]).run("check")
    assert allowed.returncode in (0, 1), allowed.stderr
    assert "verdict:" in allowed.stdout


def test_the_baseline_is_labelled_by_the_alias_it_came_from_everywhere(weak):
    promoted = weak.run("promote", "production", "--to", "staging")
    assert promoted.returncode == 0, promoted.stderr
    staging = weak.alias("staging")
    run = weak.with_estimator(*GOOD).run("check", "--baseline", "staging")
    assert run.returncode == 0, run.text
    where = f".mlci/registry/churn/versions/{staging}/"  # relative to the project, as every report shows it
    assert f"baseline: staging (version {staging}, {where})" in run.stdout
    doc = json.loads((weak / "comparison.json").read_text())
    assert doc["baseline"] == {
        "label": "staging",
        "kind": "alias",
        "version": staging,
        "uri": where,
        "git_sha": None,
    } | {"git_sha": doc["baseline"]["git_sha"]}
    report = (weak / "report.md").read_text()
    assert f"vs staging {staging}" in report and "production" not in report
    assert f"| Baseline | {staging} | staging |" in report

    candidate = weak.alias("candidate")
    evaluated = weak.run("evaluate", "--candidate", "candidate", "--baseline", "staging", "-o", "ev.json")
    assert evaluated.returncode == 0, evaluated.text
    assert f"baseline: staging (version {staging}, {where})" in evaluated.stdout
    doc = json.loads((weak / "ev.json").read_text())
    assert doc["baseline"]["label"] == "staging" and doc["baseline"]["uri"] == where
    # The candidate REF is named as the alias it is, at its own version's URI (not the registry root).
    assert doc["candidate"] == {
        "version": candidate,
        "alias": "candidate",
        "uri": f".mlci/registry/churn/versions/{candidate}/",
        "reused": True,
        "seconds": None,
        "signature": None,  # no signing section
        "format": "skops",
        "scored_by": None,  # fitted by mlci: no contained process scored it while training
        "card": f".mlci/registry/churn/versions/{candidate}/card.md",  # stored with it by the check
    }
