"""Evaluate the support bot on every row of MLCI_TEST_DATA and write one result per row (mlci `format: results`).

This is a deterministic stand-in for a language-model call, so the example and mlci's tests
run offline: `answer` plays the model. Replace it with your provider's client (docs/llm.md
shows one); everything around it stays as it is.

Reads   MLCI_TEST_DATA      the evaluation rows (JSON Lines: qid, topic, question, answer, difficulty)
        MLCI_ARTIFACTS_DIR  the version's artifacts: prompts/template.txt and app/config.json
        MLCI_PARAMS         model.params as JSON (unused here)
Writes  MLCI_OUTPUT_DIR/results.jsonl: qid, correct (0/1), judge_score, latency_ms, cost_usd
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def load_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def answer(prompt: str, row: dict, config: dict) -> tuple[str, float]:
    """Return the stand-in model's answer and its latency in ms.

    The stand-in knows the answer when the question is no harder than the prompt is good: each
    guideline line of the template ("- ...") is worth 4 points of difficulty. Its latency grows
    with the prompt's length and app/config.json's `latency_factor` (a slower model, say).
    """
    guidelines = sum(1 for line in prompt.splitlines() if line.startswith("- "))
    knows = row["difficulty"] < 4 * guidelines
    spread = int(hashlib.sha256(row["qid"].encode()).hexdigest()[:4], 16) % 400
    latency = (200 + len(prompt.split()) * 2 + spread) * float(config.get("latency_factor", 1.0))
    return (row["answer"] if knows else "I am not sure."), latency


def main() -> None:
    rows = load_rows(Path(os.environ["MLCI_TEST_DATA"]))
    artifacts = Path(os.environ["MLCI_ARTIFACTS_DIR"])
    template = (artifacts / "prompts" / "template.txt").read_text(encoding="utf-8")
    config = json.loads((artifacts / "app" / "config.json").read_text(encoding="utf-8"))
    if os.environ.get("EVAL_RUN_LOG"):  # lets a test count the runs and see whose artifacts each used
        with open(os.environ["EVAL_RUN_LOG"], "a", encoding="utf-8") as log:
            log.write(f"{artifacts}\n")
    out = Path(os.environ["MLCI_OUTPUT_DIR"]) / "results.jsonl"
    with out.open("w", encoding="utf-8") as f:
        for row in rows:
            prompt = template.replace("{question}", row["question"])
            reply, latency = answer(prompt, row, config)
            correct = int(reply.strip().lower() == row["answer"].strip().lower())
            # A judge would grade helpfulness 0..1; the stand-in grades a right answer 1, else by length.
            judge = 1.0 if correct else round(min(len(reply) / 40, 0.5), 3)
            tokens = len(prompt.split()) + len(reply.split())
            result = {
                "qid": row["qid"],
                "correct": correct,
                "judge_score": judge,
                "latency_ms": round(latency, 1),
                "cost_usd": round(tokens * 0.5e-6, 8),
            }
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
