"""RULER's aggregation and tracing tasks: variable tracking (vt), common words (cwe), frequent
words (fwe). Restated from the RULER paper; worked examples go into the question (the problem),
because only the haystack is chunked.
"""

from __future__ import annotations

import random
import string
from collections import Counter
from itertools import accumulate, pairwise

from memagent.data.fit import fit_units, prefix_sums, token_costs
from memagent.data.haystack import DEPTHS, NOISE, fit_haystack, noise_units, words
from memagent.data.io import GenOptions, Sample, generated_sample, provenance
from memagent.errors import InputError
from memagent.types import Tokenizer

CWE_COMMON, CWE_COMMON_FREQ, CWE_RARE_FREQ = 10, 30, 3
FWE_VOCAB, FWE_ALPHA = 1000, 2.0


def _meta(opts: GenOptions, index: int, tokens: int, budget: int, **extra: object) -> dict:
    return {
        **provenance(opts, index),
        "context_tokens": tokens,
        "generation_budget": budget,
        **extra,
    }


# ---------------------------------------------------------------- variable tracking
def _var_names(rng: random.Random, n: int) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        name = "".join(rng.choices(string.ascii_uppercase, k=5))
        if name not in names:
            names.append(name)
    return names


def _chain(names: list[str], value: str) -> list[str]:
    return [f"VAR {names[0]} = {value}"] + [
        f"VAR {b} = VAR {a}" for a, b in pairwise(names)
    ]


def _in_split(opts: GenOptions, items: list[str]) -> bool:
    from memagent.data.episodes import split_of

    return opts.split is None or all(split_of(item) == opts.split for item in items)


def generate_vt(
    task: str, index: int, rng: random.Random, opts: GenOptions, tokenizer: Tokenizer
) -> Sample:
    """One chain of 5 variables over 4 hops, inserted in order into the noise haystack."""
    ex_names, ex_value = _var_names(rng, 5), str(rng.randint(10000, 99999))
    names, value = _var_names(rng, 5), str(rng.randint(10000, 99999))
    while value == ex_value or set(names) & set(ex_names) or not _in_split(opts, [value, *names]):
        names, value = _var_names(rng, 5), str(rng.randint(10000, 99999))
    lines = _chain(names, value)
    depths = sorted(rng.sample(DEPTHS, len(lines))) if opts.depth is None else [opts.depth] * 5
    fitted = fit_haystack(noise_units(), "\n", lines, depths, opts.target, tokenizer)
    ex_lines = _chain(ex_names, ex_value)
    example = "\n".join([ex_lines[0], NOISE, *ex_lines[1:3], NOISE, *ex_lines[3:]])
    question = (
        "Example:\n"
        f"{example}\n"
        f"Question: Find all variables that are assigned the value {ex_value} in the text above.\n"
        "Answer: According to the chain(s) of variable assignment in the text above, 5 variables "
        f"are assigned the value {ex_value}, they are: {' '.join(ex_names)}\n\n"
        "Memorize and track the chain(s) of variable assignment hidden in the text.\n"
        f"Question: Find all variables that are assigned the value {value} in the text."
    )
    prefix = (
        " Answer: According to the chain(s) of variable assignment in the text, 5 variables are "
        f"assigned the value {value}, they are: "
    )
    return generated_sample(
        task,
        opts,
        index,
        context=fitted.text,
        question=question,
        answers=names,
        metric="string_match_all",
        meta=_meta(
            opts, index, fitted.tokens, 30, haystack="noise", haystack_units=fitted.n,
            needles=lines, depths=depths, value=value, answer_prefix=prefix,
            needle_char_offsets=[fitted.text.find(line + "\n") for line in lines],
        ),
    )


# ---------------------------------------------------------------- common words
def _numbered(items: list[str]) -> str:
    return "\n".join(f"{i}. {w}" for i, w in enumerate(items, 1))


def _cwe_words(rng: random.Random, budget: int) -> tuple[list[str], list[str], list[str]]:
    """(common, rare, example words); rare words extend to hyphenated pairs when lists run out."""
    pool = sorted(set(words("adjectives")) | set(words("nouns")) | set(words("verbs")))
    rng.shuffle(pool)
    common, example, base = pool[:CWE_COMMON], pool[CWE_COMMON : CWE_COMMON + 20], pool[30:]
    need = budget // (CWE_RARE_FREQ * 4) + 16  # a rare word costs >= 4 tokens per line, 3 lines
    rare = list(base)
    if need > len(rare):
        extra = min(need - len(rare), len(base) * (len(base) - 1))
        for code in rng.sample(range(len(base) * len(base)), extra + len(base)):
            a, b = divmod(code, len(base))
            if a != b and len(rare) < len(base) + extra:
                rare.append(f"{base[a]}-{base[b]}")
    return common, rare[:need], example


