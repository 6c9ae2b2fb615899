"""`memagent eval`: tasks x lengths x methods over generated (or given) samples, resumable."""

from __future__ import annotations

import hashlib
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memagent.cli.options import (
    SEED_HELP,
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
    TemperatureOpt,
    TimeoutOpt,
    TokenizerOpt,
    TopPOpt,
    WindowOpt,
)
from memagent.errors import InputError
from memagent.eval.methods import METHODS

if TYPE_CHECKING:
    from memagent.config import ResolvedBudgets
    from memagent.eval.harness import EvalPlan
    from memagent.eval.run_file import RunInfo
    from memagent.llm.setup import AgentSetup
    from memagent.types import LLM, Tokenizer


def _split(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def model_identity(
    model: str | None, base_url: str | None, adapter: str | None = None, base: bool = False
) -> tuple[str, str | None]:
    """(name, sha256 of the weights file) for the report; the sha is None for servers and dirs.

    With an adapter (given, or the embedded model's shipped one) the name says so and the sha
    covers the adapter weights too.
    """
    from memagent.llm.registry import (
        ADAPTER_WEIGHTS,
        EMBEDDED_NAME,
        embedded_adapter_dir,
        embedded_gguf_path,
    )

    if base_url:
        from memagent.urls import strip_credentials

        return f"{model or 'server model'} @ {strip_credentials(base_url)}", None
    shipped = embedded_adapter_dir() if model is None and adapter is None and not base else None
    lora = Path(adapter).expanduser() if adapter else shipped
    if lora is not None:
        name, sha = model_identity(model, None, None, True)
        weights = lora / ADAPTER_WEIGHTS
        label = "memagent adapter" if shipped is not None else f"adapter {lora.name}"
        both = hashlib.sha256(f"{sha}:{_sha256(weights) if weights.is_file() else ''}".encode())
        return f"{name} + {label}", both.hexdigest()
    if model is None:
        return EMBEDDED_NAME, _sha256(embedded_gguf_path())
    path = Path(model).expanduser()
    if path.is_file():
        return path.name, _sha256(path)
    weights = path / "model.safetensors"
    return path.name, _sha256(weights) if weights.is_file() else None


def _sample_files(paths: list[Path]) -> dict[str, tuple[str, ...]]:
    from memagent.data import read_jsonl

    by_task: dict[str, list[str]] = {}
    for p in paths:
        tasks = {s.task for s in read_jsonl(p)}
        if not tasks:  # eval would quietly generate samples of its own instead
            raise InputError(f"samples file {p} holds no samples: write some with `memagent data`")
        for task in tasks:
            by_task.setdefault(task, []).append(str(p))
    return {t: tuple(ps) for t, ps in by_task.items()}


def _check_out(out: Path) -> None:
    """--out is a directory eval can write (made now, before any model loads), never a file."""
    from memagent.errors import OutputError

    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is not a directory: eval writes a directory (samples.jsonl, "
                          "summary.csv, report.md, ...); give a new or existing directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot make the --out directory {out}: {exc.strerror or exc}") from None


def _outcome(harness: Any) -> int:
    """eval's exit code: 0 when every sample ran, 5 when some failed; when all did, the first
    error's own code (3 a question over its budget, 4 the backend). A failure is one line naming
    how many failed and the first error (rerunning the command retries them)."""
    from memagent import errors
    from memagent.cli import EXIT_PARTIAL, print_line

    records = [r for k, r in harness.records.items() if harness._wanted(k)]
    failed = [r for r in records if r.get("error")]
    if not failed:
        return 0
    every = len(failed) == len(records)
    kind = getattr(errors, str(failed[0]["error"]).partition(":")[0], errors.BackendError)
    own = kind.exit_code if isinstance(kind, type) and issubclass(kind, errors.MemAgentError) else 4
    code = own if every else EXIT_PARTIAL
    which = f"all {len(records)}" if every else f"{len(failed)} of {len(records)}"
    print_line("error", f"{which} samples failed (first: {failed[0]['error']}); they count as "
               f"wrong in the report; rerun the same command to retry them (exit code {code})")
    return code


Opt = typer.Option
SamplingSeedOpt = Annotated[int | None, Opt("--sampling-seed", help=SEED_HELP)]
SamplesOpt = Annotated[list[Path] | None, Opt(
    "--samples", help="JSONL from `memagent data`; replaces generation for its tasks (repeatable).",
)]
HotpotOpt = Annotated[Path | None, Opt(
    "--hotpotqa", help="HotpotQA (or SQuAD for qa_1) JSON for the QA tasks.",
)]
BatchOpt = Annotated[int, Opt(min=1, help="Samples per backend batch.")]
HaystackOpt = Annotated[Path | None, Opt(help="Directory of .txt files for essays.")]
SplitOpt = Annotated[str | None, Opt(
    help="heldout: draw keys and values only from the partition training never sees.",
)]
StyleOpt = Annotated[str, Opt(
    help="Question texts: ruler (RULER's templates; vt and cwe carry a worked example, ~500 "
    "tokens) or release (the MemAgent release's, no examples; its OOD RULER numbers used "
    "these).",
)]


def eval_command(
    tasks: Annotated[str, Opt(help="Comma-separated tasks, e.g. niah_single_1,vt,qa_2.")],
    lengths: Annotated[str, Opt(help="Comma-separated context lengths: 4k,8k,128k,1m.")],
    out: Annotated[Path, Opt("--out", "-o", help="Output directory (resumed if it exists).")],
    methods: Annotated[str, Opt(help="Comma-separated: memagent,full,rag.")] = ",".join(METHODS),
    n: Annotated[int, Opt("--n", "-n", min=1, help="Samples per (task, length) cell.")] = 20,
    seed: Annotated[int, Opt(help="Sample generation seed.")] = 0,
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
    sampling_seed: SamplingSeedOpt = None,
    prompts: PromptsOpt = None,
    batch: BatchOpt = 8,
    hotpotqa: HotpotOpt = None,
    haystack_dir: HaystackOpt = None,
    samples: SamplesOpt = None,
    split: SplitOpt = None,
    style: StyleOpt = "ruler",
    concurrency: ConcurrencyOpt = 8,
    max_retries: MaxRetriesOpt = 5,
    timeout: TimeoutOpt = 300.0,
    max_wait: MaxWaitOpt = 600.0,
) -> int:
    """Evaluate methods on tasks at several lengths.

    --seed draws the samples; --sampling-seed is the model's (ask's --seed). Writes samples.jsonl, summary.csv, accuracy.png and report.md under --out; re-running the
    same command skips the samples already scored there.
    """
    args = ModelArgs.of({**locals(), "seed": sampling_seed})  # --seed draws the samples here
    from rich.console import Console

    from memagent.data import parse_length
    from memagent.data.templates import check_style
    from memagent.eval.harness import EvalPlan, Harness
    from memagent.eval.report import write_report

    err = Console(stderr=True, highlight=False)
    files = _sample_files(list(samples or []))
    plan = EvalPlan(
        tasks=_split(tasks), lengths=tuple(parse_length(x) for x in _split(lengths)),
        methods=_split(methods), n=n, seed=seed, batch=batch,
        qa_source=str(hotpotqa) if hotpotqa else None,
        haystack_dir=str(haystack_dir) if haystack_dir else None, sample_files=files, split=split,
        style=check_style(style),
    )
    _check_plan(plan, hotpotqa is not None)
    _check_out(out)  # the last check before the model loads: it makes the directory
    setup = args.setup()
    llm, tok, identity = _load_model(setup, (model, base_url, adapter, base), err)
    harness = Harness(plan, llm, setup.config, tok, out)
    run = _run_info(plan, setup, identity, harness.methods[plan.methods[0]].budgets, out,
                    decoding=_decoding(llm))
    _run_with_progress(harness, err)
    report = write_report(out, run)
    err.print(f"wrote {out / 'samples.jsonl'}, {out / 'summary.csv'}, {report}")
    return _outcome(harness)


def _load_model(
    setup: AgentSetup, given: tuple[str | None, str | None, str | None, bool], err: Any
) -> tuple[LLM, Tokenizer, tuple[str, str | None]]:
    """The backend (under a status line), its tokenizer and its identity for the report, from
    the command's (--model, --base-url, --adapter, --base); one line says it is ready."""
    from memagent.llm import load_llm
    from memagent.llm.int8 import engine_label

    t0 = time.perf_counter()
    with err.status("loading model ..."):
        llm = load_llm(setup.backend)
    tok = llm.tokenizer
    if tok is None:
        raise InputError("the backend has no tokenizer: pass --tokenizer")
    name, sha = model_identity(*given)
    err.print(f"model {name} ({engine_label(llm)}) ready in {time.perf_counter() - t0:.1f}s; "
              f"{setup.describe()}")
    return llm, tok, (name, sha)


def _check_plan(plan: EvalPlan, hotpotqa: bool) -> None:
    """Every task and method known, and each QA task with its source file."""
    from memagent.data import TASKS
    from memagent.data.hotpotqa import QA_TASKS

    for t in plan.tasks:
        if t not in TASKS:
            raise InputError(f"unknown task {t!r}; choose from {', '.join(TASKS)}")
        if t in QA_TASKS and t not in plan.sample_files and not hotpotqa:
            raise InputError(f"task {t} needs --hotpotqa FILE (a {QA_TASKS[t]} JSON) or --samples")
    for m in plan.methods:
        if m not in METHODS:
            raise InputError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")


def _decoding(llm: LLM) -> str | None:
    """How a local engine decodes greedy replies (None: a server or vLLM decides)."""
    lookup = getattr(llm, "lookup", None)
    return None if lookup is None else ("lookup" if lookup else "plain")


def _run_info(
    plan: EvalPlan, setup: AgentSetup, model: tuple[str, str | None], budgets: ResolvedBudgets,
    out: Path, decoding: str | None = None,
) -> RunInfo:
    """The run's run.json (written now, this command added to its history): what was run, how."""
    from dataclasses import asdict

    from memagent.eval.run_file import RunInfo

    run = RunInfo(
        model=model[0], model_sha256=model[1], tasks=list(plan.tasks), lengths=list(plan.lengths),
        methods=list(plan.methods), n=plan.n, seed=plan.seed, batch=plan.batch, split=plan.split,
        style=plan.style,
        budgets={k: v for k, v in asdict(budgets).items() if not k.endswith("overhead")},
        sampling=asdict(setup.config.sampling), profile=setup.profile.name,
        dtype=setup.backend.dtype or "backend default", decoding=decoding,
        commands=(RunInfo.read(out) or RunInfo()).commands,  # a staged run keeps its history
    )
    run.add_command(shlex.join(_invocation()))
    run.write(out)
    return run


def _invocation() -> list[str]:
    """The command line as recorded: URLs without credentials, an --api-key value hidden."""
    from memagent.cli import invocation
    from memagent.urls import redact_urls

    args = [redact_urls(a) for a in invocation or ["memagent", *sys.argv[1:]]]
    for i, arg in enumerate(args):
        if arg.startswith("--api-key="):
            args[i] = "--api-key=***"
        elif arg == "--api-key" and i + 1 < len(args):
            args[i + 1] = "***"
    return args


def report_command(
    out: Annotated[Path, typer.Argument(help="Eval directory (samples.jsonl + run.json).")],
    merge: Annotated[list[Path] | None, Opt(
        "--merge", help="Another eval directory whose samples are added to OUT (repeatable).",
    )] = None,
) -> int:
    """Rebuild an eval directory's summary, plot and report; optionally merge other runs into it.

    Merging is for one evaluation split over several processes or machines: the runs must share
    model and budgets (checked), and a sample already in OUT is kept over the merged one.
    """
    from rich.console import Console

    from memagent.eval.report import merge_runs, write_report

    err = Console(stderr=True, highlight=False)
    if not (out / "samples.jsonl").is_file():
        raise InputError(f"{out}: no samples.jsonl here; run `memagent eval --out {out}` first")
    for other in merge or []:
        added = merge_runs(out, other)
        err.print(f"merged {added} samples from {other}")
    err.print(f"wrote {write_report(out)}")
    return 0


def _run_with_progress(harness: Any, err: Any) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=err)
    bar = progress.add_task("eval", total=harness.pending())

    def on_progress(desc: str, done: int) -> None:
        progress.update(bar, description=desc, advance=done)

    harness.on_progress = on_progress
    with progress:
        harness.run()
