"""A small task the embedded model can learn on a CPU: one needle in a short noise haystack.

RULER's niah_single_1 (data/ruler.py's needle and question, data/haystack.py's noise; word key,
7-digit number value) without RULER's intro line, sized in *chunks* of the policy's tokenizer so a document yields exactly the number of chunks asked for. Questions are a
pure function of (seed, index, tokenizer, chunk budget): the same inputs give the same bytes, so a
resumed run sees the same questions and the held-out set never overlaps training (other seed).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from memagent.chunking import center_truncate
from memagent.data.haystack import NOISE
from memagent.data.ruler import needle_text, niah_ask
from memagent.types import Tokenizer

# Keys from short word lists of their own (not data/assets'): the stream's questions stay the ones
# earlier runs trained and were evaluated on.
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


class QuestionSource(Protocol):
    """Where training questions come from; `position` lets a resumed run continue in place."""

    position: int

    def take(self, n: int) -> list[Question]: ...

    def held_out(self, n: int) -> list[Question]: ...


def _noise_units(tokenizer: Tokenizer, tokens: int) -> int:
    """How many NOISE sentences make about `tokens` tokens."""
    per = len(tokenizer.encode(NOISE + " "))
    return max(1, tokens // per)


def _whole_needle_depths(tokenizer: Tokenizer, units: int, needle: str, chunk: int) -> list[int]:
    """Insertion points whose needle does not straddle a chunk boundary (a few tokens of margin).

    A needle cut in two chunks cannot be read whole by any memory update; RULER does not care,
    but a first task for a 135M model should be fair.
    """
    per = len(tokenizer.encode(NOISE + " "))
    size = len(tokenizer.encode(needle + " ")) + 4
    ok = [d for d in range(units + 1) if (d * per) // chunk == (d * per + size) // chunk]
    return ok or list(range(units + 1))


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
    needle = needle_text("numbers", key, value)
    depth = rng.choice(_whole_needle_depths(tokenizer, units, needle, chunk))
    sentences = [NOISE] * units
    sentences.insert(depth, needle)
    return Question(
        id=f"needle-{seed}-{index}",
        question=niah_ask("numbers", [key])[0],
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


class SampleFileStream:
    """Questions from `memagent data` JSONL files (any task: RULER, HotpotQA, ...).

    Training cycles through `train_file` in order (position = samples handed out so far); the
    held-out set is the first n samples of `eval_file`, which must be a different file.
    """

    def __init__(self, train_file: Path, eval_file: Path) -> None:
        from memagent.data import read_samples as read_jsonl
        from memagent.errors import InputError

        if Path(train_file).resolve() == Path(eval_file).resolve():
            raise InputError(
                "data.train_file and data.eval_file are the same file; hold out another"
            )
        self._train = [_from_sample(s) for s in read_jsonl(train_file)]
        self._eval_file = Path(eval_file)
        if not self._train:
            raise InputError(f"{train_file}: no samples")
        self.position = 0

    def take(self, n: int) -> list[Question]:
        out = [self._train[(self.position + i) % len(self._train)] for i in range(n)]
        self.position += n
        return out

    def held_out(self, n: int) -> list[Question]:
        from memagent.data import read_samples as read_jsonl

        out = []
        for sample in read_jsonl(self._eval_file):
            if len(out) == n:
                break
            out.append(_from_sample(sample))
        return out


class CenterTruncated:
    """Another source's questions with every document, training and held-out, centre-truncated to
    max_tokens (chunking.center_truncate), as the release's MemoryDataset does to both. `position`
    is the wrapped source's, so a resumed run continues in place."""

    def __init__(self, source: QuestionSource, tokenizer: Tokenizer, max_tokens: int) -> None:
        self.source = source
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens

    @property
    def position(self) -> int:
        return self.source.position

    @position.setter
    def position(self, value: int) -> None:
        self.source.position = value

    def take(self, n: int) -> list[Question]:
        return [self._truncate(q) for q in self.source.take(n)]

    def held_out(self, n: int) -> list[Question]:
        return [self._truncate(q) for q in self.source.held_out(n)]

    def _truncate(self, q: Question) -> Question:
        document = center_truncate(q.document, self.tokenizer, self.max_tokens)
        return q if document is q.document else replace(q, document=document)


def _from_sample(sample: object) -> Question:
    return Question(
        id=str(sample.id),  # type: ignore[attr-defined]
        question=str(sample.question),  # type: ignore[attr-defined]
        document=str(sample.context),  # type: ignore[attr-defined]
        answers=list(sample.answers),  # type: ignore[attr-defined]
    )


class EpisodeStream(NeedleStream):
    """The SFT task mix (data/episodes/) as RL questions: train split to train on, held-out
    split (unseen templates, haystacks, keys and values) for the before/after evaluation.

    Multi-value answers are one string joined in document order, as the oracle boxes them, so the
    strict boxed reward asks for every value. Positions and `take` are NeedleStream's. `tasks`
    weights the episode tasks of both splits; `haystacks` picks the training split's sources.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        chunk: int,
        min_chunks: int,
        max_chunks: int,
        seed: int,
        tasks: dict[str, float] | None = None,
        haystacks: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(tokenizer, chunk, min_chunks, max_chunks, seed)
        self.tasks = tuple(tasks.items()) if tasks is not None else None
        self.haystacks = haystacks

    def at(self, index: int, offset: int | None = None, split: str = "train") -> Question:
        from memagent.data.episodes import EpisodeSpec, episode_document, generate_episode

        # RL_SEED_OFFSET: never the SFT stream's (seed, index) episodes
        offset = RL_SEED_OFFSET if offset is None else offset
        spec = EpisodeSpec(self.chunk, self.min_chunks, self.max_chunks,
                           haystacks=self.haystacks if split == "train" else None,
                           task_weights=self.tasks)
        ep = generate_episode(split, self.seed + offset, index, self.tokenizer, spec)
        return Question(
            id=ep.id, question=ep.question, document=episode_document(ep),
            answers=[", ".join(ep.answers)],
            meta={"chunks": len(ep.chunks), "task": ep.task, "haystack": ep.haystack},
        )  # fmt: skip

    def held_out(self, n: int) -> list[Question]:
        return [self.at(i, EVAL_SEED_OFFSET, "heldout") for i in range(n)]


RL_SEED_OFFSET = 2_000_029
