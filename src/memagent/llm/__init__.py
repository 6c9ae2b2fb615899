"""Backends behind the `LLM` protocol, and `load_llm`, which picks one from user options.

- no model, no URL: the embedded SmolLM2-135M-Instruct on the transformers backend;
- --model DIR or FILE.gguf: a local model on the transformers backend;
- --base-url URL: any OpenAI-compatible server; its tokenizer comes from --tokenizer, else from a
  local --model path, else the embedded model's tokenizer (counts then only approximate budgets);
- backend="vllm": vLLM's offline engine (optional extra, GPU).
Local weights on the CPU run on an engine: torch (the model as loaded, float32 or bfloat16) or int8
(llm/int8.py: the decoder's linear layers quantized to int8 in memory); `engine` picks one.
Their replies are decoded from prompt-lookup drafts (llm/lookup_decode.py) on the CPU (`decoding`
auto or lookup), with transformers' `generate` on a GPU (auto: not measured there) or when
`decoding="plain"`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memagent.errors import InputError
from memagent.types import LLM


@dataclass(frozen=True)
class BackendOptions:
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    tokenizer: str | None = None
    adapter: str | None = None  # LoRA adapter directory merged into --model (cached)
    base: bool = False  # the embedded model without its shipped memory-agent adapter
    backend: str = "auto"  # auto | transformers | openai | vllm
    device: str | None = None
    # local weights: float32 | bfloat16; None: by device; auto: the model's profile's trained dtype
    # where the hardware runs it natively, else by device (memagent.llm.setup.backend_dtype)
    dtype: str | None = "auto"
    # local weights on the CPU: torch (the model as loaded) | int8 (llm/int8.py); auto: the
    # default for the model and device (memagent.llm.int8.pick_engine)
    engine: str = "auto"
    # replies of the local engines: lookup (drafted from the prompt, several tokens per pass:
    # llm/lookup_decode.py) | plain (transformers' generate, one token per pass); auto: lookup
    # on the CPU, plain on a GPU (where it was not measured)
    decoding: str = "auto"
    max_concurrency: int = 8
    timeout: float = 300.0
    max_retries: int = 5
    max_batch: int = 16
    max_wait: float | None = None  # seconds per HTTP request, every attempt and wait included
    on_retry: Callable[[str], None] | None = None  # one-line notice before each HTTP retry


class ApproximateTokenizerWarning(UserWarning):
    pass


DECODINGS = ("auto", "lookup", "plain")


def decoding_lookup(decoding: str) -> bool | None:
    """`decoding` (checked) as TransformersLLM's `lookup`: True, False, or None for auto (the
    backend decides by the device its model is on)."""
    if decoding not in DECODINGS:
        raise InputError(f"unknown decoding {decoding!r}: use auto, lookup or plain")
    return None if decoding == "auto" else decoding == "lookup"


def _backend(opts: BackendOptions) -> str:
    backend = opts.backend
    if backend == "auto":
        backend = "openai" if opts.base_url else "transformers"
    if backend not in ("transformers", "vllm", "openai"):
        raise InputError(f"unknown backend '{backend}': use auto, transformers, openai or vllm")
    return backend


def tokenizer_path(options: BackendOptions | None = None) -> tuple[str, bool]:
    """The tokenizer directory `load_llm` counts tokens with, and whether it only approximates the
    model's (a server's model without --tokenizer). Loads no weights, so budgets and questions
    can be checked before a model is loaded (a .gguf model is converted once, as load_llm would)."""
    from memagent.llm.registry import resolve_model

    opts = options or BackendOptions()
    if _backend(opts) != "openai":
        return str(resolve_model(opts.model, opts.adapter, opts.base)), False
    local_model = opts.model is not None and Path(opts.model).expanduser().exists()
    if opts.tokenizer or local_model:
        return str(resolve_model(opts.tokenizer or opts.model)), False
    return str(resolve_model(None, base=True)), True


def load_llm(options: BackendOptions | None = None, **overrides: Any) -> LLM:
    """Build the backend the options describe. Heavy imports happen here, not at package import."""
    from memagent.llm.hf_tokenizer import load_tokenizer
    from memagent.llm.registry import resolve_model

    opts = options or BackendOptions()
    if overrides:
        opts = BackendOptions(**{**opts.__dict__, **overrides})
    backend = _backend(opts)
    lookup = decoding_lookup(opts.decoding)  # an unknown value is refused before any load
    if backend == "transformers":
        from memagent.llm.int8 import engine_dtype, pick_engine, quantize_int8
        from memagent.llm.setup import backend_dtype, model_profile
        from memagent.llm.transformers_backend import TransformersLLM

        engine = pick_engine(opts)
        local = TransformersLLM.load(
            resolve_model(opts.model, opts.adapter, opts.base),
            device=opts.device,
            dtype=engine_dtype(engine, backend_dtype(opts), opts.dtype),
            max_batch=opts.max_batch,
            lookup=lookup,
        )
        local.engine = engine
        if engine == "int8":
            quantize_int8(local)
        local.profile = model_profile(opts)  # what MemAgent(llm) runs it under by default
        return local
    if backend == "vllm":
        from memagent.llm.setup import model_profile
        from memagent.llm.vllm_backend import VLLMOfflineLLM

        path = resolve_model(opts.model, opts.adapter, opts.base)
        offline = VLLMOfflineLLM(str(path), tokenizer=load_tokenizer(str(path)))
        offline.profile = model_profile(opts)
        return offline
    if not opts.base_url:
        raise InputError("the openai backend needs --base-url")
    from memagent.llm.openai_compat import OpenAICompatLLM

    local_model = opts.model is not None and Path(opts.model).expanduser().exists()

    llm = OpenAICompatLLM(
        opts.base_url,
        model=None if local_model else opts.model,
        api_key=opts.api_key,
        max_concurrency=opts.max_concurrency,
        timeout=opts.timeout,
        max_retries=opts.max_retries,
        max_wait=opts.max_wait,
        on_retry=opts.on_retry,
    )
    tok_dir, approximate = tokenizer_path(opts)
    if approximate:
        warnings.warn(
            "no --tokenizer given for the server's model: chunks and budgets are counted with the "
            "embedded SmolLM2 tokenizer, so they only approximate the server model's tokens",
            ApproximateTokenizerWarning,
            stacklevel=2,
        )
    llm.tokenizer = load_tokenizer(tok_dir)
    return llm
