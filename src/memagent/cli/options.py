"""Options every command that runs the model shares (`ask`, `eval`), each defined once with its
help text: model and backend, profile and budgets, sampling, prompts, HTTP limits.
`train` takes these settings from its config file (`memagent.rl.config`), not from flags."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from memagent.llm.setup import AgentSetup


# -- model and backend --------------------------------------------------------------------------
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
BackendOpt = Annotated[str, typer.Option(help="auto | transformers | openai | vllm")]
DeviceOpt = Annotated[
    str | None, typer.Option(help="cpu, cuda, cuda:1 ... (transformers backend)")
]

AdapterOpt = Annotated[
    str | None,
    typer.Option(help="LoRA adapter directory merged into --model (once, cached)."),
]
BaseOpt = Annotated[
    bool,
    typer.Option(
        "--base",
        help="The embedded model without its trained memory-agent adapter (for comparison).",
    ),
]
ProfileOpt = Annotated[
    str,
    typer.Option(
        help="Budgets, prompts and sampling a model was trained at: auto (smollm2-memagent for the "
        "embedded model, default otherwise), default, paper (the release bit for bit: its window, "
        "prompts, answer rule and sampling; docs/paper-differences.md), smollm2-memagent. Explicit "
        "budget and sampling flags override it.",
    ),
]
DtypeOpt = Annotated[
    str | None,
    typer.Option(
        help="Weights dtype for a local model: float32 or bfloat16. Default: the profile's trained "
        "dtype where the hardware runs it natively (the embedded agent: bfloat16 on CPUs with "
        "avx512_bf16/AMX), else bfloat16 on CUDA and float32 on CPU."
    ),
]
EngineOpt = Annotated[
    str,
    typer.Option(
        help="How local weights run on the CPU: torch (as loaded, --dtype) or int8 (the decoder's "
        "linear layers in int8, docs/engines.md). Default auto: torch (every model, every GPU)."
    ),
]
DecodingOpt = Annotated[
    str,
    typer.Option(
        help="Replies of a local model: lookup (drafts copied from the prompt and recent "
        "replies, checked several tokens per pass: the same tokens, or the same sampling "
        "distribution, in fewer passes; docs/engines.md) or plain (transformers' generate, one "
        "token per pass). Default auto: lookup on the CPU, plain on a GPU."
    ),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        envvar=["MEMAGENT_BASE_URL", "OPENAI_BASE_URL"],
        show_envvar=True,
        help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1. Precedence: this flag, then "
        "$MEMAGENT_BASE_URL, then $OPENAI_BASE_URL (as OpenAI clients read it); none: a local "
        "model. Credentials in the URL (http://user:KEY@host) are sent as basic auth and never "
        "shown or stored.",
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar=["MEMAGENT_API_KEY", "OPENAI_API_KEY"],
        show_envvar=True,
        help="Bearer token for --base-url. Precedence: this flag, then $MEMAGENT_API_KEY, then "
        "$OPENAI_API_KEY. Never shown or stored (prefer the variables: flags show in `ps`).",
    ),
]
# -- budgets (tokens) ---------------------------------------------------------------------------
WindowOpt = Annotated[int | None, typer.Option(help="Context window in tokens (default: profile).")]
QueryOpt = Annotated[int | None, typer.Option(help="Question budget in tokens (default: profile).")]
ChunkOpt = Annotated[
    int | None, typer.Option(help="Chunk size in tokens (default: the profile's; 5000 under default and paper).")
]
MemoryOpt = Annotated[
    int | None,
    typer.Option(help="Memory budget in tokens, the memory-writing limit (default: profile)."),
]
OutputOpt = Annotated[
    int | None, typer.Option(help="Final answer budget in tokens (default: profile).")
]

# -- sampling and prompts -----------------------------------------------------------------------
TemperatureOpt = Annotated[
    float | None, typer.Option(help="0 = greedy. Default: the profile's (paper: 0.7; others: 0).")
]
TopPOpt = Annotated[
    float | None,
    typer.Option(help="Nucleus sampling mass, in (0, 1]; 1 = off. Default: the profile's (paper: 0.95)."),
]
SEED_HELP = (
    "Sampling seed: each request is sampled with its own seed derived from it, so a sampled run "
    "repeats exactly. Default: unseeded."
)
SeedOpt = Annotated[int | None, typer.Option(help=SEED_HELP)]
PromptsOpt = Annotated[
    Path | None, typer.Option(help="TOML file with memory_update / final_answer templates.")
]

# -- HTTP backend -------------------------------------------------------------------------------
ConcurrencyOpt = Annotated[int, typer.Option(help="Requests in flight at once (HTTP backend).")]
MaxRetriesOpt = Annotated[
    int, typer.Option(help="Retries per HTTP request on 429/5xx/connection errors.")
]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds per HTTP attempt.")]
MaxWaitOpt = Annotated[
    float,
    typer.Option(
        help="Seconds one HTTP request may take in all, every attempt and wait included "
        "(0: no limit beyond --timeout x attempts). Each retry prints a one-line notice."
    ),
]



@dataclass(frozen=True)
class ModelArgs:
    """The shared flags above as one value, which `setup` turns into the run (`resolve_setup`):
    what `ask` and `eval` (and serve) take of the model, profile, budgets, sampling and HTTP."""

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    tokenizer: str | None = None
    backend: str = "auto"
    device: str | None = None
    adapter: str | None = None
    base: bool = False
    dtype: str | None = None
    engine: str = "auto"
    decoding: str = "auto"
    profile: str = "auto"
    window: int | None = None
    query: int | None = None
    chunk: int | None = None
    memory: int | None = None
    output: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    prompts: Path | None = None
    concurrency: int = 8
    max_retries: int = 5
    timeout: float = 300.0
    max_wait: float = 600.0

    @classmethod
    def of(cls, flags: dict[str, Any]) -> ModelArgs:
        """From a command's parameters (its `locals()`), each field by its flag's name."""
        return cls(**{f.name: flags[f.name] for f in fields(cls)})

    def setup(self) -> AgentSetup:
        """The run these flags ask for: model -> profile -> budgets, prompts, sampling, dtype."""
        from memagent.cli import print_line
        from memagent.llm import BackendOptions
        from memagent.llm.setup import resolve_setup

        options = BackendOptions(
            model=self.model, base_url=self.base_url, api_key=self.api_key,
            tokenizer=self.tokenizer, adapter=self.adapter, base=self.base,
            dtype=self.dtype or "auto", engine=self.engine, decoding=self.decoding,
            backend=self.backend,
            device=self.device,
            max_concurrency=self.concurrency, max_retries=self.max_retries, timeout=self.timeout,
            max_wait=self.max_wait or None, on_retry=lambda notice: print_line("warning", notice),
        )
        return resolve_setup(
            options, self.profile, window=self.window, query=self.query, chunk=self.chunk,
            memory=self.memory, output=self.output, temperature=self.temperature,
            top_p=self.top_p, seed=self.seed, prompts=self.prompts,
        )
