"""RULER's vt, cwe and fwe (data/synthetic.py): answers recomputed from the text, RULER's texts."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from data_helpers import TARGET

from memagent.data import (
    GenOptions,
    generate_sample,
)
from memagent.data.synthetic import fwe_counts, fwe_vocab_size


def test_vt_chain_resolves_to_answers(tokenizer) -> None:
    s = generate_sample("vt", 2, GenOptions(target=TARGET), tokenizer)
    assigned: dict[str, str] = {}
    for line in s.context.splitlines():
        m = re.fullmatch(r"VAR ([A-Z]{5}) = (VAR [A-Z]{5} |\d+)", line)  # RULER's trailing space
        if m:
            rhs = m.group(2).strip()
            assigned[m.group(1)] = assigned[rhs[4:]] if rhs.startswith("VAR ") else rhs
    value = s.meta["value"]
    assert sorted(k for k, v in assigned.items() if v == value) == sorted(s.answers)
    assert len(s.answers) == 5

def test_cwe_answers_by_counting(tokenizer) -> None:
    s = generate_sample("cwe", 0, GenOptions(target=TARGET), tokenizer)
    pairs = re.findall(r"(\d+)\. (\S+)", s.context)  # RULER's one-line "1. w 2. w ..."
    assert [int(n) for n, _ in pairs] == list(range(1, len(pairs) + 1))
    counts = Counter(w for _, w in pairs)
    top = [w for w, c in counts.items() if c == 6]  # below 4K tokens RULER repeats 6 / 1
    assert sorted(top) == sorted(s.answers)
    assert {c for w, c in counts.items() if w not in top} == {1}

def test_fwe_answers_by_counting(tokenizer) -> None:
    s = generate_sample("fwe", 0, GenOptions(target=TARGET), tokenizer)
    counts = Counter(w for w in s.context.split() if w != "...").most_common(4)
    assert [w for w, _ in counts[:3]] == s.answers
    assert counts[2][1] > counts[3][1]
    assert s.context.split().count("...") > counts[0][1]

def test_vt_question_has_rulers_example_and_template(tokenizer) -> None:
    s = generate_sample("vt", 0, GenOptions(target=TARGET), tokenizer)
    value = s.meta["value"]
    tail = (
        "\n\nMemorize and track the chain(s) of variable assignment hidden in the following "
        f"text.\n\n\nQuestion: Find all variables that are assigned the value {value} in the "
        "text above."
    )
    assert s.question.endswith(tail)
    example = s.question[: -len(tail)]
    assert example.startswith("Memorize and track the chain(s) of variable assignment")
    names = re.search(r"they are:  ([A-Z]{3}(?: [A-Z]{3}){4})$", example)
    assert names, example[-200:]
    assert len(tokenizer.encode(example)) <= 500
    # RULER writes every hop with a trailing space
    assert all(line.endswith(" ") for line in s.meta["needles"][1:])
    assert f"VAR {s.answers[1]} = VAR {s.answers[0]} \n" in s.context
    release = generate_sample("vt", 0, GenOptions(target=TARGET, style="release"), tokenizer)
    assert release.question == (
        "Memorize and track the chain(s) of variable assignment hidden in the following text. "
        f"Question: Find all variables that are assigned the value {value} in the text above."
    )

@pytest.mark.parametrize(("target", "repeats"), [(TARGET, (6, 1)), (4200, (30, 3))])
def test_cwe_list_and_question_as_ruler(tokenizer, target: int, repeats: tuple[int, int]) -> None:
    s = generate_sample("cwe", 0, GenOptions(target=target), tokenizer)
    pairs = re.findall(r"(\d+)\. (\S+)", s.context)
    assert " ".join(f"{n}. {w}" for n, w in pairs) == s.context  # one line, as RULER
    assert [int(n) for n, _ in pairs] == list(range(1, len(pairs) + 1))
    counts = Counter(w for _, w in pairs)
    assert {counts[w] for w in s.answers} == {repeats[0]}
    assert {c for w, c in counts.items() if w not in s.answers} == {repeats[1]}
    assert s.question.endswith(
        "\nBelow is a numbered list of words. In these words, some appear more often than others."
        " Memorize the ones that appear most often.\n\nQuestion: What are the 10 most common "
        "words in the above list?"
    )
    assert re.search(r"are: 1\. \S+ 2\. \S+ .* 10\. \S+\n", s.question)

def test_fwe_vocabulary_and_counts_as_ruler(tokenizer) -> None:
    s = generate_sample("fwe", 0, GenOptions(target=TARGET), tokenizer)
    size = s.meta["vocab_size"]
    assert size == fwe_vocab_size(TARGET) == (TARGET - 50) // 50
    counts = Counter(s.context.split())
    expected = fwe_counts(s.meta["coded_words"], size)
    by_rank = sorted(counts.values(), reverse=True)
    assert by_rank == [c for c in expected if c > 0]  # fixed Zipf counts, zero-count words absent
    assert counts["..."] == expected[0]
    assert [counts[w] for w in s.answers] == expected[1:4]
    assert all(re.fullmatch(r"[a-z]{6}", w) for w in s.answers)
    assert s.question == (
        "Read the following coded text and track the frequency of each coded word. Find the "
        "three most frequently appeared coded words. \nQuestion: Do not provide any explanation. "
        "Please ignore the dots '....'. What are the three most frequently appeared words in the "
        "above coded text?"
    )
