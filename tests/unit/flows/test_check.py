"""The PR check on the example project: train, gates, registry, caches, safe artifacts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlci._internal.serial import to_data
from mlci.flows.demo import _set_estimator
from tests.support.cli import mlci_env, run_mlci
from tests.support.paths import EXAMPLE

WEAK = ("sklearn.tree.DecisionTreeClassifier", "{max_depth: 2}")
GOOD = ("sklearn.ensemble.HistGradientBoostingClassifier", "{max_iter: 100, learning_rate: 0.05, max_depth: 3}")
BAD = ("sklearn.tree.DecisionTreeClassifier", "{max_depth: 12}")


@pytest.fixture(scope="module")
def with_production(tmp_path_factory) -> Path:
    """A copy of the example whose registry has the weak model in production (built once)."""
    project = tmp_path_factory.mktemp("prod") / "churn"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".mlci", "__pycache__"))
    _set_estimator(project / "mlci.yaml", *WEAK)
    first = run_mlci(project, "--json", "check")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["comparison"]["verdict"]["status"] == "bootstrap"
    promoted = run_mlci(project, "promote", "candidate", "--to", "production")
    assert promoted.returncode == 0, promoted.stderr
    return project


@pytest.fixture
def project(with_production, tmp_path) -> Path:
    dest = tmp_path / "churn"
    shutil.copytree(with_production, dest)
    return dest


def _version(project: Path, alias: str) -> str:
    return json.loads((project / ".mlci/registry/churn/aliases" / f"{alias}.json").read_text())["version"]


def test_a_better_candidate_passes_and_a_worse_one_fails_naming_gate_and_numbers(project):
    _set_estimator(project / "mlci.yaml", *GOOD)
    good = run_mlci(project, "check")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "verdict: PASS" in good.stdout

    _set_estimator(project / "mlci.yaml", *BAD)
    bad = run_mlci(project, "check")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "verdict: FAIL" in bad.stdout
    failed = bad.stdout.split("failed gates:")[1]
    # The threshold gate names the metric, the candidate's value and the bound.
    assert re.search(r"roc_auc 0\.6\d+ < threshold 0\.7", failed), failed
    assert "non_inferiority_margin" in failed
    report = (project / "report.md").read_text()
    assert "threshold" in report


def test_check_writes_comparison_and_report_and_stores_the_candidate(project):
    _set_estimator(project / "mlci.yaml", *GOOD)
    run = run_mlci(project, "--json", "check")
    assert run.returncode == 0, run.stderr
    doc = json.loads((project / "comparison.json").read_text())
    assert doc["baseline"]["version"] == _version(project, "production")
    assert doc["candidate"]["version"] == _version(project, "candidate")
    roc = next(m for m in doc["comparison"]["metrics"] if m["name"] == "roc_auc")
    assert roc["method"] == "delong" and roc["ci_low"] < roc["delta"] < roc["ci_high"]
    assert {s["column"] for s in doc["comparison"]["slices"]} == {"plan", "region"}
    manifest = json.loads(
        (project / ".mlci/registry/churn/versions" / doc["candidate"]["version"] / "manifest.json").read_text()
    )
    assert manifest["metrics"]["roc_auc"] == pytest.approx(roc["candidate"])
    assert set(manifest["data"]["fingerprints"]) == {"train", "test"}
    assert {"model.skops", "profile.json", "smoke.parquet"} <= set(manifest["files"])


def test_unchanged_second_check_reuses_the_candidate_and_skips_every_stage(project, monkeypatch):
    from mlci import Project
    from mlci.data import validation
    from mlci.modeling import training
    from mlci.stats import comparison

    _set_estimator(project / "mlci.yaml", *GOOD)
    first = Project.load(project / "mlci.yaml").check(output_dir=project)

    # The re-run must not validate, train or compare again: each of those is made to fail.
    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("an unchanged re-run redid work its caches hold")

    for module, name in ((validation, "validate"), (training, "train"), (comparison, "compare")):
        monkeypatch.setattr(module, name, must_not_run)
    second = Project.load(project / "mlci.yaml").check(output_dir=project)
    monkeypatch.undo()

    assert not first.candidate.reused and second.candidate.reused
    assert second.candidate.bundle.version == first.candidate.bundle.version
    assert any("train cache hit" in m for m in second.messages)
    assert second.verdict == first.verdict
    assert to_data(second.comparison) == to_data(first.comparison)
    assert [to_data(v) for v in second.validation] == [to_data(v) for v in first.validation]

    run = run_mlci(project, "check")
    assert "train cache hit: reusing version" in run.stdout


def test_changed_params_retrain(project):
    _set_estimator(project / "mlci.yaml", *GOOD)
    assert "trained version" in run_mlci(project, "check").stdout
    _set_estimator(project / "mlci.yaml", GOOD[0], "{max_iter: 50, learning_rate: 0.05, max_depth: 3}")
    assert "trained version" in run_mlci(project, "check").stdout


def test_same_inputs_give_the_same_version(project, tmp_path):
    a = run_mlci(project, "--json", "train", "-o", str(tmp_path / "a"))
    b = run_mlci(project, "--json", "train", "-o", str(tmp_path / "b"))
    assert json.loads(a.stdout)["version"] == json.loads(b.stdout)["version"]
    assert (tmp_path / "a/model.skops").read_bytes() == (tmp_path / "b/model.skops").read_bytes()


def test_two_processes_racing_to_move_production_one_wins_one_exits_3(project):
    for estimator in (GOOD, BAD):
        _set_estimator(project / "mlci.yaml", *estimator)
        assert run_mlci(project, "check").returncode in (0, 1)
    before = _version(project, "production")
    versions = [d.name for d in (project / ".mlci/registry/churn/versions").iterdir() if d.name != before]
    assert len(versions) == 2
    # Both processes compared against the same production version and now race to replace it.
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlci", "promote", v, "--to", "production", "--expect", before, "--allow-failed"],
            cwd=project,
            env=mlci_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in versions
    ]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 3], results
    loser_err = next(err for code, _, err in results if code == 3)
    assert "production" in loser_err and "Traceback" not in loser_err
    winner = versions[[code for code, _, _ in results].index(0)]
    record = json.loads((project / ".mlci/registry/churn/aliases/production.json").read_text())
    assert record["version"] == winner and record["previous"] == before


def test_a_bundle_altered_by_one_byte_is_refused(project, tmp_path):
    out = tmp_path / "bundle"
    assert run_mlci(project, "train", "-o", str(out)).returncode == 0
    data = bytearray((out / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0x01
    (out / "model.skops").write_bytes(bytes(data))
    run = run_mlci(project, "evaluate", "--candidate", str(out))
    assert run.returncode == 2
    assert "does not match the manifest" in run.stderr and "refusing" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_stored_version_altered_in_the_registry_is_refused(project):
    version = _version(project, "production")
    stored = project / ".mlci/registry/churn/versions" / version / "model.skops"
    data = bytearray(stored.read_bytes())
    data[100] ^= 0x01
    stored.write_bytes(bytes(data))
    shutil.rmtree(project / ".mlci/versions", ignore_errors=True)
    run = run_mlci(project, "evaluate", "--candidate", "production")
    assert run.returncode == 2, run.stdout + run.stderr
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


def _use_entrypoint(project: Path, params: str) -> None:
    (project / "churn_model.py").write_text(ENTRYPOINT)
    text = (project / "mlci.yaml").read_text()
    text = re.sub(r"(?m)^  estimator: .*$", "  entrypoint: churn_model:build", text)
    text = re.sub(r"(?m)^  params:.*\n(?:    .*\n)*", f"  params: {params}\n", text)
    (project / "mlci.yaml").write_text(text)


def test_entrypoint_errors_name_the_config_field_and_the_users_message(project):
    _use_entrypoint(project, "{explode: true}")
    run = run_mlci(project, "train")
    assert run.returncode == 2
    assert "model.entrypoint 'churn_model:build' raised ValueError: the learning rate must be positive" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_custom_transformer_is_caught_by_the_check_that_trains_it_until_listed(project):
    _use_entrypoint(project, "{C: 0.5}")
    # The registry's versions (.mlci/versions/ beside it caches the production baseline, fetched
    # to score beside the fit).
    stored = set((project / ".mlci" / "registry").rglob("versions/*/manifest.json"))
    refused = run_mlci(project, "check")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "holds 1 type(s) that are not trusted: churn_model.Clip" in refused.stderr
    assert "model.trusted_types" in refused.stderr and "Traceback" not in refused.stderr
    # Nothing stored: the PR learns now, not at the next PR or at deploy.
    assert set((project / ".mlci" / "registry").rglob("versions/*/manifest.json")) == stored
    text = (
        (project / "mlci.yaml")
        .read_text()
        .replace("  params: {C: 0.5}\n", "  params: {C: 0.5}\n  trusted_types: [churn_model.Clip]\n")
    )
    (project / "mlci.yaml").write_text(text)
    allowed = run_mlci(project, "check")
    assert allowed.returncode in (0, 1), allowed.stderr
    assert "verdict:" in allowed.stdout


@pytest.mark.slow
def test_demo_runs_the_whole_lifecycle(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "mlci", "demo", "--clean"],
        cwd=tmp_path,
        env=mlci_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    out = run.stdout
    assert out.count("$ mlci check") == 3
    assert "verdict: BOOTSTRAP" in out and "verdict: PASS" in out and "verdict: FAIL" in out
    assert "[exit 1]" in out and "unexpected" not in out
    assert "aliases:" in out and "events:" in out


def test_the_baseline_is_labelled_by_the_alias_it_came_from_everywhere(project):
    promoted = run_mlci(project, "promote", "production", "--to", "staging")
    assert promoted.returncode == 0, promoted.stderr
    staging = _version(project, "staging")
    _set_estimator(project / "mlci.yaml", *GOOD)
    run = run_mlci(project, "check", "--baseline", "staging")
    assert run.returncode == 0, run.stdout + run.stderr
    registry = (project / ".mlci/registry").resolve()
    where = f"{registry}/churn/versions/{staging}/"
    assert f"baseline: staging (version {staging}, {where})" in run.stdout
    doc = json.loads((project / "comparison.json").read_text())
    assert doc["baseline"] == {
        "label": "staging",
        "kind": "alias",
        "version": staging,
        "uri": where,
        "git_sha": None,
    } | {"git_sha": doc["baseline"]["git_sha"]}
    report = (project / "report.md").read_text()
    assert f"vs staging {staging}" in report and "production" not in report
    assert f"| Baseline | {staging} | staging |" in report

    candidate = _version(project, "candidate")
    evaluated = run_mlci(project, "evaluate", "--candidate", "candidate", "--baseline", "staging", "-o", "ev.json")
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    assert f"baseline: staging (version {staging}, {where})" in evaluated.stdout
    doc = json.loads((project / "ev.json").read_text())
    assert doc["baseline"]["label"] == "staging" and doc["baseline"]["uri"] == where
    # The candidate REF is named as the alias it is, at its own version's URI (not the registry root).
    assert doc["candidate"] == {
        "version": candidate,
        "alias": "candidate",
        "uri": f"{registry}/churn/versions/{candidate}/",
        "reused": True,
        "seconds": None,
        "signature": None,  # no signing section
    }
