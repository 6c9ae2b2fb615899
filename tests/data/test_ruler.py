"""RULER's niah_* tasks (data/ruler.py): needles once at their depth, RULER's question texts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from data_helpers import TARGET, opts_for

from memagent.data import (
    TASKS,
    GenOptions,
    generate_sample,
)


@pytest.mark.parametrize("task", [t for t in TASKS if t.startswith("niah")])
def test_needles_once_at_recorded_depth(task: str, tokenizer, essay_dir, sources) -> None:
    s = generate_sample(task, 3, opts_for(task, essay_dir, sources), tokenizer)
    for needle, depth, offset in zip(
        s.meta["needles"], s.meta["depths"], s.meta["needle_char_offsets"], strict=True
    ):
        assert s.context.count(needle) == 1
        assert s.context.index(needle) == offset
        # depth is measured in tokens; characters track it closely
        before = len(tokenizer.encode(s.context[:offset]))
        assert abs(100 * before / s.meta["context_tokens"] - depth) < 6
    for answer in s.answers:
        assert answer in s.context and answer not in s.question

def test_fixed_depth(tokenizer, essay_dir, sources) -> None:
    s = generate_sample(
        "niah_single_1", 0, opts_for("niah_single_1", essay_dir, sources, depth=50.0), tokenizer
    )
    assert s.meta["depths"] == [50.0]
    assert abs(s.meta["needle_char_offsets"][0] / len(s.context) - 0.5) < 0.02

def test_niah_questions_are_rulers_templates_without_the_context(tokenizer, tmp_path: Path) -> None:
    one = generate_sample("niah_single_1", 0, GenOptions(target=TARGET), tokenizer)
    key = re.search(r"for (\S+) mentioned", one.question)[1]  # type: ignore[index]
    assert one.question == (
        "A special magic number is hidden within the following text. Make sure to memorize it. "
        "I will quiz you about the number afterwards.\n\nWhat is the special magic number for "
        f"{key} mentioned in the provided text?"
    )
    assert one.meta["answer_prefix"] == (
        f" The special magic number for {key} mentioned in the provided text is"
    )
    essays = tmp_path / "essays"  # an essay source of our own: CI has no Debian dict-devil
    essays.mkdir()
    (essays / "a.txt").write_text(" ".join(f"Sentence number {i} is plain prose." for i in range(400)))
    opts = GenOptions(target=TARGET, haystack_dir=str(essays))
    many = generate_sample("niah_multivalue", 0, opts, tokenizer)
    assert many.question.startswith(
        "Some special magic numbers are hidden within the following text. Make sure to memorize "
        "it. I will quiz you about the numbers afterwards.\n\nWhat are all the special magic "
        "numbers for "
    )
    release = generate_sample(
        "niah_single_1", 0, GenOptions(target=TARGET, style="release"), tokenizer
    )
    assert release.question == (
        "A special magic number is hidden within the following text. Make sure to memorize it. "
        f"What is the special magic number for {key} mentioned in the provided text?"
    )
