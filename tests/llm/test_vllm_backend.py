"""vLLM offline backend: the missing-extra error and the pure conversion helpers (no GPU needed).

The helpers are fed plain objects shaped like vLLM's `RequestOutput`/`CompletionOutput`/`Logprob`;
the real engine is not run here (it needs a GPU and vLLM installed).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from types import SimpleNamespace

import pytest

from memagent.errors import BackendError
from memagent.llm.vllm_backend import (
    INSTALL_HINT,
    VLLMOfflineLLM,
    chosen_logprobs,
    completion_from_output,
    sampling_kwargs,
)
from memagent.types import ChatRequest, SamplingParams


def ask(max_tokens: int = 16, logprobs: bool = False) -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": "hi"},), max_tokens=max_tokens,
                       want_logprobs=logprobs)


def fake_output(ids: list[int], finish: str | None, logprobs: object = None) -> SimpleNamespace:
    sample = SimpleNamespace(text="out", token_ids=tuple(ids), finish_reason=finish,
                             logprobs=logprobs)
    return SimpleNamespace(request_id="0", prompt_token_ids=[1, 2, 3], outputs=[sample])


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_missing_vllm_gives_install_hint() -> None:
    with pytest.raises(BackendError, match=r"pip install 'memagent\[vllm\]' \(GPU only\)"):
        VLLMOfflineLLM("any-model")


def test_missing_vllm_hint_even_where_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(BackendError) as info:
        VLLMOfflineLLM("any-model")
    assert str(info.value) == INSTALL_HINT


def test_sampling_kwargs() -> None:
    plain = sampling_kwargs(ask(7), SamplingParams(temperature=0.0))
    assert plain == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 7, "n": 1}
    rl_sampling = SamplingParams(temperature=1.0, top_p=0.9, seed=5)
    rl = sampling_kwargs(replace(ask(9, logprobs=True), seed=8), rl_sampling)  # the request's
    assert rl == {"temperature": 1.0, "top_p": 0.9, "max_tokens": 9, "n": 1, "seed": 8,
                  "logprobs": 0}


def test_chosen_logprobs_picks_the_sampled_token() -> None:
    lp = SimpleNamespace
    per_position = [{5: lp(logprob=-0.25), 9: lp(logprob=-3.0)}, {6: lp(logprob=-1.5)}]
    assert chosen_logprobs([5, 6], per_position) == [-0.25, -1.5]
    with pytest.raises(BackendError, match="fewer log-probs"):
        chosen_logprobs([5, 6, 7], per_position)
    with pytest.raises(BackendError):
        chosen_logprobs([5], None)


def test_completion_from_output() -> None:
    lp = SimpleNamespace
    out = fake_output([5, 6], "length", [{5: lp(logprob=-0.5)}, {6: lp(logprob=-0.75)}])
    c = completion_from_output(out, seconds=0.5, want_logprobs=True)
    assert (c.text, c.prompt_tokens, c.completion_tokens) == ("out", 3, 2)
    assert c.finish_reason == "length"
    assert c.prompt_token_ids == [1, 2, 3] and c.completion_token_ids == [5, 6]
    assert c.logprobs == [-0.5, -0.75] and c.seconds == 0.5
    plain = completion_from_output(fake_output([5], "stop"), seconds=0.1, want_logprobs=False)
    assert plain.logprobs is None and plain.finish_reason == "stop"
    assert completion_from_output(fake_output([], None), 0.0, False).finish_reason == "stop"


def test_completion_from_empty_output_is_backend_error() -> None:
    out = SimpleNamespace(request_id="7", prompt_token_ids=[1], outputs=[])
    with pytest.raises(BackendError, match="no output for request 7"):
        completion_from_output(out, 0.0, False)
