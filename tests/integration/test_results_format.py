"""`model.format: results`: an LLM application's per-example results, compared, versioned, deployed and rolled back.

The project is examples/llm: 300 JSON Lines questions and an eval.py whose deterministic
stand-in answers from prompts/template.txt in MLCI_ARTIFACTS_DIR. Every run of the command
appends its artifacts directory to EVAL_RUN_LOG, so the tests count runs and see whose
artifacts each used. mlci runs in this process; the command is a real child process.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from tests.support.actions import write_pr_event
from tests.support.cli import one_line
from tests.support.paired import newcombe_widened
from tests.support.project import ProjectCopy
from tests.support.signing import KEY_POLICY, with_keys

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "llm"


@pytest.fixture
def bot(tmp_path: Path) -> ProjectCopy:
    """Return a copy of examples/llm whose command runs this interpreter, logging its runs."""
    copy = ProjectCopy.of(EXAMPLE, tmp_path / "llm")
    copy.with_("model.command", f"{shlex.quote(sys.executable)} eval.py")
    copy.env = copy.env_with(EVAL_RUN_LOG=str(tmp_path / "runs.log"))
    return copy


def runs(bot: ProjectCopy) -> list[str]:
    log = Path(bot.env["EVAL_RUN_LOG"])
    return log.read_text().splitlines() if log.exists() else []


def registry(bot: ProjectCopy) -> Path:
    return bot.path / ".mlci" / "registry" / "support-bot"


def alias(bot: ProjectCopy, name: str) -> str:
    return str(json.loads((registry(bot) / "aliases" / f"{name}.json").read_text())["version"])


def stored(bot: ProjectCopy, version: str) -> pd.DataFrame:
    return pd.read_parquet(registry(bot) / "versions" / version / "results.parquet")


def add_guideline(bot: ProjectCopy) -> None:
    """Add one guideline line to the template: the stand-in then answers 12 more of the 300 questions."""
    template = bot / "prompts" / "template.txt"
    text = template.read_text()
    template.write_text(text.replace("\nQuestion:", "- Check the status page first.\n\nQuestion:"))


def published_template(bot: ProjectCopy) -> str:
    current = json.loads((registry(bot) / "deployments" / "production" / "CURRENT.json").read_text())
    release = registry(bot) / "deployments" / "production" / current["prefix"]
    return (release / "artifacts" / "prompts" / "template.txt").read_text()


@pytest.mark.slow
def test_prompt_lifecycle_from_bootstrap_to_rollback(bot: ProjectCopy, signing_keys: Path) -> None:
    """check (bootstrap) -> promote -> a better template passes with exact statistics -> a slower model fails its
    latency gate -> new rows recompute the baseline -> deploy with a smoke test -> rollback restores the template;
    every version is signed over its artifacts."""
    with_keys(bot, signing_keys, KEY_POLICY)
    bot.env = bot.env_with(MLCI_SIGNING_KEY=str(bot / "keys" / "team.pem"))
    first = bot.run("check")
    assert first.returncode == 0, first.text
    assert "BOOTSTRAP" in first.stdout
    assert len(runs(bot)) == 1
    v1 = alias(bot, "candidate")
    assert bot.run("promote", v1, "--to", "production").returncode == 0
    old_template = (bot / "prompts" / "template.txt").read_text()

    # A better template: 12 more right answers. The baseline's stored results are reused (one run, not two).
    # It is PR 7's check; the merge job's promote --from-pr runs the command again with the merged code.
    add_guideline(bot)
    pr = bot.env_with(
        GITHUB_EVENT_NAME="pull_request", GITHUB_EVENT_PATH=str(write_pr_event(bot.path.parent, 7, "7" * 40))
    )
    better = bot.run("check", env=pr)
    assert better.returncode == 0, better.text
    assert "PASS" in better.stdout
    assert "baseline results reused from version " + v1 in better.stdout
    assert len(runs(bot)) == 2
    v2 = alias(bot, "pr-7")
    document = json.loads((bot / "comparison.json").read_text())
    correct = next(m for m in document["comparison"]["metrics"] if m["name"] == "correct")
    assert correct["method"] == "mcnemar"
    # The same pairs, independently: the exact binomial test of the discordant pairs and
    # Newcombe's paired score interval widened to the exact conditional one (from scipy's).
    cand, base = stored(bot, v2), stored(bot, v1)
    assert list(cand["qid"]) == list(base["qid"])
    c, b = cand["correct"].to_numpy(), base["correct"].to_numpy()
    n10, n01 = int(((c == 1) & (b == 0)).sum()), int(((c == 0) & (b == 1)).sum())
    assert (n10, n01) == (12, 0)
    assert correct["p_value"] == pytest.approx(stats.binomtest(n10, n10 + n01, 0.5).pvalue, rel=1e-12)
    both, neither = int(((c == 1) & (b == 1)).sum()), int(((c == 0) & (b == 0)).sum())
    assert (correct["ci_low"], correct["ci_high"]) == pytest.approx(newcombe_widened(n10, n01, both, neither), rel=1e-9)
    judge = next(m for m in document["comparison"]["metrics"] if m["name"] == "judge_score")
    t = stats.ttest_rel(cand["judge_score"], base["judge_score"])
    assert judge["p_value"] == pytest.approx(t.pvalue, rel=1e-9)
    assert (judge["ci_low"], judge["ci_high"]) == pytest.approx(tuple(t.confidence_interval()), rel=1e-9)
    # Per-slice results by topic, each with its interval.
    topics = [s for s in document["comparison"]["slices"] if s["column"] == "topic"]
    assert sorted(s["category"] for s in topics) == ["api", "billing", "login", "network", "storage"]
    # A topic where the two templates answer the same questions right has no interval (no information).
    with_interval = 0
    for s in topics:
        m = next(m for m in s["metrics"] if m["name"] == "correct")
        assert m["method"] == "mcnemar"
        if m["ci_low"] is None:
            assert m["delta"] == 0, m
        else:
            with_interval += 1
            assert m["ci_low"] <= m["delta"] <= m["ci_high"]
    assert with_interval >= 1
    # The changed examples: ids and topics, never the questions' text.
    examples = document["examples"]
    assert (examples["won_count"], examples["lost_count"]) == (12, 0)
    rows = pd.read_json(bot / "data" / "eval.jsonl", lines=True).set_index("qid")
    report = (bot / "report.md").read_text()
    for x in examples["won"]:
        assert x["slices"] == {"topic": rows.loc[x["id"], "topic"]}
        assert f"| {x['id']} |" in report
        assert rows.loc[x["id"], "question"] not in report
    assert "topic=" in report and "bootstrap p95" in report and "paired-t sum" in report
    merged = bot.run("promote", "--from-pr", "7", "--to", "production")
    assert f"re-evaluated {v2} against production {v1} in this job: pass" in merged.stdout
    # The job that decides runs both: production's stored results are only as trustworthy as whoever
    # could write versions/ (the PR role), so they are never reused here.
    assert len(runs(bot)) == 4 and [Path(r).parent.name for r in runs(bot)[-2:]] == [v2, v1]
    # Outside Actions there is no GitHub record of PR 7 for the signature policy to compare with.
    assert merged.returncode == 1 and "GitHub's record of PR #7 was not available" in merged.text
    assert bot.run("promote", v2, "--to", "production").returncode == 0

    # A slower model: p95 latency up 30% fails the latency gate, by name.
    config = bot / "app" / "config.json"
    config.write_text(json.dumps({"model": "stand-in-large", "latency_factor": 1.3}))
    slower = bot.run("check")
    assert slower.returncode == 1, slower.text
    assert "latency_ms on overall: latency_ms got worse by" in slower.stdout
    latency = next(
        m
        for m in json.loads((bot / "comparison.json").read_text())["comparison"]["metrics"]
        if m["name"] == "latency_ms"
    )
    assert latency["relative_delta"] == pytest.approx(0.3, abs=0.002)
    assert len(runs(bot)) == 5

    # New evaluation rows: production's stored results no longer answer the question, so the
    # command runs again with production's artifacts (the registry's copy), after the candidate's run.
    rows = (bot / "data" / "eval.jsonl").read_text().splitlines()
    (bot / "data" / "eval.jsonl").write_text("\n".join(rows[:250]) + "\n")
    recomputed = bot.run("check")
    assert (
        f"baseline results recomputed with version {v2}'s artifacts (the evaluation rows changed)" in recomputed.stdout
    )
    assert len(runs(bot)) == 7
    assert Path(runs(bot)[-1]).parent.name == v2
    assert json.loads((bot / "comparison.json").read_text())["comparison"]["n_rows"] == 250

    # Deploy publishes the template after a smoke test that runs the command on the smoke rows.
    deployed_v1 = bot.run("deploy", v1, "--env", "production")
    assert deployed_v1.returncode == 0, deployed_v1.text
    assert "smoke test passed" in deployed_v1.stdout
    assert "mlci-smoke" in runs(bot)[-1]
    assert published_template(bot) == old_template
    deployed_v2 = bot.run("deploy", v2, "--env", "production")
    assert deployed_v2.returncode == 0, deployed_v2.text
    assert published_template(bot) == (bot / "prompts" / "template.txt").read_text() != old_template
    # Rollback restores the previous template.
    rolled = bot.run("rollback", "--env", "production")
    assert rolled.returncode == 0, rolled.text
    assert published_template(bot) == old_template
    assert alias(bot, "production") == v1

    # Signed, and the signature and the ML-BOM cover the artifacts; an artifact altered in the
    # registry is refused before it ships.
    verified = bot.run("verify", v2)
    assert verified.returncode == 0, verified.text
    bom = next((registry(bot) / "versions" / v2 / "signatures").glob("*/bom.cdx.json")).read_text()
    assert "artifacts/prompts/template.txt" in bom
    (registry(bot) / "versions" / v2 / "artifacts" / "prompts" / "template.txt").write_text("Say yes.\n{question}")
    tampered = bot.run("deploy", v2, "--env", "production")
    assert tampered.returncode != 0
    assert "artifacts/prompts/template.txt" in tampered.text and "altered" in tampered.text
    assert published_template(bot) == old_template


def test_misaligned_results_are_refused_one_line_each(bot: ProjectCopy) -> None:
    """A missing id, a repeated id and a text in a numeric column: one line each, exit 2, nothing stored."""
    train = bot.run("train")  # nothing to fit: one line, not an internal error
    assert train.returncode == 2 and one_line(train.stderr).endswith(
        "model.format is results (evaluate a results version with `mlci check`; see docs/llm.md)"
    )
    eval_py = bot / "eval.py"
    source = eval_py.read_text()
    broken = source.replace(
        '            f.write(json.dumps(result) + "\\n")',
        '            if row["qid"] == "q007":\n'
        "                continue\n"
        '            if row["qid"] == "q010":\n'
        '                f.write(json.dumps(result) + "\\n")\n'
        '            if row["qid"] == "q020":\n'
        '                result["latency_ms"] = "fast"\n'
        '            f.write(json.dumps(result) + "\\n")',
    )
    assert broken != source
    eval_py.write_text(broken)
    run = bot.run("check")
    assert run.returncode == 2, run.text
    assert "Traceback" not in run.text and "internal error" not in run.text
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 3, run.stderr
    assert any("q010" in line and "more than once" in line for line in lines)
    assert any("q007" in line and "no result" in line for line in lines)
    assert any("'latency_ms'" in line and "q020" in line and "not a number" in line for line in lines)
    assert not (registry(bot) / "versions").exists() or not any((registry(bot) / "versions").iterdir())
    assert not (registry(bot) / "aliases").exists()
