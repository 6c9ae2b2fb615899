"""`MemAgent`: read documents of any length with a small-window model, one or many at a time.

The loop itself lives in `memagent.job` (a `Job` per document and question); `MemAgent` makes jobs
with its budgets and templates and drives them through `memagent.scheduler.run_jobs`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from memagent.chunking import iter_chunks
from memagent.config import AgentConfig
from memagent.errors import InputError
from memagent.job import (
    PLACEHOLDER_TOKENS,
    SEAM_SLACK,
    Job,
    Phase,
    Result,
    ResumeState,
    Step,
    StepCallback,
    chunk_sha,
)
from memagent.scheduler import run_jobs
from memagent.sources import text_blocks
from memagent.types import LLM, Tokenizer

__all__ = [
    "PLACEHOLDER_TOKENS",
    "SEAM_SLACK",
    "Job",
    "MemAgent",
    "Phase",
    "Result",
    "ResumeState",
    "Step",
    "StepCallback",
    "chunk_sha",
]


class MemAgent:
    """Read documents of any length with a small-window model. `ask` one, `ask_many` batched."""

    def __init__(
        self, llm: LLM, config: AgentConfig | None = None, tokenizer: Tokenizer | None = None
    ):
        self.llm = llm
        self.config = config or AgentConfig()
        tok = tokenizer or llm.tokenizer
        if tok is None:
            raise InputError(
                f"backend {llm.name} has no tokenizer: pass --tokenizer (a local tokenizer "
                "directory) so chunks and budgets are counted in the model's tokens"
            )
        self.tokenizer: Tokenizer = tok
        self.budgets = self.config.budgets.resolve(self.tokenizer, self.config.templates)

    def job(self, document: str | Iterable[str], question: str, **kwargs: Any) -> Job:
        chunks = iter_chunks(text_blocks(document), self.tokenizer, self.budgets.chunk)
        return Job(question, chunks, self.tokenizer, self.budgets, self.config.templates, **kwargs)

    def ask(self, document: str | Iterable[str], question: str, **kwargs: Any) -> Result:
        return self.run([self.job(document, question, **kwargs)])[0]

    def ask_many(
        self,
        pairs: Sequence[tuple[str | Iterable[str], str]],
        max_active: int | None = None,
        **kwargs: Any,
    ) -> list[Result]:
        """Answer many (document, question) pairs; each step's requests go to the backend together."""
        jobs = [self.job(doc, q, tag=i, **kwargs) for i, (doc, q) in enumerate(pairs)]
        return self.run(jobs, max_active=max_active)

    def run(self, jobs: Sequence[Job], max_active: int | None = None) -> list[Result]:
        run_jobs(self.llm, jobs, self.config.sampling, max_active=max_active)
        return [job.result() for job in jobs]
