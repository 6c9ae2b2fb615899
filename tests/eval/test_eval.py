"""Evaluation harness, methods and report.

Control flow runs on scripted backends (never evidence that a model works); token budgets use the
real tokenizer; one `slow` test runs a tiny eval on the real embedded model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from memagent.config import AgentConfig, Budgets
from memagent.data import GenOptions, generate_sample
from memagent.errors import BackendError
from memagent.eval.harness import EvalPlan, Harness, load_records
from memagent.eval.methods import GAP, RagMethod, middle_truncate
from memagent.eval.report import write_report
from memagent.eval.run_file import RunInfo
from memagent.types import ChatRequest, Completion, SamplingParams
from scripted import ScriptedLLM

CONFIG = AgentConfig(budgets=Budgets(window=2048, query=256, chunk=500, memory=128, output=64))


class ContextScripted(ScriptedLLM):
    """ScriptedLLM, plus: a <context> prompt gets the last 7-digit number in it, boxed."""

    def generate(
        self, requests: Sequence[ChatRequest], sampling: SamplingParams
    ) -> list[Completion]:
        plain = [r for r in requests if "<context>" not in r.messages[-1]["content"]]
        loop = iter(super().generate(plain, sampling) if plain else [])
        out = []
        for req in requests:
            text = req.messages[-1]["content"]
            if "<context>" not in text:
                out.append(next(loop))
                continue
            numbers = re.findall(r"\b\d{7}\b", text.split("<context>", 1)[1])
            reply = f"\\boxed{{{numbers[-1] if numbers else 'unknown'}}}"
            self.requests.append(req)
            out.append(Completion(reply, self.tokenizer.chat_token_count(req.messages), 5))
        return out


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


def plan(**kw) -> EvalPlan:  # type: ignore[no-untyped-def]
    base = dict(tasks=("niah_single_1",), lengths=(2048,), methods=("memagent", "full", "rag"),
                n=3, batch=2)
    return EvalPlan(**{**base, **kw})


def test_middle_truncation_keeps_head_and_tail_and_fits(tokenizer) -> None:
    context = "HEADMARK " + "The grass is green. The sky is blue. " * 600 + " TAILMARK"
    messages, kept = middle_truncate(tokenizer, "What is the mark?", context, 1024, 64)
    text = messages[-1]["content"]
    assert tokenizer.chat_token_count(messages) + 64 <= 1024
    assert tokenizer.chat_token_count(messages) + 64 > 1024 - 16  # uses the window, not a sliver
    assert "HEADMARK" in text and "TAILMARK" in text and GAP in text
    assert kept < len(tokenizer.encode(context))
    short, n = middle_truncate(tokenizer, "q?", "a short context", 1024, 64)
    assert GAP not in short[-1]["content"] and n == len(tokenizer.encode("a short context"))


def test_rag_retrieves_the_needle_chunk(tokenizer) -> None:
    # niah_single_1: a built-in haystack, so the test needs no system package
    sample = generate_sample("niah_single_1", 0, GenOptions(target=6000, depth=70), tokenizer)
    rag = RagMethod(ContextScripted(tokenizer), CONFIG, tokenizer)
    chunks, ranked = rag.retrieve(sample.question, sample.context)
    assert len(chunks) > 4
    assert sample.answers[0] in chunks[ranked[0]]
    messages, kept = rag.pack(sample.question, sample.context)
    assert sample.answers[0] in messages[-1]["content"]
    assert tokenizer.chat_token_count(messages) + CONFIG.budgets.output <= CONFIG.budgets.window
    assert kept < len(tokenizer.encode(sample.context))


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


def test_report_files(tokenizer, tmp_path: Path) -> None:
    Harness(plan(n=1, lengths=(1024, 2048)), ContextScripted(tokenizer), CONFIG, tokenizer,
            tmp_path).run()
    report = write_report(tmp_path, RunInfo(model="scripted", budgets={"chunk": 500}))
    text = report.read_text()
    assert "| niah_single_1 | memagent | 100.0 (1) | 100.0 (1) |" in text
    assert "Tokens processed" in text and "Wall seconds" in text
    png = tmp_path / "accuracy.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "summary.csv").read_text().startswith("task,length,method,n,")


def test_cli_eval_with_scripted_backend(tokenizer, tmp_path: Path, monkeypatch) -> None:
    import memagent.llm
    from memagent.cli import main

    monkeypatch.setattr(memagent.llm, "load_llm", lambda *a, **k: ContextScripted(tokenizer))
    out = tmp_path / "run"
    argv = ["eval", "--tasks", "niah_single_1", "--lengths", "1k", "-n", "2", "--out", str(out),
            "--window", "2048", "--query", "256", "--chunk", "500", "--memory", "128",
            "--output", "64"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    run = json.loads((out / "run.json").read_text())
    assert run["budgets"]["chunk"] == 500 and run["model_sha256"]
    assert len(load_records(out / "samples.jsonl")) == 6
    with pytest.raises(SystemExit) as exc:
        main([*argv[:-2], "--methods", "nope"])
    assert exc.value.code == 3


def test_report_merges_split_runs_and_refuses_other_budgets(tokenizer, tmp_path: Path,
                                                            monkeypatch) -> None:
    import memagent.llm
    from memagent.cli import main

    monkeypatch.setattr(memagent.llm, "load_llm", lambda *a, **k: ContextScripted(tokenizer))
    base = ["eval", "--tasks", "niah_single_1", "-n", "2", "--window", "2048", "--query", "256",
            "--chunk", "500", "--memory", "128", "--output", "64", "--methods", "memagent,full"]

    def run(*argv: str) -> int:
        with pytest.raises(SystemExit) as exc:
            main([*base, *argv])
        return int(exc.value.code or 0)

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert run("--lengths", "1k", "--out", str(a)) == 0
    assert run("--lengths", "1k", "--out", str(a), "-n", "3") == 0  # a second stage, same dir
    assert run("--lengths", "2k", "--out", str(b)) == 0
    first, second = json.loads((a / "run.json").read_text())["commands"]
    assert " -n 2 " in first and first.endswith(f"--lengths 1k --out {a}")
    assert second.endswith("-n 3")
    with pytest.raises(SystemExit) as exc:
        main(["report", str(a), "--merge", str(b)])
    assert exc.value.code == 0
    records = load_records(a / "samples.jsonl")
    assert len(records) == 2 * 3 + 2 * 2  # 1k: n=3, 2k: n=2, two methods
    report = (a / "report.md").read_text()
    assert "| niah_single_1 | memagent | 100.0 (3) | 100.0 (2) |" in report
    assert report.count("  - `memagent eval") == 3  # every stage's command is listed
    with pytest.raises(SystemExit) as exc:  # merging again adds nothing
        main(["report", str(a), "--merge", str(b)])
    assert len(load_records(a / "samples.jsonl")) == len(records)
    assert run("--lengths", "1k", "--out", str(c), "--memory", "96") == 0
    with pytest.raises(SystemExit) as exc:
        main(["report", str(a), "--merge", str(c)])
    assert exc.value.code == 3
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path / "missing")])
    assert exc.value.code == 3


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


def test_cli_eval_style_picks_the_question_texts(tokenizer, tmp_path: Path, monkeypatch) -> None:
    """RULER's vt question carries a ~500-token worked example, over a 256-token query budget; the
    release's texts have none, so the same cell runs under --style release."""
    import memagent.llm
    from memagent.cli import main

    monkeypatch.setattr(memagent.llm, "load_llm", lambda *a, **k: ContextScripted(tokenizer))
    errors = {}
    for style in ("ruler", "release"):
        out = tmp_path / style
        with pytest.raises(SystemExit) as exc:
            main(["eval", "--tasks", "vt", "--lengths", "1k", "-n", "2", "--out", str(out),
                  "--window", "2048", "--query", "256", "--chunk", "500", "--memory", "128",
                  "--output", "64", "--methods", "memagent", "--style", style])
        # every ruler sample is over the query budget: the run says so with that error's code
        assert exc.value.code == (3 if style == "ruler" else 0)
        assert json.loads((out / "run.json").read_text())["style"] == style
        errors[style] = [r.get("error") for r in load_records(out / "samples.jsonl").values()]
    assert all(e and "over the query budget" in e for e in errors["ruler"])
    assert errors["release"] == [None, None]
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--tasks", "vt", "--lengths", "1k", "--out", str(tmp_path / "x"),
              "--style", "paper"])
    assert exc.value.code == 3


def test_report_outputs_go_through_the_atomic_writer(tokenizer, tmp_path: Path, capsys) -> None:
    """Issue 25 item 2: eval's files are written whole (temp + rename, no `.part` left), a
    symlinked report.md is written through, and a directory where a file belongs is one line."""
    from memagent.cli import main

    Harness(plan(n=1, lengths=(1024,)), ContextScripted(tokenizer), CONFIG, tokenizer,
            tmp_path).run()
    elsewhere = tmp_path / "kept" / "report.md"
    elsewhere.parent.mkdir()
    elsewhere.write_text("old")
    (tmp_path / "report.md").symlink_to(elsewhere)
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path)])
    assert exc.value.code == 0
    assert (tmp_path / "report.md").is_symlink() and "| niah_single_1 |" in elsewhere.read_text()
    (tmp_path / "accuracy.png").unlink()
    (tmp_path / "accuracy.png").mkdir()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 3 and err.count("\n") == 1 and "accuracy.png is a directory" in err
    assert [p for p in tmp_path.rglob("*") if ".part" in p.name] == []
