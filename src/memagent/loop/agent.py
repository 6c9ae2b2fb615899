"""`MemAgent`: read documents of any length with a small-window model, one or many at a time.

The loop itself lives in `memagent.loop.job` (a `Job` per document and question). `MemAgent` makes jobs
with its budgets and templates and owns running them: `run` is the one place jobs are driven
(through `memagent.loop.scheduler.run_jobs`, which sees only jobs), for `ask`, `ask_many`, evaluation
and RL rollouts alike; `answer` is a run of questions over one document with a trace per question
(checkpoints) and resume, failures kept per question.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memagent.chunking import iter_chunks
from memagent.config import AgentConfig
from memagent.errors import InputError, MemAgentError
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
from memagent.loop.scheduler import ErrorCallback, RoundCallback, run_jobs
from memagent.loop.trace import TraceWriter, open_trace, run_identity
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
    ) -> list[Result | None]:
        """Drive `jobs` to the end over this agent's backend: the one place jobs are run.

        sampling: this run's (an RL rollout's), else the agent's; each request gets its own seed
            from it (`SamplingParams.request_seed`, stamped by the scheduler).
        on_round: after every round (rounds) or reply (continuous): (requests, jobs finished).
        on_error: a job that raises a MemAgentError is handed to it and dropped, the others go on;
            None: the error stops the run. Per-step callbacks are the jobs' own (`on_step`).
        Returns each job's result, None for a job that was dropped.
        """
        run_jobs(
            self.llm,
            jobs,
            sampling or self.config.sampling,
            max_active=max_active,
            on_round=on_round,
            on_error=on_error,
        )
        return [job.result() if job.done else None for job in jobs]

    def open_traces(
        self,
        source: DocumentSource,
        questions: Sequence[str],
        trace: Path | None,
        resume: bool,
    ) -> Traces:
        """One trace per question (`trace_paths`), each opened and checked against this run; a
        trace that does not match raises InputError (and leaves no new trace file behind)."""
        traces = Traces([Outcome(q) for q in questions])
        if trace is None:
            return traces
        try:
            document = source.fingerprint_files()
            paths = trace_paths(trace, len(questions))
            # Existing traces first: one that is refused must not leave new files behind.
            order = sorted(range(len(paths)), key=lambda i: not _nonempty(paths[i]))
            for i in order:
                path = paths[i]
                identity = run_identity(
                    questions[i], self.config, self.budgets, self.llm.name, document
                )
                writer, state, final = open_trace(
                    path, identity, resume, source.fingerprint, source.read_fingerprint
                )
                traces.opened(i, path, writer, state, final, self)
        except BaseException:
            traces.close()
            raise
        return traces

    def answer(
        self,
        source: DocumentSource,
        traces: Traces,
        on_step: StepCallback | None = None,
        on_round: RoundCallback | None = None,
    ) -> list[Outcome]:
        """Answer every question of `traces` not answered yet (a job each, resumed from its trace
        and writing to it); a question that fails keeps its error in its Outcome while the others
        go on. Closes the traces."""
        outcomes = traces.outcomes
        jobs: list[Job] = []

        def step(job: Job, done: Step) -> None:
            writer = traces.writers.get(job.tag)
            if writer is not None:
                writer(job, done)
            if on_step is not None:
                on_step(job, done)

        def failed(job: Job, exc: MemAgentError) -> None:
            outcomes[job.tag].error = exc
            writer = traces.writers.pop(job.tag, None)
            if writer is not None:
                writer.close()

        try:
            jobs = [
                self.job(source, o.question, resume=traces.states.get(i), on_step=step, tag=i)
                for i, o in enumerate(outcomes)
                if o.result is None
            ]
            if jobs:
                self.run(jobs, on_round=on_round, on_error=failed)
        finally:
            for job in jobs:
                if job.done and outcomes[job.tag].error is None:
                    outcomes[job.tag].result = job.result()
            traces.close()
        return outcomes


def default_config(llm: LLM) -> AgentConfig:
    """The config of a MemAgent given none: the profile the backend's model runs under (the
    embedded model's trained one, as `load_llm` marks it: `LLM.profile`), else memagent's default."""
    name = getattr(llm, "profile", None)
    return agent_config(PROFILES[name]) if name in PROFILES else AgentConfig()


def _nonempty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def trace_paths(trace: Path, n: int) -> list[Path]:
    """One trace per question: `run.jsonl` itself for one question, else `run.q1.jsonl`,
    `run.q2.jsonl`, ... (the question's number before the suffix)."""
    if n == 1:
        return [trace]
    return [trace.with_name(f"{trace.stem}.q{i}{trace.suffix}") for i in range(1, n + 1)]


@dataclass
class Outcome:
    """What became of one question: a result, or the error that stopped it."""

    question: str
    result: Result | None = None
    error: MemAgentError | None = None
    trace: Path | None = None
    resumed_steps: int = 0  # memory steps taken from the trace, not re-run
    resumed_tokens: int = 0  # document tokens of those steps
    from_trace: bool = False  # the trace was finished: the answer is the trace's

    def rate(self) -> str:
        """Document tokens read per second by this run (resumed chunks not counted)."""
        if self.result is None or self.from_trace:
            return "-"
        read = self.result.document_tokens - self.resumed_tokens
        return f"{read / max(self.result.seconds, 1e-3):.0f}"


@dataclass
class Traces:
    """A run's traces, opened and checked against it: what to resume, what is already done."""

    outcomes: list[Outcome]
    writers: dict[int, TraceWriter] = field(default_factory=dict)
    states: dict[int, ResumeState | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # one line each, for the user

    def opened(
        self,
        i: int,
        path: Path,
        writer: TraceWriter | None,
        state: ResumeState | None,
        final: dict[str, Any] | None,
        agent: MemAgent,
    ) -> None:
        """Record question i's opened trace: its answer when finished, else where to resume."""
        outcome = self.outcomes[i]
        outcome.trace = path
        if final is not None:
            steps = state.steps if state else []
            outcome.result = Result.from_json(final, agent.budgets, outcome.question, steps)
            outcome.from_trace = True
            outcome.resumed_steps = len(steps)
            self.notes.append(f"trace {path} is complete; answer taken from it")
            return
        if writer is not None:
            self.writers[i] = writer
        self.states[i] = state
        if state is not None:
            outcome.resumed_steps = state.next_chunk
            outcome.resumed_tokens = sum(s.chunk_tokens for s in state.steps)
            self.notes.append(f"resuming {path} after chunk {state.next_chunk - 1}")

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()
