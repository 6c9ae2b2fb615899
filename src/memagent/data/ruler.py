"""RULER's needle-in-a-haystack tasks (niah_*), restated from the RULER paper's definitions.

Needle: "One of the special magic {type} for {key} is: {value}." Keys are adjective-noun pairs
(or uuids), number values 7-digit integers. For a memory agent the question is the problem and only
the haystack is chunked, so RULER's instruction ("... hidden within the following text ...") goes
into the question verbatim, with the context deleted (data/templates.py).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from memagent.data import templates
from memagent.data.haystack import (
    DEPTHS,
    essay_sentences,
    essay_units,
    fit_haystack,
    noise_units,
    words,
)
from memagent.data.io import GenOptions, Sample, generated_sample, provenance
from memagent.types import Tokenizer


@dataclass(frozen=True)
class NiahSpec:
    haystack: str  # "noise" | "essay" | "needle"
    key_type: str  # "words" | "uuids"
    value_type: str  # "numbers" | "uuids" | "words"
    keys: int = 1  # needles with distinct keys (one is queried unless queries > 1)
    values: int = 1  # values per key
    queries: int = 1  # keys asked about


NIAH: dict[str, NiahSpec] = {
    "niah_single_1": NiahSpec("noise", "words", "numbers"),
    "niah_single_2": NiahSpec("essay", "words", "numbers"),
    "niah_single_3": NiahSpec("essay", "words", "uuids"),
    "niah_multikey_1": NiahSpec("essay", "words", "numbers", keys=4),
    "niah_multikey_2": NiahSpec("needle", "words", "numbers"),
    "niah_multikey_3": NiahSpec("needle", "uuids", "uuids"),
    "niah_multivalue": NiahSpec("essay", "words", "numbers", values=4),
    "niah_multiquery": NiahSpec("essay", "words", "numbers", queries=4),
}


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _maker(kind: str, rng: random.Random, role: str) -> Callable[[], str]:
    if kind == "uuids":
        return lambda: random_uuid(rng)
    if kind == "numbers":
        return lambda: str(rng.randint(1_000_000, 9_999_999))
    if role == "key":  # adjective-noun pairs
        adjectives, nouns = words("adjectives"), words("nouns")
        return lambda: f"{rng.choice(adjectives)}-{rng.choice(nouns)}"
    nouns = words("nouns")
    return lambda: rng.choice(nouns)


def _distinct(
    make: Callable[[], str], n: int, taken: set[str], split: str | None = None
) -> list[str]:
    from memagent.data.episodes.vocabulary import split_of

    out: list[str] = []
    while len(out) < n:
        item = make()
        if item not in taken and (split is None or split_of(item) == split):
            taken.add(item)
            out.append(item)
    return out


def needle_text(value_type: str, key: str, value: str) -> str:
    return f"One of the special magic {value_type} for {key} is: {value}."


def _distractor_needles(
    spec: NiahSpec, rng: random.Random, taken: set[str]
) -> Iterator[str]:
    """Needle-haystack lines: same template, other keys and values, never a real needle."""
    make_key, make_value = _maker(spec.key_type, rng, "key"), _maker(spec.value_type, rng, "value")
    misses = 0
    while misses < 10_000:
        key, value = make_key(), make_value()
        if key in taken or value in taken:
            misses += 1
            continue
        taken.add(key)
        yield needle_text(spec.value_type, key, value)


def _join_keys(keys: list[str]) -> str:
    return keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + ", and " + keys[-1]


def niah_ask(kind: str, query_keys: list[str], values: int = 1) -> tuple[str, str]:
    """(RULER's question line, its answer prefix); singular for one key with one value."""
    one = values == 1 and len(query_keys) == 1
    noun = f"special magic {kind[:-1] if one else kind}"  # numbers -> number
    query = _join_keys(query_keys)
    if one:
        return (f"What is the {noun} for {query} mentioned in the provided text?",
                f" The {noun} for {query} mentioned in the provided text is")
    return (f"What are all the {noun} for {query} mentioned in the provided text?",
            f" The {noun} for {query} mentioned in the provided text are")


def niah_question(
    spec: NiahSpec, query_keys: list[str], style: str = "ruler"
) -> tuple[str, str]:
    """(question, RULER answer prefix): the template of `style` (data/templates.py) with the
    context deleted; RULER's singular rewrite when one key with one value is asked."""
    kind = spec.value_type
    text, prefix = templates.template("niah", style), templates.ANSWER_PREFIX["niah"]
    if spec.values * len(query_keys) == 1:
        text, prefix = templates.singular(text), templates.singular(prefix)
        kind = kind[:-1]
    query = _join_keys(query_keys)
    fields = {"type_needle_v": kind, "query": query}
    return text.replace("{context}", "").format(**fields), prefix.format(**fields)


def _depths(
    n_needles: int, answer_idx: set[int], opts: GenOptions, rng: random.Random
) -> list[float]:
    if n_needles <= len(DEPTHS):
        drawn = sorted(rng.sample(DEPTHS, n_needles))
    else:
        drawn = sorted(rng.choice(DEPTHS) for _ in range(n_needles))
    if opts.depth is None:
        return drawn
    return [opts.depth if i in answer_idx else drawn[i] for i in range(n_needles)]


def generate_niah(
    task: str, index: int, rng: random.Random, opts: GenOptions, tokenizer: Tokenizer
) -> Sample:
    spec = NIAH[task]
    n_keys = max(spec.keys, spec.queries)
    taken: set[str] = set()
    keys = _distinct(_maker(spec.key_type, rng, "key"), n_keys, taken, opts.split)
    values = [
        _distinct(_maker(spec.value_type, rng, "value"), spec.values, taken, opts.split)
        for _ in keys
    ]
    pairs = [(k, v) for k, vs in zip(keys, values, strict=True) for v in vs]
    rng.shuffle(pairs)  # needle order in the text is random; depths below are sorted
    query_keys = keys[: spec.queries]
    answers = [v for k in query_keys for v in values[keys.index(k)]]
    needles = [needle_text(spec.value_type, k, v) for k, v in pairs]
    answer_idx = {i for i, (k, _) in enumerate(pairs) if k in query_keys}
    depths = _depths(len(needles), answer_idx, opts, rng)

    if spec.haystack == "noise":
        source, sep = noise_units(), "\n"
    elif spec.haystack == "essay":
        source, sep = essay_units(essay_sentences(opts.haystack_dir), rng), " "
    else:
        source, sep = _distractor_needles(spec, rng, taken), "\n"
    fitted = fit_haystack(source, sep, needles, depths, opts.target, tokenizer)
    question, answer_prefix = niah_question(spec, query_keys, opts.style)
    return generated_sample(
        task,
        opts,
        index,
        context=fitted.text,
        question=question,
        answers=answers,
        metric="string_match_all",
        meta={
            **provenance(opts, index),
            "context_tokens": fitted.tokens,
            "haystack": spec.haystack,
            "haystack_units": fitted.n,
            "needles": needles,
            "depths": depths,  # percent, one per needle, same order
            "needle_char_offsets": [fitted.text.find(n) for n in needles],
            "answer_prefix": answer_prefix,
            "generation_budget": 128,
        },
    )
