"""Fitting generated text to an exact token budget with only a few full tokenizations.

RULER binary-searches the haystack size, tokenizing the whole prompt at every step; at 1M tokens
that is minutes. We instead price every unit (sentence, line, document) once, memoized per
tokenizer, so the length of any prefix is a prefix sum. The estimate is off only at unit
boundaries and by inserted needles; one exact count measures that offset, and a second count
usually confirms the corrected size. The exact count is always the final word: a returned text
never exceeds the budget.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate

from memagent.errors import InputError
from memagent.types import Tokenizer

_MEMO: weakref.WeakKeyDictionary[object, dict[str, int]] = weakref.WeakKeyDictionary()
_MEMO_LIMIT = 2_000_000  # entries; random needle lines would otherwise grow it without bound


def default_tolerance(target: int) -> int:
    """How far below the target a fitted text may land: 0.5% or 32 tokens, whichever is larger."""
    return max(32, target // 200)


def count_tokens(tokenizer: Tokenizer, text: str) -> int:
    return len(tokenizer.encode(text))


def token_costs(tokenizer: Tokenizer, texts: Sequence[str]) -> list[int]:
    """Token count of each text, memoized per tokenizer and encoded in one batch."""
    try:
        memo = _MEMO.setdefault(tokenizer, {})
    except TypeError:  # not weak-referenceable: no memo
        memo = {}
    todo = [t for t in dict.fromkeys(texts) if t not in memo]
    if todo:
        if len(memo) + len(todo) > _MEMO_LIMIT:
            memo.clear()
        for text, (ids, _) in zip(todo, tokenizer.encode_batch_offsets(todo), strict=True):
            memo[text] = len(ids)
    return [memo[t] for t in texts]


def prefix_sums(costs: Sequence[int]) -> list[int]:
    """prefix[n] = total cost of the first n units (prefix[0] = 0)."""
    return [0, *accumulate(costs)]


@dataclass
class Fitted:
    n: int  # units used
    text: str
    tokens: int  # exact count of `text`


def fit_units(
    build: Callable[[int], str],
    prefix: Sequence[int],
    budget: int,
    tokenizer: Tokenizer,
    tolerance: int | None = None,
    max_rounds: int = 8,
) -> Fitted:
    """The largest n (≤ len(prefix) - 1) whose built text has ≤ budget tokens.

    `build(n)` renders the text with n units; `prefix` estimates its token count (monotone).
    Stops as soon as a fitting text lands within `tolerance` of the budget.
    """
    tol = default_tolerance(budget) if tolerance is None else tolerance
    n_max = len(prefix) - 1

    def largest_n(offset: int) -> int:
        return max(0, min(n_max, bisect.bisect_right(prefix, budget - offset) - 1))

    best: Fitted | None = None
    too_big = n_max + 1  # smallest n known to exceed the budget
    n = largest_n(0)
    for _ in range(max_rounds):
        text = build(n)
        tokens = count_tokens(tokenizer, text)
        if tokens <= budget:
            if best is None or n > best.n:
                best = Fitted(n, text, tokens)
            if budget - tokens <= tol or n >= min(n_max, too_big - 1):
                return best
        else:
            too_big = min(too_big, n)
        low = best.n if best is not None else -1
        candidate = largest_n(tokens - prefix[n])
        if not low < candidate < too_big:
            candidate = (low + too_big) // 2
        if candidate <= low or candidate >= too_big:
            break
        n = candidate
    if best is None:
        text = build(0)
        tokens = count_tokens(tokenizer, text)
        if tokens > budget:
            raise InputError(
                f"target length {budget} tokens is too small: the fixed parts alone take {tokens}"
            )
        best = Fitted(0, text, tokens)
    return best
