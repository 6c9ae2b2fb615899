"""Decoding that drafts from the prompt: several tokens per forward pass, batched.

A memory agent's replies are mostly copies: `KEEP` (the word stands in the instruction), the lines
of the previous memory, sentences of the chunk, a value that stands in the memory. On a CPU one
decode step costs about what a pass over a handful of positions costs (it is bound by reading the
weights, not by arithmetic), so each step here proposes a draft per row (the tokens that followed
the row's latest n-gram where it last occurred in its prompt or reply, or in a recent reply:
prompt lookup), runs the last token and the draft in one pass, and keeps what the decoder would
have produced:

- greedy (`Greedy`): the draft up to the first token greedy would not have chosen, then greedy's
  own token. Greedy's choices at every position, so the reply is the plain decoder's up to float
  rounding (other shapes may round differently: bench/engines.py counts identical replies);
- sampling (`Sampler`): each reply position j of a row has its own uniform number u_j, drawn
  from the request's seed before decoding; the token at j is the inverse CDF of the temperature /
  top-p distribution at u_j, and the draft is kept while it is that token. So every token is
  distributed exactly as under plain sampling, a draft token is kept with its probability, and
  a seed gives the same reply whatever was drafted and whatever else is in the batch (not the
  draws `generate` makes for that seed). With log-probs, each token's under the raw model
  (temperature 1, no top-p), as the RL loss compares against.

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
    """One request's state: its tokens so far (prompt + reply), its reply and log-probs, and
    (sampling) the uniform numbers of its reply positions."""

    tokens: list[int]
    uniforms: Any = None
    reply: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    done: bool = False


@dataclass
class Stats:
    """Forward passes and tokens of one call (for benchmarks and the backend's counters)."""

    passes: int = 0
    drafted: int = 0
    accepted: int = 0


def raw_logprobs(logits: Any, tokens: list[int]) -> list[float]:
    """Each token's log-probability under the raw model (temperature 1, no top-p)."""
    import torch

    lp = torch.log_softmax(logits[: len(tokens)].float(), dim=-1)
    return lp.gather(-1, torch.as_tensor(tokens, device=logits.device)[:, None]).squeeze(-1).tolist()


class Greedy:
    """The most likely token at each position."""

    def __init__(self, logprobs: bool = False) -> None:
        self.logprobs = logprobs

    def uniforms(self, seeds: Sequence[int | None], max_new_tokens: int) -> list[Any]:
        return [None] * len(seeds)

    def pick(self, logits: Any, uniforms: Any) -> list[int]:
        return [int(t) for t in logits.argmax(-1).tolist()]


class Sampler:
    """The token whose interval of the cumulative distribution holds the position's uniform
    number (module doc)."""

    def __init__(self, temperature: float, top_p: float = 1.0, logprobs: bool = False) -> None:
        if temperature <= 0:
            raise ValueError("Sampler needs a temperature > 0 (use Greedy)")
        self.temperature, self.top_p, self.logprobs = temperature, top_p, logprobs

    def uniforms(self, seeds: Sequence[int | None], max_new_tokens: int) -> list[Any]:
        """Each row's numbers from its seed (None: torch's global RNG, which then moves)."""
        import torch

        rows = []
        for seed in seeds:
            generator = torch.Generator().manual_seed(seed) if seed is not None else None
            rows.append(torch.rand(max_new_tokens, generator=generator, dtype=torch.float64))
        return rows

    def probs(self, logits: Any) -> Any:
        """The distribution sampled from: softmax(logits / temperature), cut to the top-p
        nucleus (the fewest most likely tokens whose mass reaches top_p), renormalized."""
        import torch

        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            ranked, order = probs.sort(dim=-1, descending=True)
            ranked[(ranked.cumsum(-1) - ranked) >= self.top_p] = 0  # past the nucleus
            probs = torch.zeros_like(probs).scatter(-1, order, ranked)
            probs /= probs.sum(-1, keepdim=True)
        return probs

    def pick(self, logits: Any, uniforms: Any) -> list[int]:
        import torch

        probs = self.probs(logits).double().cpu()
        cdf = probs.cumsum(-1)
        at = uniforms[:, None] * cdf[:, -1:]  # scaled: the rounding of the sum never matters
        picked = torch.searchsorted(cdf, at, right=True).squeeze(-1)
        last = probs.shape[-1] - 1 - (probs > 0).flip(-1).int().argmax(-1)  # the last with mass
        return [int(t) for t in torch.minimum(picked, last).tolist()]


Chooser = Greedy | Sampler


def lookup_generate(
    model: Any,
    input_ids: Any,
    attention: Any,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    stop_ids: set[int],
    chooser: Chooser | None = None,
    cache: Any = None,
    cache_kwarg: str = "cache",
    draft_tokens: int = DRAFT_TOKENS,
    sources: Sequence[np.ndarray] = (),
    stats: Stats | None = None,
    seeds: Sequence[int | None] | None = None,
) -> list[tuple[list[int], list[float]]]:
    """Replies (token ids, each ending at its first stop token or at max_new_tokens) and their
    log-probs (empty unless the chooser keeps them) for a left-padded batch: `input_ids` /
    `attention` [B, T] cover every prompt token, `cache` (or None) holds the KV of the first
    cache-length columns (a reused prefix, prefix_cache.py); `chooser`: Greedy (default) or a
    Sampler; `sources`: earlier replies to draft from as well (`draft`); `seeds`: each row's
    sampling seed (None: torch's global RNG). The prompt pass drafts too: a reply seen before
    (KEEP) can be whole after one pass."""
    import torch
    from transformers import DynamicCache

    chooser = chooser if chooser is not None else Greedy()
    stats = stats if stats is not None else Stats()
    cache = cache if cache is not None else DynamicCache()
    cached = cache.get_seq_length()
    uniforms = chooser.uniforms(seeds or [None] * len(prompts), max_new_tokens)
    rows = [Row(list(p), u) for p, u in zip(prompts, uniforms, strict=True)]

    def drafting(row: Row) -> list[int]:
        size = min(draft_tokens, max_new_tokens - len(row.reply) - 1)  # + the chooser's own token
        return draft(np.asarray(row.tokens), sources, size=size) if size > 0 else []

    def run(rows: list[Row], mask: Any, head: tuple[Any, Any, Any]) -> Any:
        return _pass(model, cache, cache_kwarg, rows, mask, head, drafting, chooser,
                     (stop_ids, max_new_tokens), stats)

    with torch.inference_mode():
        positions = (attention.long().cumsum(-1) - 1).clamp(min=0)
        mask = run(rows, attention[:, :cached],
                   (input_ids[:, cached:], attention[:, cached:], positions[:, cached:]))
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
            device = input_ids.device
            last = torch.as_tensor([[r.tokens[-1]] for r in step], device=device)
            where = torch.as_tensor([[len(r.tokens) - 1] for r in step], device=device)
            mask = run(step, mask, (last, torch.ones_like(last), where))
    return [(r.reply, r.logprobs) for r in rows]


def _pass(model: Any, cache: Any, cache_kwarg: str, rows: list[Row], mask: Any,
          head: tuple[Any, Any, Any], drafting: Callable[[Row], list[int]], chooser: Chooser,
          limits: tuple[set[int], int], stats: Stats) -> Any:
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
    for i, (row, d) in enumerate(zip(rows, drafts, strict=True)):
        logits = out.logits[i, : len(d) + 1]  # logits[j]: the next token after draft[:j]
        at = len(row.reply)
        picks = chooser.pick(logits, None if row.uniforms is None else
                             row.uniforms[at : at + len(d) + 1])
        taken = 0
        while taken < len(d) and d[taken] == picks[taken]:
            taken += 1
        tokens = [*d[:taken], picks[taken]]
        logprobs = raw_logprobs(logits, tokens) if chooser.logprobs else None
        stats.drafted += len(d)
        stats.accepted += taken
        mask[i, mask.shape[1] - size + taken :] = 0  # rejected draft and padding: never seen
        _emit(row, tokens, logprobs, *limits)
    return mask


def _emit(row: Row, tokens: list[int], logprobs: list[float] | None, stop_ids: set[int],
          max_new_tokens: int) -> None:
    """Append `tokens` (and their log-probs) to the reply up to the first stop token or the
    budget."""
    for j, token in enumerate(tokens):
        if row.done:
            return
        row.reply.append(token)
        row.tokens.append(token)
        if logprobs is not None:
            row.logprobs.append(logprobs[j])
        row.done = token in stop_ids or len(row.reply) >= max_new_tokens
