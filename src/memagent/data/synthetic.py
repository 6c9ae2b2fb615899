"""RULER's aggregation and tracing tasks: variable tracking (vt), common words (cwe), frequent
words (fwe), built as RULER's scripts build them (scripts/data/synthetic/*.py). The question texts
are RULER's templates with the context deleted (data/templates.py); worked examples go in front of
the question (the problem), as RULER puts them in front of the input, because only the haystack
is chunked.

Where we differ from RULER's scripts, and why: each sample has its own seeded RNG (RULER shares one
global stream per file and shuffles with one fixed seed), so sample i never depends on n; cwe's
word lists are our packaged noun/adjective/verb lists (RULER's come from the `wonderwords` package
and, past them, `english_words.json`; we extend with hyphenated pairs instead); the example's words
never reappear in the sample's list (RULER draws them independently).
"""

from __future__ import annotations

import math
import random
import string
from itertools import accumulate, pairwise

from memagent.data import templates
from memagent.data.fit import fit_units, prefix_sums, token_costs
from memagent.data.haystack import DEPTHS, fit_haystack, noise_units, words
from memagent.data.io import GenOptions, Sample, generated_sample, provenance
from memagent.errors import InputError
from memagent.types import Tokenizer

CWE_COMMON, CWE_COMMON_FREQ, CWE_RARE_FREQ = 10, 30, 3
CWE_SHORT = 4096  # below this length RULER uses 6 / 1 repeats and a 20-word example
FWE_ALPHA, FWE_WORDLEN = 2.0, 6
ZETA2 = math.pi**2 / 6  # scipy.special.zeta(2.0), RULER's Zipf normaliser
VT_HOPS, VT_ICL_TOKENS = 4, 500  # RULER builds its vt example within 500 tokens


def _meta(opts: GenOptions, index: int, tokens: int, budget: int, **extra: object) -> dict:
    return {
        **provenance(opts, index),
        "context_tokens": tokens,
        "generation_budget": budget,
        **extra,
    }


# ---------------------------------------------------------------- variable tracking
def _var_names(rng: random.Random, n: int, k: int = 5) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        name = "".join(rng.choices(string.ascii_uppercase, k=k))
        if name not in names:
            names.append(name)
    return names


def _chain(names: list[str], value: str) -> list[str]:
    # RULER writes every hop with a trailing space: f"VAR {b} = VAR {a} "
    return [f"VAR {names[0]} = {value}"] + [f"VAR {b} = VAR {a} " for a, b in pairwise(names)]


def _in_split(opts: GenOptions, items: list[str]) -> bool:
    from memagent.data.episodes.vocabulary import split_of

    return opts.split is None or all(split_of(item) == opts.split for item in items)


def _vt_example(rng: random.Random, tokenizer: Tokenizer, taken: set[str]) -> str:
    """RULER's one worked example: a chain of 3-letter names in noise, template, answer prefix and
    answer, at most 500 tokens in all, followed by a newline (variable_tracking.py's icl_example)."""
    names = _var_names(rng, VT_HOPS + 1, k=3)
    while set(names) & taken:
        names = _var_names(rng, VT_HOPS + 1, k=3)
    value = str(rng.randint(10000, 99999))
    lines = _chain(names, value)
    fields = {"query": value, "num_v": str(VT_HOPS + 1)}
    head, tail = templates.RULER["variable_tracking"].format(context="\0", **fields).split("\0")
    tail += templates.ANSWER_PREFIX["variable_tracking"].format(**fields) + " " + " ".join(names)
    fixed = len(tokenizer.encode(head + tail))
    depths = sorted(rng.sample(DEPTHS, len(lines)))
    fitted = fit_haystack(noise_units(), "\n", lines, depths, VT_ICL_TOKENS - fixed, tokenizer)
    return head + fitted.text + tail + "\n"


