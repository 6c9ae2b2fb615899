"""The official HotpotQA and SQuAD v2 readers (data/loaders.py): a bad file is one line naming
the record."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from memagent.data.loaders import load_hotpotqa, load_source, load_squad
from memagent.errors import InputError


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not valid JSON"),
        ("{}", "neither"),
        ("[]", "non-empty list"),
        ('[{"question": "q"}]', "record 0: missing field 'answer'"),
        (
            '[{"question": "q", "answer": "a", "supporting_facts": [], "context": [["t", "x"]]}]',
            "record 0: 'context' entries",
        ),
    ],
)
def test_hotpotqa_loader_rejects(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(message)) as info:
        load_source(path) if message in ("neither", "not valid JSON") else load_hotpotqa(path)
    assert "bad.json" in str(info.value)

def test_squad_loader(tmp_path: Path, sources) -> None:
    items = load_squad(sources["squad"])
    assert len(items) == 40 * 4 * 3  # unanswerable questions skipped
    raw = json.loads(Path(sources["squad"]).read_text())
    del raw["data"][0]["paragraphs"][1]["context"]
    bad = tmp_path / "squad.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(InputError, match=r"data\[0\]\.paragraphs\[1\]"):
        load_squad(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_squad(tmp_path / "missing.json")
