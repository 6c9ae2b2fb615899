"""Scoring candidate replies under a local model: one prefill of the prompt, the candidates
batched on its KV cache (memagent.selection; `ChatRequest.candidates`)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any


def score_candidates(
    model: Any, prompt: Sequence[int], continuations: Sequence[Sequence[int]], pad_id: int,
    max_batch: int = 8,
) -> list[float]:
    """Each continuation's summed log-probability after `prompt` (token ids; each continuation
    non-empty, its end-of-turn token included by the caller)."""
    import torch
    from transformers import DynamicCache

    if any(not c for c in continuations):
        raise ValueError("an empty continuation cannot be scored")
    device = next(model.parameters()).device
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    scores: list[float] = []
    with torch.inference_mode():
        out = model(input_ids=torch.as_tensor(list(prompt), device=device)[None], use_cache=True)
        cache = out.cache if "cache" in out else out.past_key_values
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        for start in range(0, len(continuations), max_batch):
            part = continuations[start : start + max_batch]
            width = max(len(c) for c in part) - 1  # the last token is predicted, never fed
            if width == 0:
                scores += [float(first[c[0]]) for c in part]
                continue
            fed = torch.full((len(part), width), pad_id, dtype=torch.long, device=device)
            for row, c in enumerate(part):  # right-padded: a pad comes after every real token
                fed[row, : len(c) - 1] = torch.as_tensor(list(c[:-1]), device=device)
            batch_cache = DynamicCache()
            for i, (k, v) in enumerate(layers):
                batch_cache.update(k.expand(len(part), -1, -1, -1).contiguous(),
                                   v.expand(len(part), -1, -1, -1).contiguous(), i)
            mask = torch.ones((len(part), len(prompt) + width), dtype=torch.long, device=device)
            logits = model(input_ids=fed, attention_mask=mask, use_cache=False,
                           **{cache_kw: batch_cache}).logits
            lp = torch.log_softmax(logits.float(), dim=-1)
            for row, c in enumerate(part):
                rest = torch.as_tensor(list(c[1:]), device=device)
                picked = lp[row, : len(c) - 1].gather(-1, rest[:, None]).sum() if len(c) > 1 else 0.0
                scores.append(float(first[c[0]]) + float(picked))
    return scores