def generate_vt(
    task: str, index: int, rng: random.Random, opts: GenOptions, tokenizer: Tokenizer
) -> Sample:
    """One chain of 5 variables over 4 hops, inserted in order into the noise haystack."""
    names, value = _var_names(rng, VT_HOPS + 1), str(rng.randint(10000, 99999))
    while not _in_split(opts, [value, *names]):
        names, value = _var_names(rng, VT_HOPS + 1), str(rng.randint(10000, 99999))
    lines = _chain(names, value)
    depths = sorted(rng.sample(DEPTHS, len(lines))) if opts.depth is None else [opts.depth] * 5
    fitted = fit_haystack(noise_units(), "\n", lines, depths, opts.target, tokenizer)
    fields = {"query": value, "num_v": str(VT_HOPS + 1)}
    if opts.style == "ruler":
        example = _vt_example(rng, tokenizer, set(names))
        question = example + "\n" + templates.question("variable_tracking", "ruler", **fields)
        prefix = templates.ANSWER_PREFIX["variable_tracking"].format(**fields)
    else:
        question = templates.question("variable_tracking", "release", **fields)
        prefix = templates.RELEASE_VT_PREFIX.format(**fields)
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
    """RULER's list: "1. word 2. word ..." on one line."""
    return " ".join(f"{i}. {w}" for i, w in enumerate(items, 1))


def _cwe_words(
    rng: random.Random, budget: int, n_example: int, rare_freq: int
) -> tuple[list[str], list[str], list[str]]:
    """(common, rare, example words); rare words extend to hyphenated pairs when lists run out."""
    pool = sorted(set(words("adjectives")) | set(words("nouns")) | set(words("verbs")))
    rng.shuffle(pool)
    example = pool[CWE_COMMON : CWE_COMMON + n_example]
    common, base = pool[:CWE_COMMON], pool[CWE_COMMON + n_example :]
    need = budget // (rare_freq * 4) + 16  # a rare word costs >= 4 tokens per mention
    rare = list(base)
    if need > len(rare):
        extra = min(need - len(rare), len(base) * (len(base) - 1))
        for code in rng.sample(range(len(base) * len(base)), extra + len(base)):
            a, b = divmod(code, len(base))
            if a != b and len(rare) < len(base) + extra:
                rare.append(f"{base[a]}-{base[b]}")
    return common, rare[:need], example


def _cwe_example(ex_words: list[str], freq: tuple[int, int], seed: int) -> str:
    """RULER's worked example: template with its list, answer prefix, numbered answer."""
    items = ex_words[:CWE_COMMON] * freq[0] + ex_words[CWE_COMMON:] * freq[1]
    random.Random(seed).shuffle(items)
    return (
        templates.RULER["common_words_extraction"].format(context=_numbered(items))
        + templates.ANSWER_PREFIX["common_words_extraction"]
        + " " + _numbered(ex_words[:CWE_COMMON])
    )


