"""Oracle memory episodes: the generation. Training data for the memory-writing policy.

An episode is a (document, question) pair cut into chunks at the policy's chunk budget, with the
memory an ideal agent would hold after each chunk: the sentences relevant to the question seen so
far, copied word for word, one per line. A chunk that adds nothing gets the policy's keep reply
(the loop keeps the memory); before the first fact the memory is the policy's empty-memory line.
Both strings belong to the policy's profile, not to the data: `OracleEpisode.conversations` takes
them from its caller. The final conversation answers `\\boxed{gold}` from that memory alone.

Diversity is the point: 36 statement shapes x 24 attributes x 4 key kinds x 6 value kinds, six task
kinds (single needle, multi-key with distractors, multi-value, multi-query, variable tracking,
facts in synthesized paragraphs) and five haystack kinds (two Debian dictionaries, generated
noise, near-miss sentences, synthesized biographies). A `heldout` split uses shapes, attributes and
haystacks never seen in `train` (plus RULER's own needle template, noise and essay, which no train
episode uses), and every key and value is assigned to one split by a hash, so no key or value is
shared between splits. Episodes are pure functions of (split, seed, index, tokenizer, budgets).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from memagent.chunking import iter_chunks
from memagent.data.episodes.chains import (
    VT_CODE_HELDOUT,
    VT_CODE_TRAIN,
    VT_SHAPES_HELDOUT,
    VT_SHAPES_TRAIN,
    chain_needles,
    vt_syntax,
)
from memagent.data.episodes.haystacks import available_haystacks, filler
from memagent.data.episodes.vocabulary import (
    BIO_FACTS,
    BIO_QUESTIONS,
    HELDOUT_ATTRS,
    HELDOUT_MULTI_QUESTIONS,
    HELDOUT_QUESTIONS,
    HELDOUT_SHAPES,
    KEY_KINDS,
    PREAMBLES,
    TRAIN_ATTRS,
    TRAIN_MULTI_QUESTIONS,
    TRAIN_QUESTIONS,
    TRAIN_SHAPES,
    bio_fields,
    code_line,
    draw,
    fill,
    make_key,
    make_value,
)
from memagent.errors import InputError
from memagent.types import Tokenizer

SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class EpisodeSpec:
    """Budgets an episode is cut at: the policy's chunk size and the range of chunk counts."""

    chunk: int = 512
    min_chunks: int = 1
    max_chunks: int = 8
    haystacks: tuple[str, ...] | None = None  # None: every installed haystack of the split
    task_weights: tuple[tuple[str, float], ...] | None = None  # None: TASK_WEIGHTS


@dataclass
class OracleEpisode:
    """One (document, question) with the oracle memory after each chunk and the gold answer.

    (Not `rl.episode.Episode`, which is a policy's rollout: this is the ideal agent's reading.)"""

    id: str
    split: str
    task: str
    haystack: str
    question: str
    chunks: list[str]
    memories: list[str]  # the oracle memory after each chunk ("" until the first fact)
    relevant: list[list[str]]  # relevant sentences first seen in each chunk
    answers: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def final_reply(self) -> str:
        return "\\boxed{" + ", ".join(self.answers) + "}"

    def conversations(
        self, empty_memory: str, keep_reply: str
    ) -> list[tuple[str, str, str | None, str]]:
        """(kind, memory before, chunk or None for the final step, oracle reply) per conversation,
        in a policy's words: `empty_memory` stands for the memory before the first fact,
        `keep_reply` answers a chunk that adds nothing (the profile's templates hold both)."""
        out: list[tuple[str, str, str | None, str]] = []
        memory = empty_memory
        for chunk, new, after in zip(self.chunks, self.relevant, self.memories, strict=True):
            after = after or empty_memory
            out.append(("find" if new else "keep", memory, chunk, after if new else keep_reply))
            memory = after
        out.append(("final", memory, None, self.final_reply))
        return out


TASK_WEIGHTS = {
    "single": 0.28,
    "multikey": 0.2,
    "multivalue": 0.12,
    "multiquery": 0.1,
    "vt": 0.15,
    "bio": 0.15,
    # Weight 0 here, last, so recipes before v5 draw exactly the episodes they did; v5 weights it.
    "vt_code": 0.0,
    "vt_any": 0.0,  # v6: chains in a syntax drawn per episode from keywords x sigils x operators
    "vt_syntax": 0.0,  # v7: vt_any, and a hop may repeat the keyword on its right ("LET B = LET A")
    # v8: hard negatives. 12-48 statements of the asked attribute for other keys of the same kind,
    # all in one wording: only the key tells the asked one apart (RULER's multikey_2/3 haystacks
    # are other keys' needles; v6 kept their values).
    "multikey_dense": 0.0,
}


