"""`memagent data`: generate RULER / RULER-HotpotQA samples as JSONL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from memagent.cli.options import ApiKeyOpt, BaseUrlOpt

if TYPE_CHECKING:
    from memagent.data import GenOptions
    from memagent.types import Tokenizer

TASK_HELP = (
    "niah_single_1/2/3, niah_multikey_1/2/3, niah_multivalue, niah_multiquery, vt, cwe, fwe, "
    "qa_1 (SQuAD v2 --source), qa_2 or hotpotqa (HotpotQA --source). "
    "`memagent data filter` is the closed-book filter (see its --help)."
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
        typer.Option(
            help="essay haystack: a directory of .txt files, or RULER's PaulGrahamEssays.json "
            "(the file or its directory); default: dict-devil"
        ),
    ] = None,
    source: Annotated[
        Path | None, typer.Option(help="SQuAD v2 / HotpotQA JSON file for qa_1, qa_2, hotpotqa")
    ] = None,
    depth: Annotated[
        float | None, typer.Option(min=0, max=100, help="needle depth in percent (default: random)")
    ] = None,
    style: Annotated[
        str,
        typer.Option(
            help="question texts and QA metric: ruler (RULER's templates, context deleted) or "
            "release (the MemAgent release's texts; qa scored by two-way sub-EM vs answers[0])"
        ),
    ] = "ruler",
    length_convention: Annotated[
        str,
        typer.Option(
            help="what --length measures: context (the document, exact) or ruler (question + "
            "document + generation budget, as RULER and the release count)"
        ),
    ] = "context",
    docs: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="qa tasks: N documents instead of --length tokens (the release's convention; "
            "the samples' length is then N, e.g. eval --lengths 200)",
        ),
    ] = None,
) -> None:
    """Generate N samples of TASK at a target length, exact in the model's tokens."""
    from memagent.data import GenOptions
    from memagent.llm.hf_tokenizer import load_tokenizer
    from memagent.llm.registry import resolve_model
    from memagent.outputs import check_output

    opts = GenOptions(
        target=_checked_length(task, length, source, docs),
        seed=seed,
        haystack_dir=str(haystack_dir) if haystack_dir else None,
        source=str(source) if source else None,
        depth=depth,
        style=style,
        length_convention=length_convention,
        docs=docs,
    )
    check_output(output, "samples file")  # before any work: a device, directory, /proc ...
    tokenizer = load_tokenizer(str(resolve_model(model, base=True)))
    _write_samples(task, opts, n, tokenizer, output)


def _checked_length(task: str, length: str, source: Path | None, docs: int | None) -> int:
    """The target length in tokens, after the task, --source and --docs are checked (one line
    naming the problem, before any work)."""
    from memagent.data import TASKS, check_docs, parse_length
    from memagent.data.hotpotqa import QA_TASKS
    from memagent.errors import InputError

    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if task in QA_TASKS and source is None:
        raise InputError(f"task {task} needs --source: a {QA_TASKS[task]} JSON file")
    target = parse_length(length)
    if docs is not None and task not in QA_TASKS:
        raise InputError(f"--docs counts documents of the qa tasks; {task} has none")
    check_docs(docs)
    return target


def _write_samples(
    task: str, opts: GenOptions, n: int, tokenizer: Tokenizer, output: Path
) -> None:
    """Generate and write the samples with a progress bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from memagent.data import generate_samples
    from memagent.data.io import Sample, write_jsonl

    console = Console(stderr=True)
    progress = Progress(
        "[bold]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    )
    with progress:
        bar = progress.add_task(f"{task} @ {opts.target} tokens", total=n)

        def tracked() -> Iterator[Sample]:
            for sample in generate_samples(task, opts, n, tokenizer):
                yield sample
                progress.advance(bar)

        written = write_jsonl(tracked(), output)  # whole or not at all (memagent.outputs)
    console.print(f"wrote {written} samples to {output}")


def filter_command(
    source: Annotated[Path, typer.Argument(help="HotpotQA JSON (hotpot_dev_distractor_v1.json)")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="HotpotQA JSON of the kept questions")
    ],
    model: Annotated[
        list[str],
        typer.Option(
            "--model", "-m",
            help="model asked without context, repeatable; the release asks Qwen2.5-7B and "
            "Qwen2.5-7B-Instruct (served names with --base-url, else local dirs)",
        ),
    ],
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    tries: Annotated[int, typer.Option(min=1, help="samples per model and question")] = 2,
    temperature: Annotated[float, typer.Option(min=0)] = 1.0,
    top_p: Annotated[float, typer.Option(min=0, max=1)] = 0.7,
    max_tokens: Annotated[int, typer.Option(min=1, help="new tokens per reply")] = 512,
    keep: Annotated[
        int | None,
        typer.Option(min=1, help="keep the first N survivors (release: 128 dev, 8192 train)"),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="JSONL with every question's replies and hits")
    ] = None,
) -> None:
    """Drop questions a model answers without context (the release's closed-book filter).

    Prompt "{question}\\nYour final answer in \\boxed{}.\\n"; a reply hits on a boxed exact match
    or a gold substring; any hit from any model drops the question.
    """
    import json

    from rich.console import Console

    from memagent import llm as backends
    from memagent.data.filter import closed_book_filter
    from memagent.data.loaders import _load_json, load_hotpotqa
    from memagent.outputs import atomic_output, check_output, write_text
    from memagent.types import SamplingParams

    check_output(output, "filtered file")  # before any model is asked
    if report is not None:
        check_output(report, "report")
    items = load_hotpotqa(source)  # validates; refuses SQuAD and malformed files in one line
    records = _load_json(source, "HotpotQA")
    sampling = SamplingParams(temperature=temperature, top_p=top_p)
    console = Console(stderr=True)
    llms = []
    for name in model:
        with console.status(f"loading {name} ..."):
            llms.append(backends.load_llm(
                backends.BackendOptions(model=name, base_url=base_url, api_key=api_key)
            ))
    result = closed_book_filter(items, llms, tries, sampling, max_tokens, keep)
    write_text(output, json.dumps([records[i] for i in result.kept], ensure_ascii=False),
               "filtered file")
    if report is not None:
        with atomic_output(report, "report") as f:
            for i, item in enumerate(items):
                row = {"id": item.id, "kept": i in set(result.kept),
                       "hit_by": result.hits.get(i, []), "replies": result.replies.get(i, {})}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    console.print(
        f"kept {len(result.kept)} of {len(items)} questions "
        f"({len(result.hits)} answered without context) -> {output}"
    )
