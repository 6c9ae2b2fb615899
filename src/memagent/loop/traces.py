"""Several questions over one document, a trace per question (`memagent ask -q ... -q ...`, serve).

`open_traces` opens and checks every question's trace against this run (`trace_paths` names them),
`answer` runs the questions not answered yet, resumed from their traces and writing to them, with
failures kept per question (`Outcome`). `Traces` is the one owner of the open trace files: a
question that fails has its trace closed by it (`drop`), and the rest are closed when the `with`
block the traces were opened in ends (or `close`); `answer` never closes them. The file format and
its checks are `memagent.loop.trace`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from memagent.config import ResolvedBudgets
from memagent.errors import MemAgentError
from memagent.loop.job import Job, Result, ResumeState, Step, StepCallback
from memagent.loop.trace import TraceWriter, open_trace, run_identity
from memagent.sources import DocumentSource

if TYPE_CHECKING:
    from memagent.loop.agent import MemAgent
    from memagent.loop.scheduler import RoundCallback


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
    """A run's traces, opened and checked against it: what to resume, what is already done. The
    owner of their open files: `with open_traces(...) as traces:` closes them at the end."""

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
        budgets: ResolvedBudgets,
    ) -> None:
        """Record question i's opened trace: its answer when finished, else where to resume."""
        outcome = self.outcomes[i]
        outcome.trace = path
        if final is not None:
            steps = state.steps if state else []
            outcome.result = Result.from_json(final, budgets, outcome.question, steps)
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

    def write(self, i: int, job: Job, step: Step) -> None:
        """Question i's step into its trace (if it has one)."""
        writer = self.writers.get(i)
        if writer is not None:
            writer(job, step)

    def drop(self, i: int) -> None:
        """Question i failed: its trace is closed now, as far as it got (a checkpoint to resume)."""
        writer = self.writers.pop(i, None)
        if writer is not None:
            writer.close()

    def close(self) -> None:
        for i in list(self.writers):
            self.drop(i)

    def __enter__(self) -> Traces:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_traces(
    agent: MemAgent,
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
        for i in sorted(range(len(paths)), key=lambda i: not _nonempty(paths[i])):
            identity = run_identity(
                questions[i], agent.config, agent.budgets, agent.llm.name, document
            )
            writer, state, final = open_trace(
                paths[i], identity, resume, source.fingerprint, source.read_fingerprint
            )
            traces.opened(i, paths[i], writer, state, final, agent.budgets)
    except BaseException:  # a refused trace: those opened so far close too
        traces.close()
        raise
    return traces


def answer(
    agent: MemAgent,
    source: DocumentSource,
    traces: Traces,
    on_step: StepCallback | None = None,
    on_round: RoundCallback | None = None,
) -> list[Outcome]:
    """Answer every question of `traces` not answered yet (a job each, resumed from its trace
    and writing to it); a question that fails keeps its error in its Outcome, and its trace is
    closed, while the others go on. The traces stay open: their owner closes them."""
    outcomes = traces.outcomes
    jobs: list[Job] = []

    def step(job: Job, done: Step) -> None:
        traces.write(job.tag, job, done)
        if on_step is not None:
            on_step(job, done)

    def failed(job: Job, exc: MemAgentError) -> None:
        outcomes[job.tag].error = exc
        traces.drop(job.tag)

    try:
        jobs = [
            agent.job(source, o.question, resume=traces.states.get(i), on_step=step, tag=i)
            for i, o in enumerate(outcomes)
            if o.result is None
        ]
        if jobs:
            agent.run(jobs, on_round=on_round, on_error=failed)
    finally:
        for job in jobs:
            if job.done and outcomes[job.tag].error is None:
                outcomes[job.tag].result = job.result()
    return outcomes


def _nonempty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0
