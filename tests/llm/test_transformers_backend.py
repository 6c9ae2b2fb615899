"""The transformers backend samples each request from the request's own seed and leaves torch's
global RNG as it found it (issue 11: no backend resets the global seed)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from memagent.types import ChatRequest, SamplingParams


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu,
                                        pytest.mark.skipif(not _cuda(), reason="no CUDA device")])],
)
def test_seeded_sampling_repeats_and_leaves_the_global_rng_alone(
    tiny_llama_dir: Path, device: str
) -> None:
    import torch

    from memagent.llm.transformers_backend import TransformersLLM

    llm = TransformersLLM.load(str(tiny_llama_dir), device=device, dtype="float32")
    sampling = SamplingParams(temperature=1.0, seed=3)
    request = ChatRequest(({"role": "user", "content": "Say something."},), 12)
    seeded = [replace(request, seed=sampling.request_seed(i, 0)) for i in range(2)]

    def sample(requests: list[ChatRequest]) -> list[Any]:
        return [c.completion_token_ids for c in llm.generate(requests, sampling)]

    torch.manual_seed(123)
    before = torch.get_rng_state()
    cuda_before = torch.cuda.get_rng_state() if device == "cuda" else None
    first = sample(seeded)
    assert torch.equal(torch.get_rng_state(), before), "generate moved torch's global RNG"
    if cuda_before is not None:
        assert torch.equal(torch.cuda.get_rng_state(), cuda_before)
    assert sample(seeded) == first  # the same seeds, the same samples
    other = sample([replace(r, seed=(r.seed or 0) + 1) for r in seeded])
    assert other != first  # the seed is what decides (a random model over a 49K vocabulary)
    unseeded = sample([request])
    assert not torch.equal(torch.get_rng_state(), before)  # no seed: the global RNG, as before
    assert unseeded


def test_weights_changed_drops_prefix_caches_of_the_old_weights(tiny_llama_dir: Path) -> None:
    """After an in-place weight update (what an optimizer step does), `weights_changed()` makes
    greedy outputs those of the new weights; without it the cached prefix KV would still be the
    old weights', so the test would fail on a backend that kept its caches."""
    import torch

    from memagent.llm.transformers_backend import TransformersLLM

    llm = TransformersLLM.load(str(tiny_llama_dir), device="cpu", dtype="float32")
    assert llm.prefix is not None
    llm.prefix = type(llm.prefix)(llm.model, min_tokens=8, max_tokens=4096)
    shared = "A long shared instruction that every request of the batch begins with. " * 4
    requests = [ChatRequest(({"role": "user", "content": shared + tail},), 8)
                for tail in ("First question?", "Second question?")]
    greedy = SamplingParams(temperature=0.0)
    llm.generate(requests, greedy)
    assert llm.prefix.entries  # the shared prefix is cached now
    with torch.no_grad():
        for p in llm.model.parameters():
            p.mul_(1.5)
    llm.weights_changed()
    assert not llm.prefix.entries and llm.prefix.min_tokens == 8  # emptied, limits kept
    fresh = TransformersLLM(llm.model, llm.tokenizer, "fresh", prefix_reuse=False)
    expected = [c.completion_token_ids for c in fresh.generate(requests, greedy)]
    assert [c.completion_token_ids for c in llm.generate(requests, greedy)] == expected


def test_set_model_generates_with_the_new_model(tiny_llama_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from memagent.llm.transformers_backend import TransformersLLM

    llm = TransformersLLM.load(str(tiny_llama_dir), device="cpu", dtype="float32")
    other = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)).eval()
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(-1.0)
    request = [ChatRequest(({"role": "user", "content": "Say something."},), 8)]
    greedy = SamplingParams(temperature=0.0)
    before = llm.generate(request, greedy)[0].completion_token_ids
    llm.set_model(other)
    assert llm.model is other and llm.dtype == "float32"
    reference = TransformersLLM(other, llm.tokenizer, "ref", prefix_reuse=False)
    after = llm.generate(request, greedy)[0].completion_token_ids
    assert after == reference.generate(request, greedy)[0].completion_token_ids
    assert after != before  # negated weights: another model (a random 49K-vocabulary Llama)
