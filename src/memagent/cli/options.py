"""Options `ask` and `eval` share, defined once: which weights, which profile, which budgets."""

from __future__ import annotations

from typing import Annotated

import typer

from memagent.errors import InputError
from memagent.profile import DEFAULT, EMBEDDED, PROFILES, Profile

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
WindowOpt = Annotated[int | None, typer.Option(help="Context window in tokens (default: profile).")]
QueryOpt = Annotated[int | None, typer.Option(help="Question budget in tokens (default: profile).")]
ChunkOpt = Annotated[
    int | None, typer.Option(help="Chunk size in tokens (default: profile; paper: what fits).")
]
MemoryOpt = Annotated[
    int | None,
    typer.Option(help="Memory budget in tokens, the memory-writing limit (default: profile)."),
]
OutputOpt = Annotated[
    int | None, typer.Option(help="Final answer budget in tokens (default: profile).")
]


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
