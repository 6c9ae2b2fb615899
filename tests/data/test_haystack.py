"""Essay haystacks (data/haystack.py): dict-devil, RULER's PaulGrahamEssays.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memagent.data import (
    GenOptions,
    generate_sample,
)
from memagent.data.haystack import DEFAULT_ESSAY, essay_sentences
from memagent.errors import InputError


@pytest.mark.skipif(not DEFAULT_ESSAY.is_file(), reason="dict-devil not installed")
def test_default_essay_source() -> None:
    sentences = essay_sentences(None)
    assert len(sentences) > 1000
    assert not any("00-database" in s for s in sentences[:50])

def test_ruler_paul_graham_json_is_an_essay_source(tmp_path: Path, tokenizer) -> None:
    text = "".join(
        f"Essay {i} says that startups grow when founders talk to users.\n\n" for i in range(200)
    )
    folder = tmp_path / "essays"
    folder.mkdir()
    (folder / "PaulGrahamEssays.json").write_text(json.dumps({"text": text}), encoding="utf-8")
    assert essay_sentences(str(folder))[:2] == (
        "Essay 0 says that startups grow when founders talk to users.",
        "Essay 1 says that startups grow when founders talk to users.",
    )
    assert essay_sentences(str(folder / "PaulGrahamEssays.json")) == essay_sentences(str(folder))
    s = generate_sample(
        "niah_single_2", 0, GenOptions(target=1500, haystack_dir=str(folder)), tokenizer
    )
    assert "founders talk to users" in s.context
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "essays.json").write_text(json.dumps({"essays": []}), encoding="utf-8")
    with pytest.raises(InputError, match=r'bad/essays.json: expected an object with .*"text"'):
        essay_sentences(str(bad))
