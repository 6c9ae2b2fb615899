"""Every task by name (data/__init__): exact lengths, determinism, length conventions,
parse_length."""

from __future__ import annotations

import pytest
from data_helpers import TARGET, opts_for

from memagent.data import (
    TASKS,
    GenOptions,
    generate_sample,
    parse_length,
)
from memagent.data.fit import default_tolerance
from memagent.errors import InputError


@pytest.mark.parametrize("task", [t for t in TASKS if not t.startswith("episodes_")])
def test_length_exact_and_deterministic(task: str, tokenizer, essay_dir, sources) -> None:
    opts = opts_for(task, essay_dir, sources)
    a = generate_sample(task, 0, opts, tokenizer)
    b = generate_sample(task, 0, opts, tokenizer)
    assert a.to_json() == b.to_json()  # same seed, same bytes
    tokens = len(tokenizer.encode(a.context))
    assert tokens == a.meta["context_tokens"]
    # QA pads with whole paragraphs, so it may land up to about one paragraph short.
    slack = 120 if task in ("qa_1", "qa_2", "hotpotqa") else default_tolerance(TARGET)
    assert TARGET - slack <= tokens <= TARGET
    assert a.answers and all(a.answers)
    other = generate_sample(task, 1, opts, tokenizer)
    assert other.context != a.context  # samples differ by index

def test_ruler_length_convention_counts_question_and_budget(tokenizer) -> None:
    opts = GenOptions(target=TARGET, length_convention="ruler")
    s = generate_sample("niah_single_1", 0, opts, tokenizer)
    total = len(tokenizer.encode(s.question)) + len(tokenizer.encode(s.context)) + 128
    assert TARGET - 60 <= total <= TARGET
    assert s.meta["target_tokens"] == TARGET and s.id.startswith(f"niah_single_1-{TARGET}-")
    plain = generate_sample("niah_single_1", 0, GenOptions(target=TARGET), tokenizer)
    assert plain.question == s.question and plain.meta["context_tokens"] > total - 128

def test_parse_length() -> None:
    assert parse_length("32k") == 32768
    assert parse_length("1M") == 1 << 20
    assert parse_length("5000") == 5000
    with pytest.raises(InputError, match="bad length"):
        parse_length("lots")
