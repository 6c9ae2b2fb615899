"""`memagent ask PATH... -q QUESTION`: answer questions about documents of any length."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from memagent.cli.options import (
    AdapterOpt,
    ApiKeyOpt,
    BaseOpt,
    BaseUrlOpt,
    ChunkOpt,
    DtypeOpt,
    MemoryOpt,
    OutputOpt,
    ProfileOpt,
    QueryOpt,
    WindowOpt,
    pick_dtype,
    pick_profile,
)
from memagent.errors import InputError

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model directory or .gguf file (served model name with --base-url). Default: the embedded SmolLM2-135M-Instruct.",
    ),
]
TokenizerOpt = Annotated[
    str | None,
    typer.Option(
        "--tokenizer",
        help="Tokenizer directory for a server's model (budgets are counted with it).",
    ),
]


def ask_command(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Text files, directories of text files (read in sorted order), or - for stdin."
        ),
    ],
    question: Annotated[
        list[str],
        typer.Option(
            "--question",
            "-q",
            help="The question; repeat for several questions over the same document.",
        ),
    ],
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    tokenizer: TokenizerOpt = None,
    backend: Annotated[str, typer.Option(help="auto | transformers | openai | vllm")] = "auto",
    device: Annotated[
        str | None, typer.Option(help="cpu, cuda, cuda:1 ... (transformers backend)")
    ] = None,
    adapter: AdapterOpt = None,
    base: BaseOpt = False,
    dtype: DtypeOpt = None,
    profile: ProfileOpt = "auto",
    window: WindowOpt = None,
    query: QueryOpt = None,
    chunk: ChunkOpt = None,
    memory: MemoryOpt = None,
    output: OutputOpt = None,
    temperature: Annotated[float, typer.Option(help="0 = greedy.")] = 0.0,
    top_p: Annotated[float, typer.Option()] = 1.0,
    seed: Annotated[int | None, typer.Option()] = None,
    prompts: Annotated[
        Path | None, typer.Option(help="TOML file with memory_update / final_answer templates.")
    ] = None,
    trace: Annotated[
        Path | None, typer.Option(help="Write every step to this JSONL file (one question only).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run recorded in --trace.")] = False,
    show_memory: Annotated[
        bool, typer.Option("--show-memory", help="Print the memory after each chunk.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the full result as JSON on stdout.")
    ] = False,
    concurrency: Annotated[
        int, typer.Option(help="Requests in flight at once (HTTP backend).")
    ] = 8,
    max_retries: Annotated[
        int, typer.Option(help="Retries per HTTP request on 429/5xx/connection errors.")
    ] = 5,
    timeout: Annotated[float, typer.Option(help="Seconds per HTTP attempt.")] = 300.0,
) -> int:
    """Answer QUESTION about the documents. The answer goes to stdout; progress and cost to stderr."""
    from rich.console import Console

    from memagent.agent import MemAgent
    from memagent.config import AgentConfig
    from memagent.llm import BackendOptions, load_llm
    from memagent.prompts import PromptTemplates
    from memagent.sources import DocumentSource
    from memagent.types import SamplingParams

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    questions = list(question)
    blank = [i for i, q in enumerate(questions, 1) if not q.strip()]
    if not questions or (len(questions) == 1 and blank):
        raise InputError("the question is empty: pass -q 'your question'")
    if blank:
        raise InputError(
            f"question {blank[0]} of {len(questions)} is empty: every -q needs a question "
            "(answers are printed in the order of the questions)"
        )
    if (trace or resume) and len(questions) > 1:
        raise InputError(
            "--trace/--resume take one question; run one ask per question to trace each"
        )
    if resume and trace is None:
        raise InputError("--resume needs --trace FILE")
    if len(questions) > 1 and "-" in paths:
        raise InputError("stdin can be read only once: save it to a file to ask several questions")
    source = DocumentSource.from_args(paths)
    prof = pick_profile(profile, model, adapter, base, server=base_url is not None)
    budgets = prof.budgets(window, query, chunk, memory, output)
    config = AgentConfig(
        budgets=budgets,
        sampling=SamplingParams(temperature=temperature, top_p=top_p, seed=seed),
        templates=PromptTemplates.from_file(prompts) if prompts else prof.templates,
    )
    t0 = time.perf_counter()
    with err.status("loading model ..."):
        llm = load_llm(
            BackendOptions(
                model=model,
                base_url=base_url,
                api_key=api_key,
                tokenizer=tokenizer,
                adapter=adapter,
                base=base,
                dtype=pick_dtype(dtype, prof, device),
                backend=backend,
                device=device,
                max_concurrency=concurrency,
                max_retries=max_retries,
                timeout=timeout,
            )
        )
        resolve = getattr(llm, "resolve_model", None)
        if resolve is not None:  # a server's model: named before it goes into the trace
            resolve()
    agent = MemAgent(llm, config)
    err.print(
        f"model {llm.name} ({_dtype_of(llm)}) ready in {time.perf_counter() - t0:.1f}s; "
        f"{prof.describe(budgets)}"
        f"{'' if prompts is None else f'; prompts {prompts}'}; chunks of {agent.budgets.chunk} tokens"
    )
    total_bytes = sum(os.path.getsize(p) for p in source.inputs if p != "-") or None
    from memagent.cli.progress import run_with_progress

    results = run_with_progress(
        agent, source, questions, total_bytes, err, trace, resume, show_memory
    )
    for result in results:
        if as_json:
            sys.stdout.write(json.dumps(_result_json(result), ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(f"{result.answer if result.answer is not None else ''}\n")
        err.print(f"[dim]answer rule: {result.rule.value}; {result.cost.summary()}[/]")
        err.print(
            f"[dim]{result.usage.requests} requests, {result.seconds:.1f}s, "
            f"{result.document_tokens / max(result.seconds, 1e-9):.0f} document tokens/s[/]"
        )
    return 0


def _dtype_of(llm: Any) -> str:
    model = getattr(llm, "model", None)
    return str(getattr(model, "dtype", "server")).removeprefix("torch.")


def _result_json(result: Any) -> dict[str, Any]:
    return {
        "question": result.question,
        "answer": result.answer,
        "rule": result.rule.value,
        "raw_answer": result.raw_answer,
        "memory": result.memory,
        "document_tokens": result.document_tokens,
        "seconds": result.seconds,
        "usage": {
            "requests": result.usage.requests,
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
        },
        "cost": result.cost.to_json(),
        "steps": [s.to_json() for s in result.steps],
    }
