"""Shared helpers of the benchmarks: documents, a fast scripted backend, the embedded model, output.

Every benchmark prints ratios of things measured side by side in one run (the machine is shared and
noisy) and writes CSV + markdown under results/bench/.
"""

from __future__ import annotations

import csv
import platform
import random
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from memagent.types import ChatRequest, Completion, SamplingParams

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "bench"

SUBJECTS = ("river", "garden", "library", "market", "harbor", "mountain", "village", "station")
VERBS = ("crossed", "painted", "visited", "measured", "described", "repaired", "counted", "named")
OBJECTS = ("a bridge", "the old wall", "three boats", "a tall tower", "the north road", "a clock")


def noise_blocks(approx_tokens: int, seed: int = 0, block_chars: int = 1 << 20) -> Iterator[str]:
    """Deterministic filler prose, streamed in ~1 MiB blocks (~3.6 chars per token with SmolLM2)."""
    rng = random.Random(seed)
    chars = int(approx_tokens * 3.6)
    produced = 0
    while produced < chars:
        parts: list[str] = []
        size = 0
        while size < min(block_chars, chars - produced):
            s = (f"The {rng.choice(SUBJECTS)} keeper {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
                 f"in year {rng.randrange(1500, 2000)}. ")
            parts.append(s)
            size += len(s)
        block = "".join(parts)
        produced += len(block)
        yield block


def needle_sample(tokens: int, seed: int) -> tuple[str, str, str]:
    """(document, question, answer): filler of ~`tokens` tokens with one magic number in it."""
    rng = random.Random(seed)
    key = f"{rng.choice(SUBJECTS)}-{rng.choice(('red', 'blue', 'green', 'gold'))}"
    value = str(rng.randrange(1_000_000, 10_000_000))
    filler = "".join(noise_blocks(tokens, seed=seed + 1))
    sentences = filler.split(". ")
    at = rng.randrange(len(sentences))
    sentences.insert(at, f"The special magic number for {key} is {value}")
    return ". ".join(sentences), f"What is the special magic number for {key}?", value


class FastScripted:
    """Instant backend: a fixed short memory and answer. Isolates memagent's own cost."""

    name = "fast-scripted"

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.reply_ids = tokenizer.encode("Nothing relevant yet.")

    def generate(
        self, requests: Sequence[ChatRequest], sampling: SamplingParams
    ) -> list[Completion]:
        out = []
        for req in requests:
            final = "<section>" not in req.messages[-1]["content"]
            text = "The answer is \\boxed{unknown}." if final else "Nothing relevant yet."
            out.append(Completion(text, 0, len(self.reply_ids), "stop", 0.0,
                                  completion_token_ids=list(self.reply_ids)))
        return out


def embedded_model_dir() -> Path:
    from memagent.llm.registry import resolve_model

    return resolve_model(None)


def embedded_tokenizer() -> Any:
    from memagent.llm.hf_tokenizer import load_tokenizer

    return load_tokenizer(str(embedded_model_dir()))


def embedded_llm(**kwargs: Any) -> Any:
    from memagent.llm.transformers_backend import TransformersLLM

    return TransformersLLM.load(embedded_model_dir(), **kwargs)


def write_csv(name: str, rows: Sequence[dict[str, Any]]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_markdown(name: str, title: str, command: str, rows: Sequence[dict[str, Any]],
                   notes: Sequence[str] = ()) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    cols = list(rows[0])
    lines = [f"# {title}", "", f"Command: `{command}`", "",
             f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
             f"Python {sys.version.split()[0]}; shared 2-core machine with other jobs running.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def report(name: str, title: str, command: str, rows: Sequence[dict[str, Any]],
           notes: Sequence[str] = ()) -> None:
    write_csv(name, rows)
    md = write_markdown(name, title, command, rows, notes)
    print(md.read_text())


def command_line(script: str, args: Any) -> str:
    """The command a benchmark ran, from its parsed arguments (for its report)."""
    return f"python bench/{script} " + " ".join(f"--{k} {v}" for k, v in vars(args).items())
