"""Run ask jobs under a rich progress bar, with traces and --show-memory."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from memagent.agent import Job, MemAgent, Result, Step
from memagent.answer import AnswerRule
from memagent.cost import cost_report
from memagent.scheduler import run_jobs
from memagent.sources import DocumentSource
from memagent.trace import TraceWriter, open_trace, run_identity
from memagent.types import Usage


def _finished_result(
    agent: MemAgent, question: str, steps: list[Step], final: dict[str, Any]
) -> Result:
    """A Result rebuilt from a complete trace: re-running a finished job costs nothing."""
    usage = Usage(
        requests=len(steps) + 1,
        prompt_tokens=final["usage"]["prompt_tokens"],
        completion_tokens=final["usage"]["completion_tokens"],
    )
    n = final["document_tokens"]
    memory = steps[-1].memory if steps else ""
    return Result(
        question,
        final["answer"],
        AnswerRule(final["rule"]),
        "",
        memory,
        steps,
        usage,
        n,
        0.0,
        cost_report(n, agent.budgets, usage),
    )


def run_with_progress(
    agent: MemAgent,
    source: DocumentSource,
    questions: Sequence[str],
    total_bytes: int | None,
    console: Console,
    trace: Path | None,
    resume: bool,
    show_memory: bool,
) -> list[Result]:
    writer: TraceWriter | None = None
    state = None
    if trace is not None:
        identity = run_identity(
            questions[0], agent.config, agent.budgets, agent.llm.name, source.fingerprint_files()
        )
        writer, state, final = open_trace(
            trace, identity, resume, source.fingerprint, source.read_fingerprint
        )
        if final is not None:
            console.print(f"trace {trace} is complete; answer taken from it")
            return [_finished_result(agent, questions[0], state.steps if state else [], final)]
        if state is not None:
            console.print(f"resuming {trace} after chunk {state.next_chunk - 1}")

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[chunks]} chunks"),
        TextColumn("{task.fields[rate]} tok/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task("reading", total=total_bytes, chunks=0, rate="-")
    chars: dict[int, int] = {}

    def on_step(job: Job, step: Step) -> None:
        if writer is not None:
            writer(job, step)
        chars[id(job)] = job.chars_read
        elapsed = progress.tasks[task].elapsed or 1e-9
        tokens = sum(j.document_tokens for j in jobs) / len(jobs)
        progress.update(
            task,
            completed=sum(chars.values()) / len(jobs),
            chunks=job.steps[-1].index + (step.kind == "memory"),
            rate=f"{tokens / elapsed:.0f}",
        )
        if show_memory and step.kind == "memory":
            cut = " [yellow](cut at the memory budget)[/]" if step.memory_cut else ""
            cut += " [dim](kept: nothing new)[/]" if step.kept else ""
            console.print(
                f"[cyan]memory after chunk {step.index}[/]{cut}: {step.memory or '(empty)'}", highlight=False
            )

    jobs = [agent.job(source, q, resume=state, on_step=on_step) for q in questions]
    try:
        with progress:
            run_jobs(agent.llm, jobs, agent.config.sampling)
            progress.update(task, description="done", completed=total_bytes)
    finally:
        if writer is not None:
            writer.close()
    return [job.result() for job in jobs]
