"""The model card stored with each checked version, and what the report says the candidate relies on."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from mlci.report.card import parse_card
from tests.support.signing import KEY_POLICY, with_keys

pytestmark = pytest.mark.slow

OWNER = {
    "intended_use": "Rank customers by churn risk for outreach.",
    "limitations": "Not for pricing decisions.",
    "owners": ["@data-science/churn"],
    "contact": "churn-ml@example.com",
}


def test_a_checked_version_carries_its_signed_card_and_the_report_names_the_feature_a_candidate_dropped(
    project, signing_keys
):
    with_keys(project, signing_keys, KEY_POLICY).with_("card", OWNER).with_("importance.enabled", True)
    env = project.env_with(MLCI_SIGNING_KEY="keys/team.pem")
    checked = project.run("check", env=env)
    assert checked.returncode == 0, checked.text
    first = json.loads((project / "comparison.json").read_text())
    assert "card.md" in (project / "report.md").read_text()
    deployed = project.run("deploy", "candidate", "--env", "production", env=env)
    assert deployed.returncode == 0, deployed.text

    shown = project.run("card", "production", env=env)
    assert shown.returncode == 0, shown.text
    header, body = parse_card(shown.stdout)
    card_metrics = {m["type"]: m["value"] for m in header["model-index"][0]["results"][0]["metrics"]}
    assert card_metrics == {m["name"]: m["candidate"] for m in first["comparison"]["metrics"]}
    version = first["candidate"]["version"]
    assert header["mlci"]["version"] == version and header["mlci"]["verdict"] == first["verdict"]
    assert OWNER["intended_use"] in body and "data-science/churn" in body and "tenure_months" in body

    # The deploy recorded which card went live.
    stored = project.registry / "versions" / version / "card.md"
    events = json.loads(project.run("--json", "history", env=env).stdout)["events"]
    deploy = next(e for e in events if e["action"] == "deploy")
    assert deploy["extra"]["card"] == hashlib.sha256(stored.read_bytes()).hexdigest()

    # A candidate without the production model's second strongest feature: the report says so.
    features = [f for f in project.config["data"]["features"] if f != "tenure_months"]
    project.with_("data.features", features).run("check", env=env)
    second = json.loads((project / "comparison.json").read_text())
    importance = second["importance"]
    assert importance["baseline"] and importance["candidate"]
    largest = [c["feature"] for c in importance["changes"][: importance["top"]]]
    assert "tenure_months" in largest
    dropped = next(c for c in importance["changes"] if c["feature"] == "tenure_months")
    assert dropped["candidate"] is None and dropped["baseline"] > 0.02
    assert "<code>tenure_months</code>: " in (project / "report.md").read_text()

    # The card's bytes are covered by the version's signature: a bucket writer who rewrites the
    # card and the manifest's hash of it (a consistent version) no longer verifies.
    assert project.run("verify", version, env=env).returncode == 0
    forged = stored.read_text().replace(OWNER["limitations"], "Fit for every purpose.")
    stored.write_text(forged)
    manifest_path = stored.parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["card.md"] = hashlib.sha256(forged.encode()).hexdigest()
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(project / ".mlci" / "versions", ignore_errors=True)  # a fresh job: nothing cached
    refused = project.run("verify", version, env=env)
    assert refused.returncode == 1, refused.text
    assert "the signed digest of card.md differs" in refused.stderr  # the signature names the card's own digest