def generate_cwe(
    task: str, index: int, rng: random.Random, opts: GenOptions, tokenizer: Tokenizer
) -> Sample:
    """10 common words x30 and rare words x3, shuffled, as a numbered list; answer the common."""
    common, rare, ex_words = _cwe_words(rng, opts.target)
    rare_cost = token_costs(tokenizer, [" " + w for w in rare])
    common_cost = sum(token_costs(tokenizer, [" " + w for w in common]))
    lines_max = CWE_COMMON * CWE_COMMON_FREQ + CWE_RARE_FREQ * len(rare)
    numbers = [f"\n{i}." for i in range(1, lines_max + 1)]
    number_prefix = prefix_sums(token_costs(tokenizer, numbers))
    rare_prefix = [0, *accumulate(rare_cost)]
    fixed = CWE_COMMON * CWE_COMMON_FREQ
    estimate = [
        number_prefix[fixed + CWE_RARE_FREQ * m] + CWE_COMMON_FREQ * common_cost
        + CWE_RARE_FREQ * rare_prefix[m]
        for m in range(len(rare) + 1)
    ]
    order_seed = rng.getrandbits(64)

    def build(m: int) -> str:
        items = common * CWE_COMMON_FREQ + rare[:m] * CWE_RARE_FREQ
        random.Random(order_seed).shuffle(items)
        return _numbered(items)

    fitted = fit_units(build, estimate, opts.target, tokenizer)
    ex_items = ex_words[:10] * 3 + ex_words[10:]
    random.Random(order_seed + 1).shuffle(ex_items)
    question = (
        "Below is a numbered list of words. In these words, some appear more often than others. "
        "Memorize the ones that appear most often.\n"
        f"Example:\n{_numbered(ex_items)}\n"
        "Question: What are the 10 most common words in the above list?\n"
        f"Answer: The top 10 words that appear most often in the list are: "
        f"{', '.join(ex_words[:10])}.\n\n"
        "Question: What are the 10 most common words in the list?"
    )
    return generated_sample(
        task,
        opts,
        index,
        context=fitted.text,
        question=question,
        answers=list(common),
        metric="string_match_all",
        meta=_meta(
            opts, index, fitted.tokens, 120, rare_words=fitted.n,
            answer_prefix=" Answer: The top 10 words that appear most often in the list are:",
        ),
    )


# ---------------------------------------------------------------- frequent words
def _coded_words(rng: random.Random) -> list[str]:
    vocab: dict[str, None] = {}
    while len(vocab) < FWE_VOCAB:
        vocab["".join(rng.choices(string.ascii_lowercase, k=6))] = None
    return list(vocab)


def generate_fwe(
    task: str, index: int, rng: random.Random, opts: GenOptions, tokenizer: Tokenizer
) -> Sample:
    """Coded words with Zipf(2) frequencies; the top word shows as '...'; answer ranks 2-4."""
    zipf = list(accumulate(1 / r**FWE_ALPHA for r in range(1, FWE_VOCAB + 1)))
    for _attempt in range(20):
        vocab = _coded_words(rng)
        shown = ["...", *vocab[1:]]
        cost = token_costs(tokenizer, [" " + w for w in shown])
        seq: list[int] = []
        prefix = [0]
        while prefix[-1] <= opts.target + 64:
            batch = rng.choices(range(FWE_VOCAB), cum_weights=zipf, k=max(256, len(seq)))
            seq += batch
            prefix += list(accumulate((cost[i] for i in batch), initial=prefix[-1]))[1:]

        def build(n: int, seq: list[int] = seq, shown: list[str] = shown) -> str:
            return " ".join(shown[i] for i in seq[:n])

        fitted = fit_units(build, prefix, opts.target, tokenizer)
        counts = Counter(i for i in seq[: fitted.n] if i != 0).most_common(4)
        if len(counts) == 4 and counts[2][1] > counts[3][1]:
            break  # ranks 2-4 are unambiguous
    else:
        raise InputError(f"fwe: could not draw unambiguous top words at {opts.target} tokens")
    answers = [vocab[i] for i, _ in counts[:3]]
    question = (
        "Read the coded text and track the frequency of each coded word. Find the three most "
        "frequently appeared coded words. Ignore the dots '....'.\n"
        "Question: Do not provide any explanation. What are the three most frequently appeared "
        "words in the coded text?"
    )
    return generated_sample(
        task,
        opts,
        index,
        context=fitted.text,
        question=question,
        answers=answers,
        metric="string_match_all",
        meta=_meta(
            opts, index, fitted.tokens, 50, coded_words=fitted.n,
            answer_prefix=" Answer: According to the coded text, the three most frequently "
            "appeared words are:",
        ),
    )
