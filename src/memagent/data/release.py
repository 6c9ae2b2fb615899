"""Readers for the MemAgent release's data files, as its scripts write them (taskutils/memory_data).

- RULER evaluation, `eval_{task}_{length}.json` (ruler_data_prepare.py): a JSON list of
  {index, input, context, outputs, answer_prefix, length}; `input` is the question, `context` the
  document. Task and length come from the file name. Scored with string_match_all, qa_* with the
  release's two-way sub-EM against answers[0] (ruler_general.py).
- RULER-HotpotQA evaluation, `eval_{N}.json` (different_docs_eval.py, convert_to_eval.py): a JSON
  list of {context, input, answers, num_docs, index}; its length axis is the document count N, so
  `meta.target_tokens` is N: evaluate it with `--lengths N` (e.g. `--lengths 200`).
- Training / dev parquet (processing.py, filter2.py): columns data_source, prompt (a list of
  {role, content}; the question), context, ability, reward_model {style, ground_truth},
  extra_info {index, question, num_docs}. Reading it needs the optional `pyarrow`.

Files whose `context` is a list of document indices (the release's form above 10,000 documents)
are refused: they need the source paragraph pool to be rendered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from memagent.data.io import Sample, read_jsonl
from memagent.data.ruler import NIAH
from memagent.errors import InputError

PARQUET_HINT = "reading parquet needs pyarrow: pip install 'memagent[parquet]' (or pip install pyarrow)"
RELEASE_METRIC = "substring_2way_first"
_RULER_NAME = re.compile(r"^eval_(?P<task>[a-z_0-9]+?)_(?P<length>\d+)\.json$")
_HOTPOT_NAME = re.compile(r"^eval_(?P<docs>\d+)\.json$")
RULER_TASKS = (*NIAH, "vt", "cwe", "fwe", "qa_1", "qa_2")


def read_samples(path: str | Path) -> Iterator[Sample]:
    """Samples of a file: our JSONL (`memagent data`), or a release JSON / parquet file."""
    if is_release_file(path):
        return read_release(path)
    return read_jsonl(path)


def is_release_file(path: str | Path) -> bool:
    """A parquet file, or a JSON file holding one array (our JSONL holds one object per line)."""
    path = Path(path)
    if path.suffix == ".parquet":
        return True
    try:
        with path.open("rb") as f:
            head = f.read(4096).lstrip()
    except OSError:
        return False
    return head.startswith(b"[")


def read_release(path: str | Path) -> Iterator[Sample]:
    """Samples of a released JSON or parquet file (see the module docstring)."""
    path = Path(path)
    if path.suffix == ".parquet":
        yield from _parquet_samples(path)
        return
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read samples file {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(records, list) or not records:
        raise InputError(f"{path}: expected a non-empty JSON list of records")
    first = records[0]
    if isinstance(first, dict) and "outputs" in first:
        yield from _ruler_samples(path, records)
    elif isinstance(first, dict) and "answers" in first:
        yield from _hotpot_samples(path, records)
    else:
        raise InputError(
            f"{path}: record 0 has neither 'outputs' (a RULER eval file) nor 'answers' "
            "(a RULER-HotpotQA eval file)"
        )


def _field(path: Path, i: int, rec: Any, key: str, kind: type) -> Any:
    if not isinstance(rec, dict):
        raise InputError(f"{path}: record {i}: expected an object")
    if key not in rec:
        raise InputError(f"{path}: record {i}: missing field '{key}'")
    value = rec[key]
    if key == "context" and isinstance(value, list):
        raise InputError(
            f"{path}: record {i}: field 'context' is a list of document indices; render it "
            "with its source paragraphs first (memagent reads rendered text only)"
        )
    if not isinstance(value, kind):
        raise InputError(f"{path}: record {i}: field '{key}' must be a {kind.__name__}")
    if kind is list and not all(isinstance(a, str) for a in value):
        raise InputError(f"{path}: record {i}: field '{key}' must be a list of strings")
    return value


def _ruler_samples(path: Path, records: list[Any]) -> Iterator[Sample]:
    match = _RULER_NAME.match(path.name)
    if not match or match["task"] not in RULER_TASKS:
        raise InputError(
            f"{path}: cannot tell the RULER task from the file name; "
            "keep the release's name eval_{task}_{length}.json"
        )
    task, length = match["task"], int(match["length"])
    metric = RELEASE_METRIC if task.startswith("qa_") else "string_match_all"
    for i, rec in enumerate(records):
        answers = _field(path, i, rec, "outputs", list)
        index = rec.get("index", i)
        yield Sample(
            id=f"{task}-{length}-release-{index}",
            task=task,
            context=_field(path, i, rec, "context", str),
            question=_field(path, i, rec, "input", str),
            answers=list(answers),
            metric=metric,
            meta={"index": index, "target_tokens": length, "release_file": path.name,
                  "release_length": rec.get("length"),
                  "answer_prefix": rec.get("answer_prefix", "")},
        )


def _hotpot_samples(path: Path, records: list[Any]) -> Iterator[Sample]:
    match = _HOTPOT_NAME.match(path.name)
    for i, rec in enumerate(records):
        answers = _field(path, i, rec, "answers", list)
        docs = rec.get("num_docs", int(match["docs"]) if match else None)
        if not isinstance(docs, int):
            raise InputError(f"{path}: record {i}: missing field 'num_docs'")
        yield _hotpot_sample(
            path, rec.get("index", i), docs, _field(path, i, rec, "context", str),
            _field(path, i, rec, "input", str), answers,
        )


def _hotpot_sample(
    path: Path, index: Any, docs: int, context: str, question: str, answers: list[str],
    **meta: Any,
) -> Sample:
    """A RULER-HotpotQA sample from either released format (evaluation JSON, training parquet)."""
    return Sample(
        id=f"hotpotqa-d{docs}-release-{index}",
        task="hotpotqa",
        context=context,
        question=question,
        answers=list(answers),
        metric=RELEASE_METRIC,
        meta={"index": index, "target_tokens": docs, "num_docs": docs, **meta,
              "release_file": path.name},
    )


PARQUET_COLUMNS = ("prompt", "context", "reward_model", "extra_info")


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{path}: {PARQUET_HINT}") from None
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"{path}: not a readable parquet file ({exc})") from exc
    missing = [c for c in PARQUET_COLUMNS if c not in table.column_names]
    if missing:
        raise InputError(
            f"{path}: parquet lacks column(s) {', '.join(missing)} "
            f"(the release's training format has {', '.join(PARQUET_COLUMNS)})"
        )
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _parquet_samples(path: Path) -> Iterator[Sample]:
    for i, row in enumerate(_parquet_rows(path)):
        prompt, reward = row["prompt"], row["reward_model"]
        ok = isinstance(prompt, list) and prompt and isinstance(prompt[0], dict)
        if not ok or not isinstance(prompt[0].get("content"), str):
            raise InputError(f"{path}: row {i}: column 'prompt' must be a list of {{role, content}}")
        golds = reward.get("ground_truth") if isinstance(reward, dict) else None
        if not isinstance(golds, list) or not golds or not all(isinstance(g, str) for g in golds):
            raise InputError(
                f"{path}: row {i}: column 'reward_model' needs 'ground_truth', a list of strings"
            )
        if not isinstance(row["context"], str):
            raise InputError(f"{path}: row {i}: column 'context' must be a string")
        extra = row["extra_info"]
        docs = extra.get("num_docs") if isinstance(extra, dict) else None
        if not isinstance(docs, int):
            raise InputError(f"{path}: row {i}: column 'extra_info' needs 'num_docs', an integer")
        yield _hotpot_sample(
            path, extra.get("index", i), docs, row["context"], prompt[0]["content"], golds,
            data_source=row.get("data_source"),
        )
