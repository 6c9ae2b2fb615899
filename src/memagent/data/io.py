"""The Sample type every generator returns, and its JSONL form (one sample per line)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from memagent.errors import InputError

_REQUIRED = ("id", "task", "context", "question", "answers", "metric")


@dataclass(frozen=True)
class GenOptions:
    """What every generator needs besides the tokenizer: length, seed and where text comes from."""

    target: int  # context length in the target model's tokens (an upper bound)
    seed: int = 0
    haystack_dir: str | None = None  # essay .txt files; None: the packaged default
    source: str | None = None  # SQuAD / HotpotQA JSON for the QA tasks
    depth: float | None = None  # needle depth in percent; None: drawn from RULER's 40 depths
    # "heldout": keys and values only from the hash partition no training episode draws from
    # (data/episodes/vocabulary.py split_of), so evaluation never meets a trained key or value. None: all.
    split: str | None = None
    # question texts and QA metric: "ruler" (NVIDIA RULER's templates, context deleted; its
    # metrics) or "release" (the MemAgent release's texts; qa scored as its two-way sub-EM)
    style: str = "ruler"
    # RULER-HotpotQA / qa: the release's length convention, a count of documents (own + random
    # others) instead of a length in tokens; None: fill `target` tokens
    docs: int | None = None
    # what --length measures: "context" (the document alone, exact; default) or "ruler" (RULER's
    # and the release's: question + document + the task's generation budget ≤ length)
    length_convention: str = "context"

    def __post_init__(self) -> None:
        from memagent.data.templates import check_style

        check_style(self.style)
        if self.length_convention not in ("context", "ruler"):
            raise InputError(
                f"length convention must be 'context' or 'ruler', got {self.length_convention!r}"
            )
        if self.docs is not None and self.docs < 1:
            raise InputError(f"docs must be a positive document count, got {self.docs}")
        if self.target < 64:
            raise InputError(f"target length must be at least 64 tokens, got {self.target}")
        if self.split not in (None, "heldout"):
            raise InputError(f"split must be 'heldout' or unset, got {self.split!r}")
        if self.depth is not None and not 0 <= self.depth <= 100:
            raise InputError(f"depth is a percentage in [0, 100], got {self.depth}")


@dataclass
class Sample:
    """One evaluation/training item. Only `context` is chunked; `question` is the problem."""

    id: str
    task: str
    context: str
    question: str
    answers: list[str]
    metric: str  # a name in memagent.scoring.METRICS
    meta: dict[str, Any] = field(default_factory=dict)  # seed, depths, target/actual tokens, ...

    def to_json(self) -> str:
        # Key order is the field order and never depends on dict history: same sample, same bytes.
        return json.dumps(asdict(self), ensure_ascii=False)


def provenance(opts: GenOptions, index: int) -> dict[str, Any]:
    """The meta keys that say how to generate a sample again: seed, index, target length."""
    size = opts.target if opts.docs is None else opts.docs  # --docs N: the length is N documents
    return {"seed": opts.seed, "index": index, "target_tokens": size}


def generated_sample(
    task: str,
    opts: GenOptions,
    index: int,
    context: str,
    question: str,
    answers: list[str],
    metric: str,
    meta: dict[str, Any],
) -> Sample:
    """The `index`-th sample a generator draws for `task` under `opts` (its id names all three)."""
    size = opts.target if opts.docs is None else f"d{opts.docs}"
    return Sample(
        id=f"{task}-{size}-s{opts.seed}-{index}",
        task=task,
        context=context,
        question=question,
        answers=answers,
        metric=metric,
        meta=meta,
    )


def write_jsonl(samples: Iterable[Sample], path: str | Path) -> int:
    """Write samples, one JSON object per line; returns how many were written. The file is
    written whole or not at all (`memagent.outputs.atomic_output`: `-` is stdout)."""
    from memagent.outputs import atomic_output

    n = 0
    with atomic_output(path, "samples file") as f:
        for sample in samples:
            f.write(sample.to_json() + "\n")
            n += 1
    return n


def _lines(f: Any, path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of a text file; bytes that are not UTF-8 (a binary file) are an
    InputError naming the file and line, not a crash."""
    lineno = 0
    try:
        for lineno, line in enumerate(f, 1):
            yield lineno, line
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}:{lineno + 1}: not UTF-8 text (byte {exc.object[exc.start]:#04x}); a samples "
            "file is JSONL from `memagent data`"
        ) from None


def read_jsonl(path: str | Path) -> Iterator[Sample]:
    """Read samples back; a bad line raises InputError naming the file and line.

    `memagent.data.read_jsonl` (data.release.read_samples) also reads the release's files.
    """
    path = Path(path)
    try:
        f = path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read samples file {path}: {exc.strerror}") from exc
    with f:
        for lineno, line in _lines(f, path):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
            if not isinstance(obj, dict):
                raise InputError(f"{path}:{lineno}: expected a JSON object per line")
            missing = [k for k in _REQUIRED if k not in obj]
            if missing:
                raise InputError(f"{path}:{lineno}: sample lacks field(s) {', '.join(missing)}")
            answers = obj["answers"]
            if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
                raise InputError(f"{path}:{lineno}: 'answers' must be a list of strings")
            yield Sample(
                id=str(obj["id"]),
                task=str(obj["task"]),
                context=str(obj["context"]),
                question=str(obj["question"]),
                answers=answers,
                metric=str(obj["metric"]),
                meta=dict(obj.get("meta") or {}),
            )
