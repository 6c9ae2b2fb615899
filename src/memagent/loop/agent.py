"""`MemAgent`: read documents of any length with a small-window model, one or many at a time.

The loop itself lives in `memagent.loop.job` (a `Job` per document and question). `MemAgent` makes jobs
with its budgets and templates and owns running them: `run` is the one place jobs are driven
(through `memagent.loop.scheduler.run_jobs`, which sees only jobs), for `ask`, `ask_many`, evaluation
and RL rollouts alike. Several questions over one document with a trace per question (checkpoints,
resume, failures kept per question) are `memagent.loop.traces`'.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from memagent.chunking import iter_chunks
from memagent.config import AgentConfig
from memagent.errors import InputError
from memagent.loop import traces
from memagent.loop.job import (
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
from memagent.loop.scheduler import ErrorCallback, MoreJobs, RoundCallback, run_jobs
from memagent.loop.traces import Outcome, Traces, trace_paths
from memagent.profile import PROFILES, agent_config
from memagent.sources import DocumentSource, text_blocks
from memagent.types import LLM, SamplingParams, Tokenizer

__all__ = [
    "PLACEHOLDER_TOKENS",
    "SEAM_SLACK",
    "Job",
    "MemAgent",
    "Outcome",
    "Phase",
    "Result",
    "ResumeState",
    "Step",
    "StepCallback",
    "Traces",
    "chunk_sha",
    "trace_paths",
]


class MemAgent:
    """Read documents of any length with a small-window model. `ask` one, `ask_many` batched."""

    def __init__(
        self, llm: LLM, config: AgentConfig | None = None, tokenizer: Tokenizer | None = None
    ):
        """config None: the profile of the backend's model (`MemAgent(load_llm())` runs the
        embedded agent under its trained profile, as `memagent ask` does), else the defaults."""
        self.llm = llm
        self.config = config or default_config(llm)
        tok = tokenizer or llm.tokenizer
        if tok is None:
            raise InputError(
                f"backend {llm.name} has no tokenizer: pass --tokenizer (a local tokenizer "
                "directory) so chunks and budgets are counted in the model's tokens"
            )
        self.tokenizer: Tokenizer = tok
        if self.config.templates.decision == "select" and not getattr(llm, "can_score", False):
            raise InputError(
                f"decision 'select' needs a backend that scores candidate replies (the local "
                f"transformers backend); {llm.name} cannot (a server without prompt logprobs)"
            )
        self.budgets = self.config.budgets.resolve(self.tokenizer, self.config.templates)

    def job(self, document: str | Iterable[str], question: str, **kwargs: Any) -> Job:
        chunks = iter_chunks(text_blocks(document), self.tokenizer, self.budgets.chunk)
        return Job(question, chunks, self.tokenizer, self.budgets, self.config.templates, **kwargs)

    def ask(self, document: str | Iterable[str], question: str, **kwargs: Any) -> Result:
        job = self.job(document, question, **kwargs)
        self.run([job])
        return job.result()

    def ask_many(
        self,
        pairs: Sequence[tuple[str | Iterable[str], str]],
        max_active: int | None = None,
        **kwargs: Any,
    ) -> list[Result]:
        """Answer many (document, question) pairs; each step's requests go to the backend together."""
        jobs = [self.job(doc, q, tag=i, **kwargs) for i, (doc, q) in enumerate(pairs)]
        self.run(jobs, max_active=max_active)
        return [job.result() for job in jobs]

    def run(
        self,
        jobs: Sequence[Job],
        *,
        sampling: SamplingParams | None = None,
        max_active: int | None = None,
        on_round: RoundCallback | None = None,
        on_error: ErrorCallback | None = None,
        more: MoreJobs | None = None,
    ) -> list[Result | None]:
        """Drive `jobs` to the end over this agent's backend: the one place jobs are run.

        sampling: this run's (an RL rollout's), else the agent's; each request gets its own seed
            from it (`SamplingParams.request_seed`, stamped by the scheduler).
        on_round: after every round (rounds) or reply (continuous): (requests, jobs finished).
        on_error: a job that raises a MemAgentError is handed to it and dropped, the others go on;
            None: the error stops the run. Per-step callbacks are the jobs' own (`on_step`).
        more: asked between rounds for jobs that join the run (`memagent serve`); their results
            are not in the returned list (read them from the jobs).
        Returns each job's result, None for a job that was dropped.
        """
        run_jobs(
            self.llm,
            jobs,
            sampling or self.config.sampling,
            max_active=max_active,
            on_round=on_round,
            on_error=on_error,
            more=more,
        )
        return [job.result() if job.done else None for job in jobs]

    def open_traces(
        self, source: DocumentSource, questions: Sequence[str], trace: Path | None, resume: bool
    ) -> Traces:
        """`memagent.loop.traces.open_traces` for this agent (serve calls it)."""
        return traces.open_traces(self, source, questions, trace, resume)


def default_config(llm: LLM) -> AgentConfig:
    """The config of a MemAgent given none: the profile the backend's model runs under (the
    embedded model's trained one, as `load_llm` marks it: `LLM.profile`), else memagent's default."""
    name = getattr(llm, "profile", None)
    return agent_config(PROFILES[name]) if name in PROFILES else AgentConfig()
