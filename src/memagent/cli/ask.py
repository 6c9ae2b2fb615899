"""`memagent ask PATH... -q QUESTION`: answer questions about documents of any length."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memagent.cli import EXIT_PARTIAL, print_line, stdout_closed
from memagent.cli.options import (
    AdapterOpt,
    ApiKeyOpt,
    BackendOpt,
    BaseOpt,
    BaseUrlOpt,
    ChunkOpt,
    ConcurrencyOpt,
    DecodingOpt,
    DeviceOpt,
    DtypeOpt,
    EngineOpt,
    MaxRetriesOpt,
    MaxWaitOpt,
    MemoryOpt,
    ModelArgs,
    ModelOpt,
    OutputOpt,
    ProfileOpt,
    PromptsOpt,
    QueryOpt,
    SeedOpt,
    TemperatureOpt,
    TimeoutOpt,
    TokenizerOpt,
    TopPOpt,
    WindowOpt,
)
from memagent.errors import InputError, OutputError

if TYPE_CHECKING:
    from memagent.llm.setup import AgentSetup
    from memagent.loop.agent import MemAgent


PathsArg = Annotated[list[str], typer.Argument(
    help="Text files, directories of text files (read in sorted order), or - for stdin.",
)]
QuestionOpt = Annotated[list[str], typer.Option(
    "--question", "-q", help="The question; repeat for several questions over the same document.",
)]
TraceOpt = Annotated[Path | None, typer.Option(
    help="Write every step to this JSONL file, a checkpoint for --resume. With several "
    "questions, each gets its own trace, numbered before the suffix: --trace run.jsonl "
    "writes run.q1.jsonl, run.q2.jsonl, ...",
)]
ResumeOpt = Annotated[bool, typer.Option(
    help="Continue the run recorded in --trace: finished questions are answered from "
    "their traces, the others continue after their last recorded chunk.",
)]
ShowMemoryOpt = Annotated[bool, typer.Option("--show-memory", help="Print the memory after each chunk.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the full result as JSON on stdout.")]


def ask_command(
    paths: PathsArg,
    question: QuestionOpt,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    tokenizer: TokenizerOpt = None,
    backend: BackendOpt = "auto",
    device: DeviceOpt = None,
    adapter: AdapterOpt = None,
    base: BaseOpt = False,
    dtype: DtypeOpt = None,
    engine: EngineOpt = "auto",
    decoding: DecodingOpt = "auto",
    profile: ProfileOpt = "auto",
    window: WindowOpt = None,
    query: QueryOpt = None,
    chunk: ChunkOpt = None,
    memory: MemoryOpt = None,
    output: OutputOpt = None,
    temperature: TemperatureOpt = None,
    top_p: TopPOpt = None,
    seed: SeedOpt = None,
    prompts: PromptsOpt = None,
    trace: TraceOpt = None,
    resume: ResumeOpt = False,
    show_memory: ShowMemoryOpt = False,
    as_json: JsonOpt = False,
    concurrency: ConcurrencyOpt = 8,
    max_retries: MaxRetriesOpt = 5,
    timeout: TimeoutOpt = 300.0,
    max_wait: MaxWaitOpt = 600.0,
) -> int:
    """Answer QUESTION about the documents. The answer goes to stdout; progress and cost to stderr.

    Several questions: answers are printed one per line in the order of the questions. If some
    questions fail, the others' answers are still printed (a failed one: an empty line, or a JSON
    object with "error" under --json), each failure is one line on stderr, and the exit code is 5.
    """
    args = ModelArgs.of(locals())
    from rich.console import Console

    from memagent.cli.progress import answer_with_progress
    from memagent.llm.int8 import engine_label
    from memagent.loop.traces import open_traces
    from memagent.sources import DocumentSource

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    questions = _checked_questions(list(question), paths, trace, resume)
    # Everything that can be checked without the model is checked before it loads.
    source = DocumentSource.from_args(paths)
    source.precheck()
    setup = args.setup()
    t0 = time.perf_counter()
    agent = _load_agent(setup, questions, err)
    with open_traces(agent, source, questions, trace, resume) as traces:  # refusals: no output
        err.print(
            f"model {agent.llm.name} ({engine_label(agent.llm)}) ready in "
            f"{time.perf_counter() - t0:.1f}s; {setup.describe()}"
            f"{'' if prompts is None else f'; prompts {prompts}'}; "
            f"chunks of {agent.budgets.chunk} tokens"
        )
        for note in traces.notes:
            err.print(note, markup=False)
        total_bytes = sum(os.path.getsize(p) for p in source.inputs if p != "-") or None
        outcomes = answer_with_progress(agent, source, traces, total_bytes, err, show_memory)
    try:
        return _report(outcomes, as_json, err, trace is not None)
    except BrokenPipeError:
        stdout_closed()
        raise
    except OSError as exc:  # stdout on a full disk (`> /dev/full`): the answers were not written
        raise _unwritten(exc, outcomes, trace is not None) from None


def _unwritten(exc: OSError, outcomes: list[Any], traced: bool) -> OutputError:
    """stdout failed: say so in one line, with where the answers still are (or the one answer)."""
    from memagent.cli import silence_stdout

    silence_stdout()  # Python's last flush of the same buffer must not fail again
    answers = [o.result.answer for o in outcomes if o.result is not None]
    what = "the answers" if len(outcomes) > 1 else "the answer"
    where = ""
    if traced:
        kept, again = ("the traces keep them", "them") if len(outcomes) > 1 else (
            "the trace keeps it", "it")
        where = f"; {kept}: rerun the same command with --resume to print {again} again"
    elif len(answers) == 1 and len(str(answers[0])) <= 200:
        where = f"; the answer was: {answers[0]}"
    return OutputError(f"cannot write {what} to stdout ({exc.strerror or exc}){where}")


def _checked_questions(
    questions: list[str], paths: list[str], trace: Path | None, resume: bool
) -> list[str]:
    """The questions, and the flags that go with them, checked before anything is read."""
    from memagent.loop.trace import check_trace_file
    from memagent.loop.traces import trace_paths

    blank = [i for i, q in enumerate(questions, 1) if not q.strip()]
    if not questions or (len(questions) == 1 and blank):
        raise InputError("the question is empty: pass -q 'your question'")
    if blank:
        raise InputError(
            f"question {blank[0]} of {len(questions)} is empty: every -q needs a question "
            "(answers are printed in the order of the questions)"
        )
    if resume and trace is None:
        raise InputError("--resume needs --trace FILE")
    if len(questions) > 1 and "-" in paths:
        raise InputError("stdin can be read only once: save it to a file to ask several questions")
    if trace is not None:
        if trace.is_dir():
            raise InputError(f"trace path {trace} is a directory: give a file path for --trace")
        for path in trace_paths(trace, len(questions)):
            check_trace_file(path, resume)
    return questions


def _load_agent(setup: AgentSetup, questions: list[str], err: Any) -> MemAgent:
    """The agent on its loaded model; each question is checked against the query budget with
    the model's tokenizer before the weights load."""
    from memagent.llm import load_llm, tokenizer_path
    from memagent.llm.hf_tokenizer import load_tokenizer
    from memagent.loop.agent import MemAgent

    config = setup.config
    with err.status("loading model ..."):
        tok = load_tokenizer(tokenizer_path(setup.backend)[0])
        _check_questions(questions, tok, config.budgets.resolve(tok, config.templates).query)
        llm = load_llm(setup.backend)
        llm.resolve_model()  # a server's model: named before it goes into the trace
    return MemAgent(llm, config)


