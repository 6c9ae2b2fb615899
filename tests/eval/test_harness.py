"""eval/harness.py: every method scored per sample, resume, failures and empty replies, summaries.

Control flow runs on scripted backends (never evidence that a model works); token budgets use the
real tokenizer; one `slow` test runs a tiny eval on the real embedded model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from eval_helpers import CONFIG, ContextScripted, plan

from memagent.config import AgentConfig, Budgets
from memagent.errors import BackendError
from memagent.eval.harness import Harness, load_records
from memagent.eval.report import write_report
from memagent.eval.run_file import RunInfo
from memagent.types import ChatRequest, Completion, SamplingParams
from scripted import ScriptedLLM


class FailingLLM(ScriptedLLM):
    def __init__(self, tokenizer, empty: bool = False):  # type: ignore[no-untyped-def]
        super().__init__(tokenizer, name="failing")
        self.empty = empty

    def generate(
        self, requests: Sequence[ChatRequest], sampling: SamplingParams
    ) -> list[Completion]:
        self.calls += 1
        if not self.empty:
            raise BackendError("server exploded")
        return [Completion("", 10, 0) for _ in requests]


def test_harness_scores_every_method_and_resume_skips_done(tokenizer, tmp_path: Path) -> None:
    llm = ContextScripted(tokenizer)
    Harness(plan(), llm, CONFIG, tokenizer, tmp_path).run()
    recs = load_records(tmp_path / "samples.jsonl")
    assert len(recs) == 9
    by_method = {m: [r for r in recs.values() if r["method"] == m] for m in ("memagent", "full")}
    assert all(r["score"] == 1.0 for r in by_method["memagent"])  # scripted memory keeps the needle
    assert all("magic" in r["memory"] for r in by_method["memagent"])
    assert all(r["memory"] is None for r in by_method["full"])
    assert all(r["prompt_tokens"] > 0 for r in recs.values())
    calls = llm.calls

    again = ContextScripted(tokenizer)
    Harness(plan(), again, CONFIG, tokenizer, tmp_path).run()
    assert again.calls == 0 and len(again.requests) == 0  # everything was already scored
    assert llm.calls == calls

    more = ContextScripted(tokenizer)
    rows = Harness(plan(n=4), more, CONFIG, tokenizer, tmp_path).run()
    assert {r["n"] for r in rows} == {4}
    assert len(load_records(tmp_path / "samples.jsonl")) == 12
    finals = [r for r in more.requests if "<section>" not in r.messages[-1]["content"]]
    assert len(finals) == 3  # one new sample, once per method


def test_backend_failures_count_as_wrong_and_are_retried(tokenizer, tmp_path: Path) -> None:
    rows = Harness(plan(n=2), FailingLLM(tokenizer), CONFIG, tokenizer, tmp_path).run()
    assert [r["n"] for r in rows] == [2, 2, 2]
    assert all(r["accuracy"] == 0 and r["errors"] == 2 for r in rows)
    recs = load_records(tmp_path / "samples.jsonl").values()
    assert all(r["score"] == 0 and r["rule"] == "error" and "exploded" in r["error"] for r in recs)

    rows = Harness(plan(n=2), ContextScripted(tokenizer), CONFIG, tokenizer, tmp_path).run()
    assert all(r["errors"] == 0 and r["n"] == 2 for r in rows)
    assert all(r["accuracy"] == 100 for r in rows)


def test_empty_reply_scores_zero(tokenizer, tmp_path: Path) -> None:
    rows = Harness(plan(n=1, methods=("full",)), FailingLLM(tokenizer, empty=True), CONFIG,
                   tokenizer, tmp_path).run()
    assert rows[0]["n"] == 1 and rows[0]["accuracy"] == 0
    rec = next(iter(load_records(tmp_path / "samples.jsonl").values()))
    assert rec["rule"] == "none" and rec["prediction"] is None and rec["error"] is None


def test_release_convention_drops_empty_and_failed_replies(tmp_path: Path) -> None:
    """Empty or failed replies: wrong by default; dropped from the denominator under the release's
    convention (accuracy_drop_empty), and the report shows both tables where they differ."""
    from memagent.eval.harness import summarize

    def rec(i: int, score: float, reply: str | None, error: str | None = None) -> dict:
        return {"task": "hotpotqa", "length": 100, "method": "memagent", "id": f"s{i}",
                "score": score, "rule": "answer_is" if score else "none", "reply": reply,
                "error": error, "prompt_tokens": 1, "completion_tokens": 1, "seconds": 0.1}

    recs = [rec(0, 1.0, "the answer is x"), rec(1, 0.0, "no idea"), rec(2, 0.0, ""),
            rec(3, 0.0, None, error="server down")]
    (row,) = summarize(recs)
    assert (row["n"], row["errors"], row["dropped"]) == (4, 1, 2)
    assert row["accuracy"] == 25.0 and row["accuracy_drop_empty"] == 50.0
    with (tmp_path / "samples.jsonl").open("w") as f:
        f.writelines(json.dumps(r) + "\n" for r in recs)
    text = write_report(tmp_path, RunInfo(model="m")).read_text()
    assert "| hotpotqa | memagent | 25.0 (4) |" in text
    assert "empty or failed replies dropped" in text and "| hotpotqa | memagent | 50.0 (2) |" in text
    assert "accuracy_drop_empty" in (tmp_path / "summary.csv").read_text().splitlines()[0]
    # nothing dropped: one table only
    with (tmp_path / "samples.jsonl").open("w") as f:
        f.writelines(json.dumps(r) + "\n" for r in recs[:2])
    assert "dropped" not in write_report(tmp_path, RunInfo(model="m")).read_text().split("## Answers")[0]


@pytest.mark.slow
def test_tiny_real_model_eval(embedded_llm, tmp_path: Path) -> None:
    # Tiny on purpose (the default test run must stay short on 2 CPU cores).
    config = AgentConfig(budgets=Budgets(window=2048, query=256, chunk=300, memory=24, output=24))
    tok = embedded_llm.tokenizer
    rows = Harness(plan(n=2, lengths=(512,)), embedded_llm, config, tok, tmp_path).run()
    assert [r["n"] for r in rows] == [2, 2, 2]
    recs = list(load_records(tmp_path / "samples.jsonl").values())
    assert all(r["error"] is None and r["completion_tokens"] > 0 for r in recs)
    # a 512-token noise haystack holds one needle; the small model reads it back for full context
    full = [r for r in recs if r["method"] == "full"]
    assert sum(r["score"] for r in full) >= 1, [r["reply"] for r in full]
    write_report(tmp_path, RunInfo(model=embedded_llm.name))
    assert (tmp_path / "accuracy.png").is_file()
