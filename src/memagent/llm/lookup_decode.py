"""Greedy decoding that drafts from the prompt: many tokens per forward pass, batched.

A memory agent's replies are mostly copies: `KEEP` (the word stands in the instruction), the lines
of the previous memory, sentences of the chunk, a value that stands in the memory. On a CPU one
decode step costs about what a pass over a handful of positions costs (it is bound by reading the
weights, not by arithmetic), so each step here proposes a draft per row (the tokens that followed
the row's latest n-gram where it last occurred in its prompt or reply: prompt lookup), runs the
last token and the draft in one pass, keeps the draft up to the first token greedy decoding would
not have chosen, and adds greedy's own token after it. Greedy's choices are kept at every
position, so the reply is the plain decoder's up to float rounding (different shapes may round
differently: bench/engines.py counts identical replies).

Rows draft independently. A batch pass is as wide as its longest draft; a row's shorter draft is
padded, and the padding and every rejected draft token stay in the KV cache masked out (the
attention mask marks them 0 and positions count only kept tokens), so no row waits for another
and the cache is never rewritten. Finished rows leave the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DRAFT_TOKENS = 8  # per step and row; wider passes cost little more on a CPU (bench/engines.py)
NGRAM = 3  # longest n-gram matched; shorter ones are tried when it does not occur


def draft(
    tokens: np.ndarray,
    sources: Sequence[np.ndarray] = (),
    max_ngram: int = NGRAM,
    size: int = DRAFT_TOKENS,
) -> list[int]:
    """Up to `size` tokens that followed the latest earlier occurrence of the longest suffix
    n-gram (max_ngram down to 1) of `tokens`, looked up in `tokens` itself, then in `sources`
    (earlier replies with the prompt tokens before them); [] when none occurs."""
    n_tokens = len(tokens)
    for n in range(min(max_ngram, n_tokens - 1), 0, -1):
        tail = tokens[n_tokens - n :]
        for source, end in ((tokens, n_tokens - 1), *((s, len(s)) for s in sources)):
            if end < n:
                continue
            windows = np.lib.stride_tricks.sliding_window_view(source[:end], n)
            hits = np.flatnonzero((windows == tail).all(axis=1))
            for hit in hits[::-1]:  # the most recent occurrence first: the nearest context
                follow = source[int(hit) + n : int(hit) + n + size]
                if len(follow):
                    return [int(t) for t in follow]
    return []


@dataclass
class Row:
    """One request's state: its tokens so far (prompt + reply) and its reply."""

    tokens: list[int]
    reply: list[int] = field(default_factory=list)
    done: bool = False


@dataclass
class Stats:
    """Forward passes and tokens of one call (for benchmarks and the backend's counters)."""

    passes: int = 0
    drafted: int = 0
    accepted: int = 0


def greedy_lookup(
    model: Any,
    input_ids: Any,
    attention: Any,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    stop_ids: set[int],
    cache: Any = None,
    cache_kwarg: str = "cache",
    draft_tokens: int = DRAFT_TOKENS,
    sources: Sequence[np.ndarray] = (),
    stats: Stats | None = None,
) -> list[list[int]]:
    """Greedy replies (token ids, each ending at its first stop token or at max_new_tokens) for
    a left-padded batch: `input_ids`/`attention` [B, T] cover every prompt token, `cache` (or
    None) holds the KV of the first cache-length columns (a reused prefix, prefix_cache.py);
    `sources`: earlier replies to draft from as well (`draft`). The prompt pass drafts too: a
    reply seen before (KEEP) can be whole after one pass."""
    import torch
    from transformers import DynamicCache

    stats = stats if stats is not None else Stats()
    cache = cache if cache is not None else DynamicCache()
    cached = cache.get_seq_length()
    rows = [Row(list(p)) for p in prompts]

    def drafting(row: Row) -> list[int]:
        size = min(draft_tokens, max_new_tokens - len(row.reply) - 1)  # + greedy's own token
        return draft(np.asarray(row.tokens), sources, size=size) if size > 0 else []

    with torch.inference_mode():
        positions = (attention.long().cumsum(-1) - 1).clamp(min=0)
        head = (input_ids[:, cached:], attention[:, cached:], positions[:, cached:])
        mask = _pass(model, cache, cache_kwarg, rows, attention[:, :cached], head, drafting,
                     stop_ids, max_new_tokens, stats)
        live = list(range(len(rows)))
        while True:
            keep = [i for i, r in enumerate(live) if not rows[r].done]
            if not keep:
                break
            if len(keep) < len(live):  # finished rows leave the batch, and their cache rows
                index = torch.as_tensor(keep)
                cache.batch_select_indices(index)
                mask = mask[index]
                live = [live[i] for i in keep]
            step = [rows[r] for r in live]
            last = torch.as_tensor([[r.tokens[-1]] for r in step])
            head = (last, torch.ones_like(last), torch.as_tensor([[len(r.tokens) - 1] for r in step]))
            mask = _pass(model, cache, cache_kwarg, step, mask, head, drafting, stop_ids,
                         max_new_tokens, stats)
    return [r.reply for r in rows]


def _pass(model: Any, cache: Any, cache_kwarg: str, rows: list[Row], mask: Any,
          head: tuple[Any, Any, Any], drafting: Callable[[Row], list[int]], stop_ids: set[int],
          max_new_tokens: int, stats: Stats) -> Any:
    """One forward pass over each row's uncached tokens (`head`: ids, mask and positions, the
    row's last token rightmost) and its draft; returns the attention mask of the whole cache."""
    import torch

    head_ids, head_mask, head_pos = head
    drafts = [drafting(row) for row in rows]
    size = max(len(d) for d in drafts)
    ids = torch.zeros((len(rows), size), dtype=torch.long)
    draft_mask = torch.zeros((len(rows), size), dtype=mask.dtype)
    pos = torch.zeros((len(rows), size), dtype=torch.long)
    for i, (row, d) in enumerate(zip(rows, drafts, strict=True)):
        ids[i, : len(d)] = torch.as_tensor(d, dtype=torch.long)
        draft_mask[i, : len(d)] = 1
        pos[i] = len(row.tokens) + torch.arange(size).clamp(max=max(len(d) - 1, 0))
    device = head_ids.device
    mask = torch.cat([mask, head_mask.to(mask.dtype), draft_mask.to(device)], dim=1)
    out = model(input_ids=torch.cat([head_ids, ids.to(device)], dim=1), attention_mask=mask,
                position_ids=torch.cat([head_pos, pos.to(device)], dim=1), use_cache=True,
                logits_to_keep=size + 1, **{cache_kwarg: cache})
    stats.passes += 1
    greedy = out.logits.argmax(-1).tolist()  # [row][j]: greedy's token after draft[:j]
    for i, (row, d) in enumerate(zip(rows, drafts, strict=True)):
        taken = 0
        while taken < len(d) and d[taken] == greedy[i][taken]:
            taken += 1
        stats.drafted += len(d)
        stats.accepted += taken
        mask[i, mask.shape[1] - size + taken :] = 0  # rejected draft and padding: never seen
        _emit(row, [*d[:taken], greedy[i][taken]], stop_ids, max_new_tokens)
    return mask


def _emit(row: Row, tokens: list[int], stop_ids: set[int], max_new_tokens: int) -> None:
    """Append `tokens` to the reply up to the first stop token or the budget."""
    for token in tokens:
        if row.done:
            return
        row.reply.append(token)
        row.tokens.append(token)
        row.done = token in stop_ids or len(row.reply) >= max_new_tokens
