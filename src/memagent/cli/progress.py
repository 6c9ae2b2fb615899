"""`ask`'s progress bar and --show-memory: display only; `memagent.loop.traces.answer` runs the
questions."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from memagent.loop.agent import MemAgent
from memagent.loop.job import Job, Step
from memagent.loop.traces import Outcome, Traces, answer
from memagent.sources import DocumentSource


def answer_with_progress(
    agent: MemAgent,
    source: DocumentSource,
    traces: Traces,
    total_bytes: int | None,
    console: Console,
    show_memory: bool,
) -> list[Outcome]:
    """`answer(agent, ...)` under a progress bar (bytes read, chunks, tokens/s), printing each new
    memory with `show_memory`. The traces stay open (their opener closes them)."""
    outcomes = traces.outcomes
    pending = [i for i, o in enumerate(outcomes) if o.result is None]
    if not pending:
        return outcomes
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
    tokens = {i: outcomes[i].resumed_tokens for i in pending}
    skipped = sum(tokens.values())

    def on_step(job: Job, step: Step) -> None:
        chars[job.tag] = job.chars_read
        tokens[job.tag] = job.document_tokens
        elapsed = progress.tasks[task].elapsed or 1e-9
        rate = (sum(tokens.values()) - skipped) / len(pending)
        progress.update(
            task,
            completed=sum(chars.values()) / len(pending),
            chunks=job.steps[-1].index + (step.kind == "memory"),
            rate=f"{max(rate, 0) / elapsed:.0f}",
        )
        if show_memory and step.kind == "memory":
            cut = " [yellow](cut at the memory budget)[/]" if step.memory_cut else ""
            cut += " [dim](kept: nothing new)[/]" if step.kept else ""
            console.print(
                f"[cyan]memory after chunk {step.index}[/]{cut}: {step.memory or '(empty)'}",
                highlight=False,
            )

    with progress:
        answer(agent, source, traces, on_step=on_step)
        failed = sum(outcomes[i].error is not None for i in pending)
        ended = "done" if not failed else "failed" if failed == len(pending) else "partial"
        progress.update(task, description=ended, completed=total_bytes)
    return outcomes
