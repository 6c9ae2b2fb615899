"""Run ask jobs under a rich progress bar, with traces (one per question) and --show-memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from memagent.agent import MemAgent
from memagent.errors import MemAgentError
from memagent.job import Job, Result, ResumeState, Step
from memagent.scheduler import run_jobs
from memagent.sources import DocumentSource
from memagent.trace import TraceWriter, open_trace, run_identity


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
    """The run's traces, opened and checked against it: what to resume, what is already done."""

    outcomes: list[Outcome]
    writers: dict[int, TraceWriter] = field(default_factory=dict)
    states: dict[int, ResumeState | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # one line each, for the user

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


def open_traces(
    agent: MemAgent,
    source: DocumentSource,
    questions: Sequence[str],
    trace: Path | None,
    resume: bool,
) -> Traces:
    """One trace per question (`trace_paths`), each opened and checked against this run; a trace
    that does not match raises InputError (and leaves no new trace file behind)."""
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
                questions[i], agent.config, agent.budgets, agent.llm.name, document
            )
            writer, state, final = open_trace(
                path, identity, resume, source.fingerprint, source.read_fingerprint
            )
            outcome = traces.outcomes[i]
            outcome.trace = path
            if final is not None:
                steps = state.steps if state else []
                outcome.result = Result.from_json(final, agent.budgets, questions[i], steps)
                outcome.from_trace = True
                outcome.resumed_steps = len(steps)
                traces.notes.append(f"trace {path} is complete; answer taken from it")
                continue
            if writer is not None:
                traces.writers[i] = writer
            traces.states[i] = state
            if state is not None:
                outcome.resumed_steps = state.next_chunk
                outcome.resumed_tokens = sum(s.chunk_tokens for s in state.steps)
                traces.notes.append(f"resuming {path} after chunk {state.next_chunk - 1}")
    except BaseException:
        traces.close()
        raise
    return traces


def run_with_progress(
    agent: MemAgent,
    source: DocumentSource,
    questions: Sequence[str],
    traces: Traces,
    total_bytes: int | None,
    console: Console,
    show_memory: bool,
) -> list[Outcome]:
    """Run one job per question not answered yet; a job that fails is reported in its Outcome
    while the others go on. Closes the traces."""
    outcomes = traces.outcomes
    try:
        pending = [i for i, o in enumerate(outcomes) if o.result is None]
        if pending:
            _run(agent, source, questions, pending, outcomes, traces.states, traces.writers,
                 total_bytes, console, show_memory)
    finally:
        traces.close()
    return outcomes


def _run(
    agent: MemAgent,
    source: DocumentSource,
    questions: Sequence[str],
    pending: list[int],
    outcomes: list[Outcome],
    states: dict[int, ResumeState | None],
    writers: dict[int, TraceWriter],
    total_bytes: int | None,
    console: Console,
    show_memory: bool,
) -> None:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[chunks]} chunks"),
        TextColumn("{task.fields[rate]} tok/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,  # a log gets the summary lines, not a bar
    )
    task = progress.add_task("reading", total=total_bytes, chunks=0, rate="-")
    chars: dict[int, int] = {}
    skipped = sum(outcomes[i].resumed_tokens for i in pending)

    def on_step(job: Job, step: Step) -> None:
        writer = writers.get(job.tag)
        if writer is not None:
            writer(job, step)
        chars[id(job)] = job.chars_read
        elapsed = progress.tasks[task].elapsed or 1e-9
        tokens = (sum(j.document_tokens for j in jobs) - skipped) / len(jobs)
        progress.update(
            task,
            completed=sum(chars.values()) / len(jobs),
            chunks=job.steps[-1].index + (step.kind == "memory"),
            rate=f"{max(tokens, 0) / elapsed:.0f}",
        )
        if show_memory and step.kind == "memory":
            cut = " [yellow](cut at the memory budget)[/]" if step.memory_cut else ""
            cut += " [dim](kept: nothing new)[/]" if step.kept else ""
            console.print(
                f"[cyan]memory after chunk {step.index}[/]{cut}: {step.memory or '(empty)'}", highlight=False
            )

    def on_error(job: Job, exc: MemAgentError) -> None:
        outcomes[job.tag].error = exc
        writer = writers.pop(job.tag, None)
        if writer is not None:
            writer.close()

    jobs = [
        agent.job(source, questions[i], resume=states.get(i), on_step=on_step, tag=i)
        for i in pending
    ]
    try:
        with progress:
            run_jobs(agent.llm, jobs, agent.config.sampling, on_error=on_error)
            failed = sum(outcomes[i].error is not None for i in pending)
            ended = "done" if not failed else "failed" if failed == len(pending) else "partial"
            progress.update(task, description=ended, completed=total_bytes)
    finally:
        for job in jobs:
            if job.done and outcomes[job.tag].error is None:
                outcomes[job.tag].result = job.result()
