"""The int8 CPU engine: the transformers backend with its decoder's linear layers in int8.

`quantize_int8(llm)` swaps the `nn.Linear` layers of the decoder of a float32 `TransformersLLM`
(all but FLOAT_LAYERS: the MLP's down projection) for PyTorch's dynamically quantized int8 linear (int8 weights per output channel, activations
quantized per call, int8 GEMM through fbgemm/oneDNN with VNNI where the CPU has it). Everything
else is unchanged: the same tokenizer and token ids, the chat template, batching, the prompt-prefix
KV reuse, greedy and seeded sampling, log-probs. The embeddings, norms, attention, the MLP's down
projection and the output head stay float32 (the head decides every greedy token).

Why this engine (docs/engines.md): of the int8 candidates that install from wheels (torchao's
int8 paths, CTranslate2) it had the fastest prefill here, and it needs no new dependency and no
converted files: quantizing the merged 135M model takes about a second in memory, so there is no
cache entry to keep (nor a half-written one to avoid). It is opt-in (`--engine int8`): it failed
the gate against float32 (results/engines/gate.md), and on CPUs with native bfloat16 the torch
engine in bfloat16 is as fast. Its API, `torch.ao.quantization.quantize_dynamic`, is deprecated
upstream in favour of torchao; it is used only here, behind this module's contract, so a move to
torchao (or another engine) changes this file alone.
"""

from __future__ import annotations

import warnings
from typing import Any

from memagent.errors import BackendError, InputError

ENGINES = ("torch", "int8")
PRECISION = "int8"  # what the start-up line and traces show as the dtype (weights int8, rest fp32)
# Decoder linear layers kept float32, by name. down_proj: its input (silu(gate) * up) carries the
# activation outliers that one dynamic int8 scale per tensor flattens. With it in int8, 5 of 40 gate
# samples were right only under float32 (results/engines/gate.md); kept float32, the first 3 of them
# came out with float32's memories (a check chosen after the fact; the gate reruns all samples).
FLOAT_LAYERS: tuple[str, ...] = ("down_proj",)
# engine "auto" for the embedded memory agent on a CPU (every other model and device: torch)
EMBEDDED_CPU_ENGINE = "torch"


class EngineUnavailable(BackendError):
    """The int8 engine cannot run here (no quantized kernels in this torch build, an old CPU)."""


def pick_engine(options: Any) -> str:
    """The engine `options.engine` names; "auto": EMBEDDED_CPU_ENGINE for the embedded memory
    agent on a CPU, torch for every other model and device."""
    engine = options.engine
    if engine not in ("auto", *ENGINES):
        raise InputError(f"unknown engine {engine!r}: use auto, torch or int8")
    if engine != "auto":
        return str(engine)
    from memagent.llm.registry import is_embedded_memory_agent

    if not is_embedded_memory_agent(options.model, options.adapter, options.base):
        return "torch"
    if options.device is not None:
        return EMBEDDED_CPU_ENGINE if options.device == "cpu" else "torch"
    import torch

    return "torch" if torch.cuda.is_available() else EMBEDDED_CPU_ENGINE


def engine_dtype(engine: str, picked: str | None, asked: str | None) -> str | None:
    """The dtype to load the weights in for `engine`: torch's `picked` one; int8 quantizes float32
    weights and computes in float32 around its int8 layers, so an explicit other --dtype is an
    error there (not silently dropped)."""
    if engine == "torch":
        return picked
    if asked not in (None, "auto", "float32", "int8"):
        raise InputError(
            f"engine int8 keeps float32 around its int8 layers: --dtype {asked} needs --engine torch"
        )
    return "float32"


def engine_label(llm: Any) -> str:
    """The engine and precision as the start-up line names them ("torch engine, bfloat16"); a
    backend without an engine (a server, vLLM): its dtype."""
    engine = getattr(llm, "engine", None)
    lookup = ", prompt-lookup decoding" if getattr(llm, "lookup", False) else ""
    if engine == "int8":
        return f"int8 engine: int8 weights, float32 activations{lookup}"
    return f"{engine} engine, {llm.dtype}{lookup}" if engine else str(llm.dtype)


def _quantized_engine() -> str:
    """A quantized CPU kernel backend this torch build has: x86 (fbgemm + oneDNN), else fbgemm."""
    import torch

    supported = torch.backends.quantized.supported_engines
    for name in ("x86", "fbgemm", "onednn"):
        if name in supported:
            return name
    raise EngineUnavailable(
        f"engine int8: this torch build has no x86/fbgemm quantized kernels "
        f"(only {', '.join(supported) or 'none'}); --engine torch works"
    )


def _spec(decoder: Any) -> Any:
    """What quantize_dynamic replaces: every nn.Linear, or those not named in FLOAT_LAYERS."""
    import torch

    if not FLOAT_LAYERS:
        return {torch.nn.Linear}
    from torch.ao.quantization import default_dynamic_qconfig

    return {name: default_dynamic_qconfig for name, m in decoder.named_modules()
            if isinstance(m, torch.nn.Linear) and name.rsplit(".", 1)[-1] not in FLOAT_LAYERS}


def quantize_model(model: Any) -> Any:
    """Replace the decoder's `nn.Linear` layers (but FLOAT_LAYERS) of an HF causal LM with dynamic
    int8 ones, in place (the output head and the embeddings stay float32). Returns the model."""
    import torch

    if next(model.parameters()).dtype != torch.float32:
        raise EngineUnavailable("engine int8 quantizes float32 weights; --engine torch works")
    torch.backends.quantized.engine = _quantized_engine()
    decoder = getattr(model, "model", None)
    if decoder is None:
        raise EngineUnavailable(
            f"engine int8: {type(model).__name__} has no decoder to quantize; --engine torch works"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantize_dynamic's deprecation notice (see above)
        from torch.ao.quantization import quantize_dynamic

        try:
            quantize_dynamic(decoder, _spec(decoder), dtype=torch.qint8, inplace=True)
        except (RuntimeError, AssertionError) as exc:
            raise EngineUnavailable(
                f"engine int8 could not quantize the model ({exc}); --engine torch works"
            ) from exc
    return model


def quantize_int8(llm: Any) -> Any:
    """Turn a float32 `TransformersLLM` on the CPU into the int8 engine (in place); returns it."""
    if str(llm.device) != "cpu":
        raise EngineUnavailable(f"engine int8 runs on the CPU, not {llm.device}; --engine torch works")
    quantize_model(llm.model)
    llm.dtype = PRECISION
    llm.engine = "int8"
    return llm
