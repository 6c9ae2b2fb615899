"""Left padding, the one layout every batched forward pass here uses (generation, the prefix
cache's two blocks, RL micro-batches): each row ends at the same column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def left_pad(
    rows: Sequence[Sequence[int | float]],
    pad: int | float = 0,
    width: int | None = None,
    dtype: Any = None,
) -> tuple[Any, Any]:
    """(values [B, W], attention mask [B, W] long, 1 on real entries), rows right-aligned.

    width: at least the longest row (default: exactly it). dtype: torch.long unless given.
    """
    import torch

    dtype = torch.long if dtype is None else dtype
    width = max((len(r) for r in rows), default=0) if width is None else width
    values = torch.full((len(rows), width), pad, dtype=dtype)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            values[i, width - len(row) :] = torch.tensor(row, dtype=dtype)
            attention[i, width - len(row) :] = 1
    return values, attention