def _check_questions(questions: list[str], tokenizer: Any, limit: int) -> None:
    """Each question within the query budget (Job's own check), before the model loads."""
    from memagent.loop.job import check_question

    for i, q in enumerate(questions, 1):
        which = "the question" if len(questions) == 1 else f"question {i} of {len(questions)}"
        check_question(q, tokenizer, limit, which)


def _report(outcomes: list[Any], as_json: bool, err: Any, traced: bool) -> int:
    """Answers to stdout in question order; failures one line each on stderr. Returns the exit
    code: 0 all answered, 5 some answered and some failed, else the failure's own code."""
    from rich.markup import escape

    failed = [(i, o) for i, o in enumerate(outcomes, 1) if o.error is not None]
    n = len(outcomes)
    if failed and len(failed) == n:
        messages = {str(o.error) for _, o in failed}
        if len(messages) == 1:  # one cause for all (server down, bad document): said once
            raise failed[0][1].error
        for i, o in failed:
            print_line("error", f"question {i} of {n} ({_short(o.question)}): {o.error}")
        return int(failed[0][1].error.exit_code)
    for o in outcomes:
        if o.result is None:
            if as_json:
                record = {"question": o.question, "answer": None, "error": str(o.error),
                          "exit_code": o.error.exit_code}
                sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                sys.stdout.write("\n")  # keeps each answer on its question's line
            continue
        result = o.result
        if as_json:
            sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(f"{result.answer if result.answer is not None else ''}\n")
        if result.grounding_note:
            err.print(f"[yellow]answer grounding: {escape(result.grounding_note)}[/]")
        err.print(f"[dim]answer rule: {result.rule.value}; {result.cost.summary()}[/]")
        if o.from_trace:
            err.print(
                f"[dim]{result.usage.requests} requests, recorded in {escape(str(o.trace))}; "
                "none re-run[/]"
            )
        else:
            resumed = f" (chunks 0-{o.resumed_steps - 1} taken from the trace)" if o.resumed_steps else ""
            err.print(
                f"[dim]{result.usage.requests} requests, {result.seconds:.1f}s, "
                f"{o.rate()} document tokens/s{resumed}[/]"
            )
    sys.stdout.flush()
    if not failed:
        return 0
    for i, o in failed:
        print_line("error", f"question {i} of {n} ({_short(o.question)}): {o.error}")
    retry = "; rerun the same command with --resume to retry only the failed ones" if traced else ""
    print_line(
        "error",
        f"{len(failed)} of {n} questions failed; the answers to the other {n - len(failed)} are on "
        f"stdout{retry} (exit code {EXIT_PARTIAL})",
    )
    return EXIT_PARTIAL


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
