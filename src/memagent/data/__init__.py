"""Data generators: RULER's 13 tasks and RULER-HotpotQA, pure functions of
(task, length, seed, tokenizer[, source files]) -> Samples. Same inputs, same bytes.

    from memagent.data import GenOptions, generate_samples, parse_length
    for s in generate_samples("niah_single_1", GenOptions(target=parse_length("32k")), 10, tok): ...
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import replace

from memagent.data.episodes import episode_sample
from memagent.data.hotpotqa import QA_TASKS, generate_qa, no_context_filter
from memagent.data.io import GenOptions, Sample, write_jsonl
from memagent.data.release import read_samples
from memagent.data.ruler import NIAH, generate_niah
from memagent.data.synthetic import generate_cwe, generate_fwe, generate_vt
from memagent.errors import InputError
from memagent.types import Tokenizer

__all__ = [
    "TASKS",
    "GenOptions",
    "Sample",
    "check_docs",
    "generate_sample",
    "generate_samples",
    "no_context_filter",
    "parse_length",
    "read_jsonl",
    "read_samples",
    "write_jsonl",
]

Generator = Callable[[str, int, random.Random, GenOptions, Tokenizer], Sample]
TASKS: dict[str, Generator] = {
    **dict.fromkeys(NIAH, generate_niah),
    "vt": generate_vt,
    "cwe": generate_cwe,
    "fwe": generate_fwe,
    **dict.fromkeys(QA_TASKS, generate_qa),
    # the memory-agent training distribution (data/episodes/) as evaluation tasks: templates and
    # haystacks of the train split (in-distribution) or of the held-out split, fresh seeds
    **dict.fromkeys(("episodes_train", "episodes_heldout"), episode_sample),
}
# Our JSONL, and the MemAgent release's JSON / parquet files (data/release.py); `memagent eval
# --samples` reads through this name.
read_jsonl = read_samples
_LENGTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([km]?)\s*$", re.IGNORECASE)


MAX_LENGTH = 4 * 1024 * 1024  # 4m tokens: past the paper's longest (3.5M), ~16 MB of text a sample
MAX_DOCS = 16384  # --docs: past the release's longest RULER-HotpotQA (6400 documents)


def parse_length(text: str) -> int:
    """'32k' -> 32768, '1m' -> 1048576, '5000' -> 5000 (RULER's power-of-two convention).

    Refused before any work: a length that is not a positive number of tokens, or over MAX_LENGTH
    (a typo such as 99999999m would otherwise grow memory until the machine gives out)."""
    match = _LENGTH.match(text)
    if not match:
        raise InputError(f"bad length {text!r}: use a number with an optional k/m suffix, e.g. 32k")
    scale = {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
    tokens = int(float(match.group(1)) * scale)
    if tokens < 1:
        raise InputError(f"length {text!r} is under one token: give e.g. 32k")
    if tokens > MAX_LENGTH:
        raise InputError(
            f"length {text!r} is {tokens} tokens, over the limit of {MAX_LENGTH} (4m): "
            "give a length up to 4m"
        )
    return tokens


def check_docs(docs: int | None) -> None:
    """--docs within MAX_DOCS (its lower bound, 1, is the option's own)."""
    if docs is not None and docs > MAX_DOCS:
        raise InputError(f"--docs {docs} is over the limit of {MAX_DOCS} documents a sample")


def generate_sample(task: str, index: int, opts: GenOptions, tokenizer: Tokenizer) -> Sample:
    """Sample `index` of a task; each sample has its own RNG, so sample i never depends on n."""
    try:
        make = TASKS[task]
    except KeyError:
        raise InputError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}") from None
    seed = f"{task}|{opts.seed}|{index}"
    sample = make(task, index, random.Random(seed), opts, tokenizer)
    if opts.length_convention == "context" or opts.docs is not None:
        return sample
    # RULER's convention: question + context + generation budget <= length. Same seed, so the
    # second draw has the same question (its keys come before the haystack) and a shorter context.
    from memagent.data.fit import count_tokens

    fixed = count_tokens(tokenizer, sample.question) + int(sample.meta.get("generation_budget", 0))
    shorter = replace(opts, target=opts.target - fixed, length_convention="context")
    sample = make(task, index, random.Random(seed), shorter, tokenizer)
    sample.id = sample.id.replace(f"-{shorter.target}-", f"-{opts.target}-", 1)
    sample.meta.update(target_tokens=opts.target, length_convention="ruler",
                       ruler_length=fixed + int(sample.meta["context_tokens"]))
    return sample


def generate_samples(
    task: str, opts: GenOptions, n: int, tokenizer: Tokenizer, start: int = 0
) -> Iterator[Sample]:
    for index in range(start, start + n):
        yield generate_sample(task, index, opts, tokenizer)
