"""The release's evaluation JSON and training parquet files (data/release.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from data_helpers import run_main

from memagent.data import (
    read_jsonl,
)
from memagent.errors import InputError


def _ruler_eval_file(folder: Path) -> Path:
    path = folder / "eval_niah_single_1_8192.json"
    records = [
        {"index": i, "input": f"What is the special magic number for key-{i}?",
         "context": f"The grass is green.\nOne of the special magic numbers for key-{i} is: {i}7.",
         "outputs": [f"{i}7"], "answer_prefix": " The special magic number", "length": 8000}
        for i in range(3)
    ]
    path.write_text(json.dumps(records, indent=4), encoding="utf-8")
    return path

def test_release_ruler_and_hotpotqa_eval_files(tmp_path: Path) -> None:
    samples = list(read_jsonl(_ruler_eval_file(tmp_path)))
    assert [s.task for s in samples] == ["niah_single_1"] * 3
    assert samples[1].answers == ["17"] and samples[1].metric == "string_match_all"
    assert samples[1].meta["target_tokens"] == 8192 and samples[1].context.startswith("The grass")
    hqa = tmp_path / "eval_200.json"
    hqa.write_text(json.dumps([{"context": "Document 1:\nT\ntext", "input": "Who?",
                                "answers": ["Ann", "Anne"], "num_docs": 200, "index": 7}]))
    (s,) = read_jsonl(hqa)
    assert (s.task, s.metric, s.meta["target_tokens"], s.question) == (
        "hotpotqa", "substring_2way_first", 200, "Who?"
    )

def test_release_files_reach_eval_samples(tmp_path: Path) -> None:
    from memagent.cli.eval import _sample_files
    from memagent.eval.harness import _file_samples

    path = _ruler_eval_file(tmp_path)
    assert _sample_files([path]) == {"niah_single_1": (str(path),)}
    assert len(_file_samples([str(path)], 8192)) == 3
    assert _file_samples([str(path)], 4096) == []

def test_release_training_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [
        {"data_source": "hotpotqa", "prompt": [{"role": "user", "content": f"Q{i}?"}],
         "context": f"Document 1:\nT{i}\nbody", "ability": "memory",
         "reward_model": {"style": "rule", "ground_truth": [f"A{i}"]},
         "extra_info": {"index": i, "question": f"Q{i}?", "num_docs": 200}}
        for i in range(4)
    ]
    path = tmp_path / "hotpotqa_train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    samples = list(read_jsonl(path))
    assert [s.question for s in samples] == ["Q0?", "Q1?", "Q2?", "Q3?"]
    assert samples[2].answers == ["A2"] and samples[2].meta["target_tokens"] == 200
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist([{"question": "q", "context": "c"}]), bad)
    with pytest.raises(InputError, match=r"bad.parquet: parquet lacks column\(s\) prompt, "):
        list(read_jsonl(bad))

def test_parquet_without_pyarrow_says_how_to_install(tmp_path: Path, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    path = tmp_path / "x.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(InputError, match=r"x.parquet: reading parquet needs pyarrow: pip install"):
        list(read_jsonl(path))

@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("eval_niah_single_1_8192.json", '[{"input": "q"}]', "neither 'outputs'"),
        ("eval_niah_single_1_8192.json", '[{"input": "q", "outputs": ["a"]}]',
         "record 0: missing field 'context'"),
        ("mystery.json", '[{"input": "q", "context": "c", "outputs": ["a"]}]',
         "cannot tell the RULER task"),
        ("eval_qa_1_8192.json", '[{"input": "q", "context": [1, 2], "outputs": ["a"]}]',
         "'context' is a list of document indices"),
        ("eval_200.json", '[{"input": "q", "context": "c", "answers": "a", "num_docs": 2}]',
         "field 'answers' must be a list"),
    ],
)
def test_bad_release_files_are_one_line_exit_3(
    tmp_path: Path, capsys, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    code, _, err = run_main(
        ["eval", "--tasks", "niah_single_1", "--lengths", "8k", "-o", str(tmp_path / "out"),
         "--samples", str(path)], capsys,
    )
    assert code == 3 and err.count("\n") == 1, err
    assert name in err and message in err, err