def generate_cwe(
    task: str, index: int, rng: random.Random, opts: GenOptions, tokenizer: Tokenizer
) -> Sample:
    """10 common words and rare words (x30 / x3; below 4K tokens x6 / x1, as RULER), shuffled,
    as a numbered list; answer the common ones."""
    short = opts.target < CWE_SHORT
    freq_c, freq_r = (6, 1) if short else (CWE_COMMON_FREQ, CWE_RARE_FREQ)
    ex_n, ex_freq = (20, (3, 1)) if short else (40, (10, 3))
    common, rare, ex_words = _cwe_words(rng, opts.target, ex_n, freq_r)
    rare_cost = token_costs(tokenizer, [" " + w for w in rare])
    common_cost = sum(token_costs(tokenizer, [" " + w for w in common]))
    lines_max = CWE_COMMON * freq_c + freq_r * len(rare)
    numbers = [f" {i}." for i in range(1, lines_max + 1)]
    number_prefix = prefix_sums(token_costs(tokenizer, numbers))
    rare_prefix = [0, *accumulate(rare_cost)]
    fixed = CWE_COMMON * freq_c
    estimate = [
        number_prefix[fixed + freq_r * m] + freq_c * common_cost + freq_r * rare_prefix[m]
        for m in range(len(rare) + 1)
    ]
    order_seed = rng.getrandbits(64)

    def build(m: int) -> str:
        items = common * freq_c + rare[:m] * freq_r
        random.Random(order_seed).shuffle(items)
        return _numbered(items)

    fitted = fit_units(build, estimate, opts.target, tokenizer)
    if opts.style == "ruler":
        example = _cwe_example(ex_words, ex_freq, order_seed + 1)
        question = example + "\n" + templates.question("common_words_extraction", "ruler")
    else:
        question = templates.question("common_words_extraction", "release")
    return generated_sample(
        task,
        opts,
        index,
        context=fitted.text,
        question=question,
        answers=list(common),
        metric="string_match_all",
        meta=_meta(
            opts, index, fitted.tokens, 120, rare_words=fitted.n, repeats=[freq_c, freq_r],
            answer_prefix=templates.ANSWER_PREFIX["common_words_extraction"],
        ),
    )


# ---------------------------------------------------------------- frequent words
def fwe_vocab_size(target: int) -> int:
    """RULER: (max_seq_length - tokens_to_generate) // 50 coded words; at least 10."""
    return max(10, (target - 50) // 50)


def fwe_counts(n_words: int, vocab_size: int) -> list[int]:
    """RULER's fixed Zipf counts: rank k appears int(n * k^-alpha / zeta(alpha)) times."""
    return [int(n_words * k**-FWE_ALPHA / ZETA2) for k in range(1, vocab_size + 1)]


def _coded_words(rng: random.Random, size: int) -> list[str]:
    """RULER's vocabulary: distinct random 6-letter words, sorted, then shuffled; rank 1 is '...'."""
    vocab: set[str] = set()
    while len(vocab) < size:
        vocab.add("".join(rng.choices(string.ascii_lowercase, k=FWE_WORDLEN)))
    ordered = sorted(vocab)
    rng.shuffle(ordered)
    ordered[0] = "..."  # the top rank is noise
    return ordered


def generate_fwe(
    task: str, index: int, rng: random.Random, opts: GenOptions, tokenizer: Tokenizer
) -> Sample:
    """Coded words with RULER's fixed Zipf(2) counts; the top word shows as '...'; answer the
    words of ranks 2-4. The word count is the largest that fits the target."""
    size = fwe_vocab_size(opts.target)
    vocab = _coded_words(rng, size)
    cost = token_costs(tokenizer, [" " + w for w in vocab])
    per_word = sum(c * k**-FWE_ALPHA / ZETA2 for k, c in enumerate(cost, 1))
    n_max = int(2 * opts.target / per_word) + 64
    estimate = [int(n * per_word) for n in range(n_max + 1)]
    order_seed = rng.getrandbits(64)

    def build(n: int) -> str:
        items = [w for w, c in zip(vocab, fwe_counts(n, size), strict=True) for _ in range(c)]
        random.Random(order_seed).shuffle(items)
        return " ".join(items)

    fitted = fit_units(build, estimate, opts.target, tokenizer)
    counts = fwe_counts(fitted.n, size)
    if not counts[1] > counts[2] > counts[3] > counts[4]:
        raise InputError(f"fwe: {opts.target} tokens are too few for distinct top words")
    return generated_sample(
        task,
        opts,
        index,
        context=fitted.text,
        question=templates.question("freq_words_extraction", opts.style),
        answers=vocab[1:4],
        metric="string_match_all",
        meta=_meta(
            opts, index, fitted.tokens, 50, coded_words=fitted.n, vocab_size=size,
            answer_prefix=templates.ANSWER_PREFIX["freq_words_extraction"],
        ),
    )