def needles(
    task: str, rng: random.Random, split: str
) -> tuple[str, list[str], list[str], list[str], list[str]]:
    """(question, relevant sentences in document order, distractors, answers, asked keys)."""
    taken: set[str] = set()
    shapes = TRAIN_SHAPES if split == "train" else HELDOUT_SHAPES
    attrs = TRAIN_ATTRS if split == "train" else HELDOUT_ATTRS
    questions = TRAIN_QUESTIONS if split == "train" else HELDOUT_QUESTIONS
    multi_qs = TRAIN_MULTI_QUESTIONS if split == "train" else HELDOUT_MULTI_QUESTIONS
    preamble = rng.choice(PREAMBLES)

    dense = task == "multikey_dense"
    one_shape = rng.choice(shapes) if dense else None  # drawn only here: other tasks unchanged

    def statement(key: str, attr: str, value: str) -> str:
        return fill(one_shape or rng.choice(shapes), attr=attr, key=key, value=value)

    if task in ("vt_code", "vt_any", "vt_syntax"):
        if task != "vt_code" and split == "train":
            first, hop = vt_syntax(rng, repeat_keyword=task == "vt_syntax")
        else:  # vt_any's and vt_syntax's held-out split is vt_code's: syntaxes no train episode uses
            first, hop = rng.choice(VT_CODE_TRAIN if split == "train" else VT_CODE_HELDOUT)
        return chain_needles(
            rng, split, preamble,
            lambda a, v: code_line(first, a=a, v=v), lambda a, b: code_line(hop, a=a, b=b),
        )  # fmt: skip
    if task == "vt":
        vt_shapes = VT_SHAPES_TRAIN if split == "train" else VT_SHAPES_HELDOUT
        return chain_needles(
            rng, split, preamble,
            lambda a, v: f"{a} = {v}.", lambda a, b: fill(rng.choice(vt_shapes), a=a, b=b),
        )  # fmt: skip
    if task == "bio":
        name = draw(lambda: make_key("person", rng), split, taken)
        facts = bio_fields(rng, name)
        asked = rng.choice(list(BIO_QUESTIONS))
        template = next(t for t, a in BIO_FACTS if a == asked)
        relevant = [fill(template, **facts)]
        distract = [fill(t, **facts) for t, a in BIO_FACTS if a != asked][: rng.randint(0, 3)]
        answer = facts[asked]
        question = preamble + fill(BIO_QUESTIONS[asked], name=name)
        return question, relevant, distract, [answer], [name]

    attr, kind = rng.choice(attrs)
    key_kind = rng.choice(KEY_KINDS)
    n_keys = {"single": 1, "multikey": 1, "multikey_dense": 1, "multivalue": 1,
              "multiquery": rng.randint(2, 3)}[task]  # fmt: skip
    keys = [draw(lambda: make_key(key_kind, rng), split, taken) for _ in range(n_keys)]
    n_values = rng.randint(2, 4) if task == "multivalue" else 1
    relevant, answers = [], []
    for key in keys:
        for _ in range(n_values):
            value = draw(lambda: make_value(kind, rng), split, taken)
            relevant.append(statement(key, attr, value))
            answers.append(value)
    if dense:
        n_distract = rng.randint(12, 48)
    else:
        n_distract = rng.randint(1, 5) if task in ("multikey", "multiquery") else rng.randint(0, 1)
    distract = []
    for _ in range(n_distract):
        other_key = draw(lambda: make_key(key_kind, rng), split, taken)
        d_attr = attr if dense or rng.random() < 0.7 else rng.choice(attrs)[0]
        value = draw(lambda: make_value(kind, rng), split, taken)
        distract.append(statement(other_key, d_attr, value))
    if len(keys) == 1 and n_values == 1:
        question = fill(rng.choice(questions), attr=attr, key=keys[0])
    else:
        joined = keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + " and " + keys[-1]
        question = fill(rng.choice(multi_qs), attr=attr, key=joined)
    order = list(range(len(relevant)))
    rng.shuffle(order)  # multi-value/multi-query facts appear in random order
    return preamble + question, [relevant[i] for i in order], distract, answers, keys


