"""The release's closed-book filter (data/filter.py, memagent data filter) and its boxed match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from data_helpers import run_main

from memagent.data.filter import (
    FILTER_PROMPT,
    FILTER_SAMPLING,
    boxed_hit,
    closed_book_filter,
    closed_book_hit,
)
from memagent.data.fixtures import write_squad_fixture
from memagent.data.loaders import load_hotpotqa
from memagent.types import Completion


def test_release_boxed_match_and_its_quirks() -> None:
    assert boxed_hit("So the answer is \\boxed{Paris}.", "paris")
    assert boxed_hit("\\boxed{ New  York }", "new york")  # strip_string drops spaces
    assert not boxed_hit("\\boxed{Paris}" + " filler" * 60, "paris")  # beyond the last 300 chars
    assert not boxed_hit("\\fbox{Paris}", "paris")  # the release's assert rejects \fbox
    assert boxed_hit("answer: \\boxed paris$", "paris")  # the '\boxed ' form
    assert closed_book_hit("I think it is Paris, France", ["paris"])  # gold substring
    assert not closed_book_hit("\\boxed{Rome}", ["Paris"])
    assert FILTER_PROMPT.format(question="Q?") == "Q?\nYour final answer in \\boxed{}.\n"
    assert (FILTER_SAMPLING.temperature, FILTER_SAMPLING.top_p) == (1.0, 0.7)

class _ClosedBook:
    """Scripted: knows the answers of the questions listed; records every request."""

    def __init__(self, name: str, known: dict[str, str]):
        self.name, self.known = name, known
        self.requests: list[object] = []
        self.calls = 0

    def generate(self, requests, sampling):  # type: ignore[no-untyped-def]
        self.calls += 1
        out = []
        for r in requests:
            self.requests.append((r, sampling))
            q = r.messages[0]["content"].split("\n")[0]
            out.append(Completion(f"\\boxed{{{self.known.get(q, 'no idea')}}}", 1, 1))
        return out



def test_filter_library_drops_any_hit(hotpot: str) -> None:
    items = load_hotpotqa(hotpot)[:6]
    base = _ClosedBook("base", {items[1].question: items[1].answers[0]})
    inst = _ClosedBook("inst", {items[4].question: items[4].answers[0]})
    result = closed_book_filter(items, [base, inst], keep=3)
    assert result.kept == [0, 2, 3]
    assert result.hits == {1: ["base"], 4: ["inst"]}
    assert base.calls == inst.calls == 2  # two samples per model
    request, sampling = base.requests[0]  # type: ignore[misc]
    assert request.max_tokens == 512 and sampling.temperature == 1.0

def test_data_filter_command(tmp_path: Path, hotpot: str, capsys, monkeypatch) -> None:
    import memagent.llm

    items = load_hotpotqa(hotpot)
    loaded: list[str] = []

    def fake_load(opts):  # type: ignore[no-untyped-def]
        loaded.append(opts.model)
        return _ClosedBook(opts.model, {items[0].question: items[0].answers[0]})

    monkeypatch.setattr(memagent.llm, "load_llm", fake_load)
    out, report = tmp_path / "kept.json", tmp_path / "report.jsonl"
    code, _, err = run_main(
        ["data", "filter", hotpot, "-o", str(out), "-m", "Qwen2.5-7B", "-m", "Qwen2.5-7B-Instruct",
         "--keep", "5", "--report", str(report)], capsys,
    )
    assert code == 0, err
    assert loaded == ["Qwen2.5-7B", "Qwen2.5-7B-Instruct"]
    kept = json.loads(out.read_text())
    assert [r["question"] for r in kept] == [i.question for i in items[1:6]]
    assert load_hotpotqa(out)  # the output is a HotpotQA file again
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert rows[0]["hit_by"] == ["Qwen2.5-7B", "Qwen2.5-7B-Instruct"] and not rows[0]["kept"]
    assert "kept 5 of 60" in err

def test_data_filter_bad_source_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    import memagent.llm

    monkeypatch.setattr(memagent.llm, "load_llm", lambda *a: pytest.fail("model loaded"))
    squad = write_squad_fixture(tmp_path / "squad.json", n_articles=2)
    code, _, err = run_main(["data", "filter", str(squad), "-o", str(tmp_path / "o.json"),
                             "-m", "x"], capsys)
    assert code == 3 and err.count("\n") == 1 and "squad.json" in err, err
