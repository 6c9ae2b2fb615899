"""The paper's cost model: MemAgent reads a document in linear time, full attention is quadratic.

MemAgent: k = ceil(N / C) memory updates, each over at most (template + query + memory + chunk)
tokens, plus one final step: input grows linearly in N. A full-context model needs one window of
N + query tokens, and attention work grows with the square of it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from memagent.config import ResolvedBudgets
from memagent.types import Usage


@dataclass(frozen=True)
class CostReport:
    document_tokens: int
    chunks: int
    tokens_read: int  # prompt tokens actually sent
    tokens_written: int  # completion tokens actually generated
    model_input_bound: int  # the cost model's upper bound on prompt tokens for this N
    full_context_input: int  # prompt tokens a full-context model would need (one window)
    attention_ratio: float  # memagent / full-context attention work (sum of squared lengths)
    tokens_cached: int = 0  # of tokens_read, served from the backend's prefix KV cache

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        per_k = 1000 * self.tokens_read / max(self.document_tokens, 1)
        cached = ""
        if self.tokens_cached:
            computed = 1000 * (self.tokens_read - self.tokens_cached) / max(self.document_tokens, 1)
            cached = f"; {self.tokens_cached:,} from the prefix cache: {computed:.0f} computed per 1K"
        return (
            f"document {self.document_tokens:,} tokens in {self.chunks} chunks; read "
            f"{self.tokens_read:,} prompt tokens ({per_k:.0f} per 1K document tokens, bound "
            f"{self.model_input_bound:,}{cached}), wrote {self.tokens_written:,}; a full-context model "
            f"needs a {self.full_context_input:,}-token window; attention work ratio "
            f"memagent/full = {self.attention_ratio:.3g}"
        )


def memagent_input_bound(n: int, b: ResolvedBudgets) -> int:
    k = max(1, math.ceil(n / b.chunk))
    step = b.update_overhead + b.query + b.memory + b.chunk
    return k * step + b.final_overhead + b.query + b.memory


def cost_report(n: int, b: ResolvedBudgets, usage: Usage) -> CostReport:
    k = math.ceil(n / b.chunk) if n else 0
    full = n + b.query + b.final_overhead
    step_len = b.update_overhead + b.query + b.memory + b.chunk + b.memory
    ours = k * step_len**2 + (b.final_overhead + b.query + b.memory + b.output) ** 2
    theirs = (full + b.output) ** 2
    return CostReport(
        n,
        k,
        usage.prompt_tokens,
        usage.completion_tokens,
        memagent_input_bound(n, b),
        full,
        ours / theirs,
        usage.cached_tokens,
    )
