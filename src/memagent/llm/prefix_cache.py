"""Reuse of prompt-prefix KV caches on the local transformers backend.

MemAgent's prompts share long prefixes: in the paper layout the chat template + fixed instruction +
question open every memory-update prompt of one job; in the chunk-first layout the chunk opens the
prompt of every question at that step. `PrefixStore` finds such prefixes without knowing the
template: a new prompt is matched (longest common token prefix) against the stored prefix
caches, and failing that against recently seen prompts; a shared run of at least `min_tokens`
tokens gets its KV cache computed once (one forward pass) and stored. `batch_inputs` builds,
for one generate call, a batched cache whose rows hold each prompt's (possibly empty) cached
prefix, left-padded.

Row layout of a batch (P = longest reused prefix, S = longest remaining suffix):
    [pad * (P - p_i)] [prefix_i (cached)] [pad * (S - s_i)] [suffix_i (computed by generate)]
generate derives position ids from the attention mask (cumsum), so positions are those of the
unpadded prompt and the output equals the no-reuse path up to float rounding.
Stored tensors are never mutated: every batch cache is a fresh concatenation.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from memagent.llm.padding import left_pad

Layers = list[tuple[Any, Any]]  # per layer: (keys, values), each [1, kv_heads, tokens, head_dim]


def common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the longest common prefix of two 1-D int arrays."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(a[:n] != b[:n])
    return int(diff[0]) if len(diff) else n


@dataclass
class Entry:
    ids: np.ndarray
    layers: Layers
    hits: int = 0


@dataclass
class Plan:
    """How one batch reuses prefixes: per row, the entry (or None) and the tokens taken from it."""

    entries: list[Entry | None]
    lengths: list[int]

    @property
    def reused_tokens(self) -> int:
        return sum(self.lengths)


class PrefixStore:
    """An LRU of prefix KV caches, bounded by total cached tokens."""

    def __init__(self, model: Any, min_tokens: int = 64, max_tokens: int = 16384, recent: int = 64):
        if min_tokens < 1 or max_tokens < min_tokens:
            raise ValueError("PrefixStore needs 1 <= min_tokens <= max_tokens")
        self.model = model
        self.min_tokens = min_tokens
        self.max_tokens = max_tokens
        self.entries: OrderedDict[bytes, Entry] = OrderedDict()
        self.recent: deque[np.ndarray] = deque(maxlen=recent)
        self.computed_tokens = 0  # prefix tokens run through the model to build entries
        self.reused_tokens = 0  # prompt tokens served from entries instead of being recomputed

    @property
    def cached_tokens(self) -> int:
        return sum(len(e.ids) for e in self.entries.values())

    def plan(self, prompts: Sequence[Sequence[int]]) -> Plan:
        arrays = [np.asarray(p, dtype=np.int64) for p in prompts]
        entries: list[Entry | None] = []
        lengths: list[int] = []
        for i, ids in enumerate(arrays):
            limit = len(ids) - 1  # generate needs at least one uncached token per row
            entry, n = self._best_entry(ids, limit)
            if n < self.min_tokens:
                others = [a for j, a in enumerate(arrays) if j != i] + list(self.recent)
                n = min(max((common_prefix(ids, o) for o in others), default=0), limit)
                entry = self._add(ids[:n]) if n >= self.min_tokens else None
            if entry is None:
                n = 0
            else:
                entry.hits += 1
                self.reused_tokens += n
            entries.append(entry)
            lengths.append(n)
        self.recent.extend(arrays)
        return Plan(entries, lengths)

    def _best_entry(self, ids: np.ndarray, limit: int) -> tuple[Entry | None, int]:
        best, best_n, best_key = None, 0, b""
        for key, entry in self.entries.items():
            n = min(common_prefix(ids, entry.ids), limit)
            if n > best_n:
                best, best_n, best_key = entry, n, key
        if best is not None:
            self.entries.move_to_end(best_key)  # LRU: recently used entries survive eviction
        return best, best_n

    def _add(self, ids: np.ndarray) -> Entry:
        import torch

        with torch.inference_mode():
            ids_t = torch.as_tensor(ids, device=self.model.device)[None]
            out = self.model(input_ids=ids_t, use_cache=True)
        # transformers 5 names the output `cache`; reading `past_key_values` there logs a deprecation.
        cache = out.cache if "cache" in out else out.past_key_values
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        entry = Entry(ids.copy(), layers)
        self.computed_tokens += len(ids)
        self.entries[ids.tobytes()] = entry
        while len(self.entries) > 1 and self.cached_tokens > self.max_tokens:
            self.entries.popitem(last=False)
        return entry


def batch_inputs(
    prompts: Sequence[Sequence[int]], plan: Plan, pad_id: int
) -> tuple[Any, Any, Any]:
    """input_ids [B, P+S], attention_mask [B, P+S] and a DynamicCache of P tokens (module doc)."""
    import torch
    from transformers import DynamicCache

    width_p = max(plan.lengths)
    prefix_ids, prefix_mask = left_pad([p[:n] for p, n in zip(prompts, plan.lengths, strict=True)],
                                       pad_id, width_p)
    suffix_ids, suffix_mask = left_pad([p[n:] for p, n in zip(prompts, plan.lengths, strict=True)],
                                       pad_id)
    input_ids = torch.cat([prefix_ids, suffix_ids], dim=1)
    attention = torch.cat([prefix_mask, suffix_mask], dim=1)
    template = next(e for e in plan.entries if e is not None).layers
    cache = DynamicCache()
    for layer, (k0, v0) in enumerate(template):
        keys, values = [], []
        for entry, n in zip(plan.entries, plan.lengths, strict=True):
            k = k0.new_zeros((1, k0.shape[1], width_p, k0.shape[3]))
            v = v0.new_zeros((1, v0.shape[1], width_p, v0.shape[3]))
            if entry is not None and n:
                k[:, :, width_p - n :] = entry.layers[layer][0][:, :, :n]
                v[:, :, width_p - n :] = entry.layers[layer][1][:, :, :n]
            keys.append(k)
            values.append(v)
        cache.update(torch.cat(keys), torch.cat(values), layer)
    return input_ids, attention, cache
