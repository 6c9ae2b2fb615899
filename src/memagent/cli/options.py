"""Options every command that runs the model shares (`ask`, `eval`), each defined once with its
help text: model and backend, profile and budgets, sampling, prompts, HTTP limits.
`train` takes these settings from its config file (`memagent.rl.config`), not from flags."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from memagent.errors import InputError
from memagent.profile import DEFAULT, EMBEDDED, PROFILES, Profile

if TYPE_CHECKING:
    from memagent.config import AgentConfig, Budgets

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


def agent_config(
    profile: Profile,
    budgets: Budgets,
    temperature: float | None,
    top_p: float | None,
    seed: int | None,
    prompts: Path | None,
) -> AgentConfig:
    """The run's AgentConfig from the shared flags: --prompts over the profile's templates, the
    explicit sampling flags over the profile's sampling."""
    from memagent.config import AgentConfig
    from memagent.prompts import PromptTemplates

    return AgentConfig(
        budgets=budgets,
        sampling=profile.sampling_with(temperature, top_p, seed),
        templates=(PromptTemplates.from_file(prompts, base=profile.templates) if prompts
                   else profile.templates),
    )


def pick_profile(
    name: str, model: str | None, adapter: str | None, base: bool, server: bool = False
) -> Profile:
    """auto: the embedded profile for the embedded model (trained, or --base beside it) when this
    build ships the trained adapter; memagent's default for every other model and for servers."""
    if name != "auto":
        if name not in PROFILES:
            raise InputError(f"unknown profile {name!r}; use auto, {', '.join(PROFILES)}")
        return PROFILES[name]
    from memagent.llm.registry import embedded_adapter_dir

    if not server and model is None and adapter is None and embedded_adapter_dir() is not None:
        return EMBEDDED
    return DEFAULT


def pick_dtype(explicit: str | None, profile: Profile, device: str | None = None) -> str | None:
    """--dtype, else the profile's trained dtype where this machine runs it natively, else None."""
    if explicit is not None or profile.dtype != "bfloat16":
        return explicit or profile.dtype
    import torch

    if (device or "").startswith("cuda") or (device is None and torch.cuda.is_available()):
        return None  # the backend already picks bfloat16 on a GPU that supports it
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return "bfloat16" if native else None
