"""qa_1, qa_2 and RULER-HotpotQA documents (data/hotpotqa.py): gold documents, styles, --docs,
the no-context filter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from data_helpers import TARGET, opts_for

from memagent.data import (
    GenOptions,
    generate_sample,
    no_context_filter,
)
from memagent.data.fixtures import write_hotpotqa_fixture
from memagent.data.loaders import load_hotpotqa, load_source
from memagent.errors import InputError


@pytest.mark.parametrize("task", ["qa_1", "qa_2", "hotpotqa"])
def test_qa_gold_documents_present(task: str, tokenizer, essay_dir, sources) -> None:
    items = load_source(sources["squad" if task == "qa_1" else "hotpot"])
    s = generate_sample(task, 1, opts_for(task, essay_dir, sources), tokenizer)
    item = next(i for i in items if i.id == s.meta["question_id"])
    docs = re.split(r"\n\nDocument \d+:\n", "\n\n" + s.context)[1:]
    assert len(docs) == s.meta["num_docs"] == len(set(docs))
    for g, number in zip(item.gold, s.meta["gold_docs"], strict=True):
        assert docs[number - 1] == item.docs[g]
    assert set(item.docs) <= set(docs)  # its own distractors too, as in the paper
    assert item.question in s.question

def test_qa_source_too_small(tokenizer, sources) -> None:
    with pytest.raises(InputError, match="too few"):
        generate_sample("qa_1", 0, GenOptions(target=200_000, source=sources["squad"]), tokenizer)

def test_qa_texts_and_metrics_per_style(tokenizer, hotpot: str) -> None:
    ruler = generate_sample("qa_2", 0, GenOptions(target=TARGET, source=hotpot), tokenizer)
    question = next(i.question for i in load_hotpotqa(hotpot) if i.question in ruler.question)
    assert ruler.question == (
        "Answer the question based on the given documents. Only give me the answer and do not "
        "output any other words.\n\nThe following are given documents.\n\n\n\nAnswer the question "
        "based on the given documents. Only give me the answer and do not output any other "
        f"words.\n\nQuestion: {question}"
    )
    assert ruler.metric == "string_match_part"
    opts = GenOptions(target=TARGET, source=hotpot, style="release")
    release = generate_sample("qa_2", 0, opts, tokenizer)
    assert release.question == f"Answer the question based on the given documents. {question}"
    assert release.metric == "substring_2way_first"
    paper = generate_sample("hotpotqa", 0, GenOptions(target=TARGET, source=hotpot), tokenizer)
    assert paper.metric == "substring_2way_first" and "Answer" not in paper.question

def test_docs_convention_counts_documents(tokenizer, hotpot: str) -> None:
    opts = GenOptions(target=TARGET, source=hotpot, docs=25)
    s = generate_sample("hotpotqa", 0, opts, tokenizer)
    assert s.meta["num_docs"] == 25 == s.meta["target_tokens"]
    assert len(re.findall(r"^Document \d+:$", s.context, re.M)) == 25
    assert s.meta["context_tokens"] == len(tokenizer.encode(s.context))

def test_no_context_filter(tmp_path: Path) -> None:
    path = write_hotpotqa_fixture(tmp_path / "h.json", n_questions=6)
    items = load_hotpotqa(path)
    calls: list[int] = []

    def answer(questions: list[str]) -> list[str | None]:
        # try 1 solves question 0, try 2 solves question 1 (case and punctuation differ)
        calls.append(1)
        k = len(calls) - 1
        return [
            items[i].answers[0].upper() + "." if i == k else None for i in range(len(questions))
        ]

    kept = no_context_filter(items, answer, tries=2)
    assert len(calls) == 2
    assert kept == list(items[2:])
