"""The int8 CPU engine (llm/int8.py). The LLM contract itself is checked on it by the shared suite
(test_backends.py, `transformers-int8-tiny-llama`); here: what it quantizes, how it is picked, its
one-line refusals, and (slow) that the real embedded agent keeps float32's replies on real prompts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from memagent.errors import BackendError, InputError
from memagent.llm import BackendOptions, load_llm
from memagent.types import ChatRequest, SamplingParams

torch = pytest.importorskip("torch")

from memagent.llm.int8 import (  # noqa: E402
    EngineUnavailable,
    engine_dtype,
    pick_engine,
    quantize_int8,
)
from memagent.llm.transformers_backend import TransformersLLM  # noqa: E402

MESSAGES = ({"role": "user", "content": "Copy this sentence: the key is 4821937."},)


def _int8(path: Path, **kw: Any) -> TransformersLLM:
    return quantize_int8(TransformersLLM.load(path, device="cpu", dtype="float32", **kw))


def test_quantizes_the_decoder_linears_and_keeps_the_head(tiny_llama_dir: Path) -> None:
    llm = _int8(tiny_llama_dir)
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    named = dict(llm.model.model.named_modules())
    int8 = [n for n, m in named.items() if isinstance(m, DynamicInt8Linear)]
    kept = [n for n, m in named.items() if type(m) is torch.nn.Linear]
    assert len(int8) == 6 * len(llm.model.model.layers)  # q k v o gate up
    assert kept and all(n.endswith("mlp.down_proj") for n in kept), kept
    assert type(llm.model.lm_head) is torch.nn.Linear
    assert llm.model.lm_head.weight.dtype == torch.float32
    assert llm.dtype == "int8" and llm.engine == "int8"


def test_greedy_is_deterministic_and_prefix_reuse_changes_nothing(tiny_llama_dir: Path) -> None:
    reuse, plain = _int8(tiny_llama_dir), _int8(tiny_llama_dir, prefix_reuse=False)
    shared = "A long shared instruction that every request repeats word for word. " * 6
    requests = [ChatRequest(({"role": "user", "content": shared + q},), 12)
                for q in ("first?", "second?", "third?")]
    a = reuse.generate(requests, SamplingParams())
    b = plain.generate(requests, SamplingParams())
    assert [c.completion_token_ids for c in a] == [c.completion_token_ids for c in b]
    assert a[0].prompt_token_ids == reuse.tokenizer.chat_ids(requests[0].messages)


def test_seeded_sampling_repeats_and_seeds_differ(tiny_llama_dir: Path) -> None:
    # plain decoding: int8's one activation scale per tensor makes its numbers depend on the
    # whole batch, drafts included (docs/engines.md), so under lookup a repeat may differ
    llm = _int8(tiny_llama_dir, lookup=False)
    hot = SamplingParams(temperature=1.0)
    runs = [llm.generate([ChatRequest(MESSAGES, 16, seed=s)], hot)[0].completion_token_ids
            for s in (7, 7, 8)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_load_llm_engine_option(tiny_llama_dir: Path) -> None:
    llm = load_llm(BackendOptions(model=str(tiny_llama_dir), engine="int8", device="cpu"))
    assert llm.dtype == "int8" and getattr(llm, "engine", None) == "int8"
    torch_llm = load_llm(BackendOptions(model=str(tiny_llama_dir), device="cpu"))
    assert torch_llm.dtype == "float32"  # auto: any model but the embedded agent stays on torch


def test_engine_choice_and_refusals() -> None:
    with pytest.raises(InputError, match="unknown engine 'onnx'"):
        pick_engine(BackendOptions(engine="onnx"))
    assert pick_engine(BackendOptions(model="/some/model")) == "torch"
    assert pick_engine(BackendOptions(engine="int8", device="cpu")) == "int8"
    assert pick_engine(BackendOptions(device="cuda")) == "torch"
    assert engine_dtype("torch", "bfloat16", "auto") == "bfloat16"
    assert engine_dtype("int8", "bfloat16", "auto") == "float32"  # the profile's pick yields
    with pytest.raises(InputError, match="--engine torch"):
        engine_dtype("int8", "bfloat16", "bfloat16")  # an explicit one does not


def test_no_quantized_kernels_is_one_error_naming_the_way_out(
    tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = TransformersLLM.load(tiny_llama_dir, device="cpu", dtype="float32")
    monkeypatch.setattr(type(torch.backends.quantized), "supported_engines",
                        property(lambda self: ["qnnpack"]))
    with pytest.raises(EngineUnavailable, match="--engine torch works") as info:
        quantize_int8(llm)
    assert isinstance(info.value, BackendError) and "\n" not in str(info.value)


def test_bfloat16_weights_are_refused(tiny_llama_dir: Path) -> None:
    llm = TransformersLLM.load(tiny_llama_dir, device="cpu", dtype="bfloat16")
    with pytest.raises(EngineUnavailable, match="--engine torch works"):
        quantize_int8(llm)


def test_cli_refuses_a_dtype_the_engine_cannot_run(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("The key is 4821937.\n")
    proc = subprocess.run(
        [sys.executable, "-m", "memagent.cli", "ask", str(doc), "-q", "What is the key?",
         "--engine", "int8", "--dtype", "bfloat16"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 3, proc.stderr
    assert "--engine torch" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_start_up_line_names_the_engine(tiny_llama_dir: Path, tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("The key is 4821937.\n")
    proc = subprocess.run(
        [sys.executable, "-m", "memagent.cli", "ask", str(doc), "-q", "What is the key?",
         "--model", str(tiny_llama_dir), "--engine", "int8", "--output", "8", "--memory", "16"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert ("(int8 engine: int8 weights, float32 activations, prompt-lookup decoding) ready"
            in proc.stderr), proc.stderr


def _memory_prompts(llm: Any, n: int) -> list[ChatRequest]:
    """The first memory-update request of n jobs of the embedded profile, over n different slices of
    README's example document (the needle's slice among them), as the loop makes them."""
    from memagent.llm.setup import resolve_setup

    doc = (Path(__file__).resolve().parents[2] / "examples" / "needle-8k.txt").read_text()
    agent = resolve_setup(BackendOptions()).agent(llm)
    q = "What is the special magic number for crystal-mango mentioned in the provided text?"
    at = doc.index("crystal-mango")
    starts = [at - 600] + [i * len(doc) // n for i in range(n - 1)]
    requests = []
    for start in starts:
        request = agent.job(doc[max(start, 0):], q).next_request()
        assert request is not None
        requests.append(request)
    return requests


@pytest.mark.slow
def test_embedded_agent_keeps_float32_replies_on_memory_prompts() -> None:
    """Real model, real memory-update prompts: int8's greedy replies equal float32's on most, and
    the needle's sentence is copied under both."""
    fp32 = load_llm(BackendOptions(engine="torch", dtype="float32", device="cpu"))
    int8 = load_llm(BackendOptions(engine="int8", device="cpu"))
    requests = _memory_prompts(fp32, n=6)
    ref = [c.text for c in fp32.generate(requests, SamplingParams())]
    got = [c.text for c in int8.generate(requests, SamplingParams())]
    assert sum(a == b for a, b in zip(ref, got, strict=True)) >= 5, (ref, got)
    assert "crystal-mango" in ref[0] and "crystal-mango" in got[0], (ref[0], got[0])
