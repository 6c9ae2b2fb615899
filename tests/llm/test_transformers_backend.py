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