def generate_episode(
    split: str,
    seed: int,
    index: int,
    tokenizer: Tokenizer,
    spec: EpisodeSpec = EpisodeSpec(),
    task: str | None = None,
    haystack: str | None = None,
) -> OracleEpisode:
    """Episode `index` of a split: same arguments, same episode."""
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    rng = random.Random(f"episode|{split}|{seed}|{index}")
    weights = dict(spec.task_weights) if spec.task_weights is not None else TASK_WEIGHTS
    task = task or rng.choices(list(weights), weights=list(weights.values()))[0]
    kinds = available_haystacks(split, spec.haystacks)
    if not kinds:
        raise InputError(f"no haystack source for split {split!r} is installed")
    haystack = haystack or rng.choice(kinds)
    question, relevant, distract, answers, keys = needles(task, rng, split)
    n_chunks = rng.randint(spec.min_chunks, spec.max_chunks)
    # Fill to a token target that yields n_chunks chunks (the last one partly filled).
    target = (n_chunks - 1) * spec.chunk + rng.randint(spec.chunk // 4, spec.chunk)
    units = _haystack_units(filler(haystack, rng, split), target, keys, tokenizer)
    document = _place_needles(units, relevant, distract, rng, haystack)
    chunks = [c.text for c in iter_chunks([document], tokenizer, spec.chunk)]
    per_chunk = _facts_per_chunk(document, chunks, relevant)
    if per_chunk is None:  # a relevant sentence cut by a chunk boundary: the next stream's episode
        return generate_episode(split, seed, index + 1_000_000, tokenizer, spec, task, haystack)
    memories: list[str] = []
    lines: list[str] = []
    for new in per_chunk:
        lines += new
        memories.append("\n".join(lines))
    return OracleEpisode(
        id=f"{split}-s{seed}-{index}",
        split=split,
        task=task,
        haystack=haystack,
        question=question,
        chunks=chunks,
        memories=memories,
        relevant=per_chunk,
        answers=answers,
        meta={"seed": seed, "index": index, "chunk": spec.chunk, "distractors": distract},
    )


def _haystack_units(
    next_filler: Callable[[], str], target: int, keys: Sequence[str], tokenizer: Tokenizer
) -> list[str]:
    """Haystack sentences up to `target` tokens; none states a fact about an asked key."""
    units: list[str] = []
    tokens = 0
    while tokens < target:
        unit = next_filler()
        if any(k.casefold() in unit.casefold() for k in keys):
            continue  # filler must never state a fact about an asked key
        units.append(unit)
        tokens += len(tokenizer.encode(" " + unit))
    return units


def _place_needles(
    units: list[str], relevant: list[str], distract: list[str], rng: random.Random, haystack: str
) -> str:
    """The document: the haystack with the needles set in (`units` is filled in place)."""
    needles = relevant + distract
    # Facts keep their order (chains and multi-value lists read top to bottom); distractors anywhere.
    gaps = range(len(units) + 1)
    if len(relevant) <= len(gaps):
        slots = sorted(rng.sample(gaps, len(relevant)))
    else:  # more facts than gaps in a very short document: some share a gap, in order
        slots = sorted(rng.choices(gaps, k=len(relevant)))
    placed = [(slot, i) for i, slot in enumerate(slots)]
    placed += [(rng.randrange(len(units) + 1), len(relevant) + j) for j in range(len(distract))]
    sep = "\n" if haystack in ("noise", "ruler_noise", "nearmiss", "code", "mixed", "glossary") else " "
    for slot, i in sorted(placed, key=lambda p: (p[0], p[1]), reverse=True):
        units.insert(slot, needles[i])
    return sep.join(units)


def _facts_per_chunk(
    document: str, chunks: list[str], relevant: list[str]
) -> list[list[str]] | None:
    """Which chunk holds each relevant sentence; None when a chunk boundary cuts one."""
    starts, pos = [], 0
    for text in chunks:
        starts.append(pos)
        pos += len(text)
    per_chunk: list[list[str]] = [[] for _ in chunks]
    cursor = 0
    for sentence in relevant:
        at = document.find(sentence, cursor)
        cursor = at + len(sentence)
        owner = max(i for i, s in enumerate(starts) if s <= at)
        if at + len(sentence) > starts[owner] + len(chunks[owner]):
            return None
        per_chunk[owner].append(sentence)
    return per_chunk


def episode_document(episode: OracleEpisode) -> str:
    return "".join(episode.chunks)


def relevant_seen(memory: str, sentences: Sequence[str]) -> float:
    """Fraction of the relevant sentences whose text survives in a memory (case-insensitive)."""
    if not sentences:
        return 1.0
    folded = memory.casefold()
    return sum(s.casefold() in folded for s in sentences) / len(sentences)


EVAL_SEED_OFFSET = 1_000_003  # evaluation episodes never reuse a training (seed, index) stream
EVAL_CHUNK = 512  # the embedded profile's chunk: documents are cut into this many-token pieces


def episode_sample(
    task: str, index: int, rng: random.Random, opts: Any, tokenizer: Tokenizer
) -> Any:
    """An episode as an evaluation Sample (`episodes_train` / `episodes_heldout`).

    Sized in chunks, not exactly in tokens: round(target / 512) chunks, the last one partly
    filled (so a 4k sample has 8 chunks and 3.7K-4K tokens).
    """
    from memagent.data.io import generated_sample

    split = "train" if task == "episodes_train" else "heldout"
    n = max(1, round(opts.target / EVAL_CHUNK))
    spec = EpisodeSpec(chunk=EVAL_CHUNK, min_chunks=n, max_chunks=n)
    ep = generate_episode(split, opts.seed + EVAL_SEED_OFFSET, index, tokenizer, spec)
    return generated_sample(
        task,
        opts,
        index,
        context=episode_document(ep),
        question=ep.question,
        answers=ep.answers,
        metric="string_match_all",
        meta={
            "episode_task": ep.task,
            "haystack": ep.haystack,
            "chunks": len(ep.chunks),
            "relevant": [s for new in ep.relevant for s in new],
        },
    )
