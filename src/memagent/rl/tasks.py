"""A small task the embedded model can learn on a CPU: one needle in a short noise haystack.

RULER's niah_single_1 shape (noise haystack, word key, 7-digit number value), sized in *chunks* of
the policy's tokenizer so a document yields exactly the number of chunks asked for. Questions are a
pure function of (seed, index, tokenizer, chunk budget): the same inputs give the same bytes, so a
resumed run sees the same questions and the held-out set never overlaps training (other seed).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from memagent.types import Tokenizer

NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
NEEDLE = "One of the special magic numbers for {key} is: {value}."
QUESTION = "What is the special magic number for {key} mentioned in the provided text?"

_ADJECTIVES = (
    "quiet", "brave", "silver", "hollow", "ancient", "bitter", "crimson", "gentle", "frozen",
    "golden", "hidden", "lucky", "narrow", "purple", "rapid", "rusty", "sleepy", "tidy",
    "vivid", "wild", "calm", "eager", "fuzzy", "humble", "jolly", "noble", "proud", "shiny",
    "witty", "zesty",
)  # fmt: skip
_NOUNS = (
    "harbor", "lantern", "meadow", "falcon", "compass", "pebble", "orchard", "violin", "glacier",
    "saddle", "thimble", "canyon", "beacon", "walrus", "pepper", "ribbon", "tunnel", "marble",
    "anchor", "garden", "kettle", "ladder", "mirror", "needle", "pillow", "rocket", "spoon",
    "tiger", "umbrella", "wagon",
)  # fmt: skip

TRAIN_SEED_OFFSET = 0
EVAL_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class Question:
    """One training or evaluation item."""

    id: str
    question: str
    document: str
    answers: list[str]
    meta: dict[str, int] = field(default_factory=dict)


def _noise_units(tokenizer: Tokenizer, tokens: int) -> int:
    """How many NOISE sentences make about `tokens` tokens."""
    per = len(tokenizer.encode(NOISE + " "))
    return max(1, tokens // per)


def needle_question(
    index: int, seed: int, tokenizer: Tokenizer, chunk: int, min_chunks: int, max_chunks: int
) -> Question:
    """The `index`-th question of the stream `seed`: a needle somewhere in a 2–4 chunk document."""
    rng = random.Random(seed * 7_919 + index)
    n_chunks = rng.randint(min_chunks, max_chunks)
    key = f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}"
    value = str(rng.randint(1_000_000, 9_999_999))
    # Fill to about (n - 0.5) chunks, so the chunker cuts exactly n pieces whatever the needle size.
    units = _noise_units(tokenizer, int((n_chunks - 0.5) * chunk))
    sentences = [NOISE] * units
    depth = rng.randint(0, units)
    sentences.insert(depth, NEEDLE.format(key=key, value=value))
    return Question(
        id=f"needle-{seed}-{index}",
        question=QUESTION.format(key=key),
        document=" ".join(sentences),
        answers=[value],
        meta={"chunks": n_chunks, "depth": depth, "units": units},
    )


class NeedleStream:
    """Training questions on demand, indexed so a resumed run continues where it stopped."""

    def __init__(
        self, tokenizer: Tokenizer, chunk: int, min_chunks: int, max_chunks: int, seed: int
    ) -> None:
        self.tokenizer = tokenizer
        self.chunk = chunk
        self.min_chunks = min_chunks
        self.max_chunks = max_chunks
        self.seed = seed
        self.position = 0  # next index to hand out

    def take(self, n: int) -> list[Question]:
        out = [self.at(self.position + i) for i in range(n)]
        self.position += n
        return out

    def at(self, index: int, offset: int = TRAIN_SEED_OFFSET) -> Question:
        return needle_question(
            index, self.seed + offset, self.tokenizer, self.chunk, self.min_chunks, self.max_chunks
        )

    def held_out(self, n: int) -> list[Question]:
        """The evaluation set: the same task from another seed, never used for training."""
        return [self.at(i, EVAL_SEED_OFFSET) for i in range(n)]
