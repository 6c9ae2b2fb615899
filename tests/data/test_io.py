"""Samples as JSONL (data/io.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memagent.data import (
    GenOptions,
    generate_sample,
    read_jsonl,
)
from memagent.data.io import write_jsonl
from memagent.errors import InputError


def test_jsonl_roundtrip(tmp_path: Path, tokenizer) -> None:
    samples = [
        generate_sample("niah_single_1", i, GenOptions(target=500), tokenizer) for i in range(3)
    ]
    path = tmp_path / "s.jsonl"
    assert write_jsonl(samples, path) == 3
    assert list(read_jsonl(path)) == samples
    path.write_text('{"id": 1}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"s.jsonl:1: .*context"):
        list(read_jsonl(path))
