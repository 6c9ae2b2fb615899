"""`memagent data`: generate RULER / RULER-HotpotQA samples as JSONL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

TASK_HELP = (
    "niah_single_1/2/3, niah_multikey_1/2/3, niah_multivalue, niah_multiquery, vt, cwe, fwe, "
    "qa_1 (SQuAD v2 --source), qa_2 or hotpotqa (HotpotQA --source)"
)


def data_command(
    task: Annotated[str, typer.Argument(help=TASK_HELP)],
    output: Annotated[Path, typer.Option("--output", "-o", help="JSONL file to write")],
    length: Annotated[
        str, typer.Option("--length", "-l", help="context length in the model's tokens: 32k, 1m")
    ] = "32k",
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="number of samples")] = 50,
    seed: Annotated[int, typer.Option(help="random seed; same seed, same bytes")] = 0,
    model: Annotated[
        str | None,
        typer.Option(help="model dir or .gguf whose tokenizer counts lengths (default: embedded)"),
    ] = None,
    haystack_dir: Annotated[
        Path | None,
        typer.Option(help="directory of .txt files for essay haystacks (default: dict-devil)"),
    ] = None,
    source: Annotated[
        Path | None, typer.Option(help="SQuAD v2 / HotpotQA JSON file for qa_1, qa_2, hotpotqa")
    ] = None,
    depth: Annotated[
        float | None, typer.Option(min=0, max=100, help="needle depth in percent (default: random)")
    ] = None,
) -> None:
    """Generate N samples of TASK at a target length, exact in the model's tokens."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from memagent.data import TASKS, GenOptions, generate_samples, parse_length
    from memagent.data.hotpotqa import QA_TASKS
    from memagent.data.io import Sample, write_jsonl
    from memagent.errors import InputError
    from memagent.llm.hf_tokenizer import load_tokenizer
    from memagent.llm.registry import resolve_model

    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if task in QA_TASKS and source is None:
        raise InputError(f"task {task} needs --source: a {QA_TASKS[task]} JSON file")
    opts = GenOptions(
        target=parse_length(length),
        seed=seed,
        haystack_dir=str(haystack_dir) if haystack_dir else None,
        source=str(source) if source else None,
        depth=depth,
    )
    tokenizer = load_tokenizer(str(resolve_model(model, base=True)))
    console = Console(stderr=True)
    progress = Progress(
        "[bold]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".part")
    with progress:
        bar = progress.add_task(f"{task} @ {opts.target} tokens", total=n)

        def tracked() -> Iterator[Sample]:
            for sample in generate_samples(task, opts, n, tokenizer):
                yield sample
                progress.advance(bar)

        try:
            written = write_jsonl(tracked(), tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    tmp.replace(output)  # no half-written file under the real name
    console.print(f"wrote {written} samples to {output}")
