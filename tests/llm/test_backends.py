"""The backend contract (`memagent.types.LLM`), checked the same way on every backend that runs here:
the scripted test backend, transformers on a tiny random Llama (torch and the int8 engine), the
OpenAI-compatible client against a rule-following HTTP server on 127.0.0.1 (and, under `-m slow`,
against a real `transformers serve`), and the vLLM backend over a fake of the slice of vLLM's
interface it uses.

Every check holds for any backend; `rules` marks backends that answer by the scripted rules, so the
needle's number must come back, and `bounded` those that stop at a request's max_tokens (the
rule-following server ignores it, as some real servers do: the job cuts such replies itself).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from memagent.config import AgentConfig, Budgets
from memagent.loop.agent import MemAgent
from memagent.loop.scheduler import run_jobs, scheduling_mode
from memagent.types import LLM, ChatRequest, Completion, SamplingParams, Tokenizer
from scripted import ScriptedLLM
from test_agent import needle_doc

CFG = AgentConfig(budgets=Budgets(chunk=64, memory=48, output=32))
Q = "What is the magic number?"
GREEDY = SamplingParams()


@dataclass
class Backend:
    llm: Any
    rules: bool  # answers by the scripted rules: the needle must be found
    bounded: bool  # never generates more than a request's max_tokens


def fake_vllm(tokenizer: Tokenizer) -> types.ModuleType:
    """`vllm.LLM(model=..., ...).chat(conversations, sampling_params=[...], use_tqdm=False)` and
    `vllm.SamplingParams(**kw)`, answering by the scripted rules with RequestOutput-shaped objects
    (prompt and completion token ids, per-position {token_id: Logprob} when log-probs are asked)."""
    module = types.ModuleType("vllm")

    class Engine:
        def __init__(self, model: str, **kwargs: Any) -> None:
            self.model, self.kwargs = model, kwargs
            self.rules = ScriptedLLM(tokenizer)

        def chat(self, conversations: list[list[dict[str, str]]], sampling_params: list[Any],
                 use_tqdm: bool = True) -> list[Any]:
            outputs = []
            for i, (conv, params) in enumerate(zip(conversations, sampling_params, strict=True)):
                request = ChatRequest(tuple(conv), params.max_tokens)
                c = self.rules.generate([request], GREEDY)[0]
                ids = tokenizer.encode(c.text)[: params.max_tokens]
                logprobs = None
                if getattr(params, "logprobs", None) is not None:
                    logprobs = [{t: SimpleNamespace(logprob=-0.5)} for t in ids]
                sample = SimpleNamespace(text=c.text, token_ids=ids, logprobs=logprobs,
                                         finish_reason=c.finish_reason)
                outputs.append(SimpleNamespace(request_id=str(i), outputs=[sample],
                                               prompt_token_ids=list(range(c.prompt_tokens))))
            return outputs

    module.LLM = Engine  # type: ignore[attr-defined]
    module.SamplingParams = lambda **kw: SimpleNamespace(**kw)  # type: ignore[attr-defined]
    return module


def _scripted(tokenizer: Tokenizer, tmp_path: Any, request: Any) -> Iterator[Backend]:
    yield Backend(ScriptedLLM(tokenizer), rules=True, bounded=True)


def _transformers(tokenizer: Tokenizer, tmp_path: Any, request: Any) -> Iterator[Backend]:
    pytest.importorskip("torch")
    from memagent.llm.transformers_backend import TransformersLLM

    path = request.getfixturevalue("tiny_llama_dir")
    yield Backend(TransformersLLM.load(path, device="cpu", dtype="float32"), False, True)


def _int8(tokenizer: Tokenizer, tmp_path: Any, request: Any) -> Iterator[Backend]:
    pytest.importorskip("torch")
    from memagent.llm.int8 import quantize_int8
    from memagent.llm.transformers_backend import TransformersLLM

    path = request.getfixturevalue("tiny_llama_dir")
    llm = quantize_int8(TransformersLLM.load(path, device="cpu", dtype="float32"))
    yield Backend(llm, rules=False, bounded=True)


def _openai_rules(tokenizer: Tokenizer, tmp_path: Any, request: Any) -> Iterator[Backend]:
    from fault_server import FaultServer
    from memagent.llm.openai_compat import OpenAICompatLLM

    server = FaultServer()
    llm = OpenAICompatLLM(server.url, tokenizer=tokenizer, max_concurrency=3)
    try:
        yield Backend(llm, rules=True, bounded=False)
    finally:
        llm.close()
        server.close()


def _openai_real(tokenizer: Tokenizer, tmp_path: Any, request: Any) -> Iterator[Backend]:
    from memagent.llm.openai_compat import OpenAICompatLLM

    info = request.getfixturevalue("openai_server")
    llm = OpenAICompatLLM(info.base_url, tokenizer=tokenizer, timeout=300, max_retries=1)
    try:
        yield Backend(llm, rules=False, bounded=True)
    finally:
        llm.close()


def _vllm_fake(tokenizer: Tokenizer, tmp_path: Any, request: Any) -> Iterator[Backend]:
    from memagent.llm.vllm_backend import VLLMOfflineLLM

    mp = request.getfixturevalue("monkeypatch")
    mp.setitem(sys.modules, "vllm", fake_vllm(tokenizer))
    yield Backend(VLLMOfflineLLM("fake-model", tokenizer=tokenizer), rules=True, bounded=True)


MAKERS: dict[str, Callable[..., Iterator[Backend]]] = {
    "scripted": _scripted,
    "transformers-tiny-llama": _transformers,
    "transformers-int8-tiny-llama": _int8,
    "openai-rule-server": _openai_rules,
    "vllm-fake-engine": _vllm_fake,
    "openai-transformers-serve": _openai_real,
}
PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n == "openai-transformers-serve" else n
          for n in MAKERS]


@pytest.fixture(params=PARAMS)
def backend(request: Any, tokenizer: Tokenizer, tmp_path: Any) -> Iterator[Backend]:
    yield from MAKERS[request.param](tokenizer, tmp_path, request)


def _requests(llm: LLM, n: int, max_tokens: int | None = None) -> list[ChatRequest]:
    """The first memory-update requests of n jobs (different questions), as the loop makes them."""
    agent = MemAgent(llm, CFG)
    requests = []
    for i in range(n):
        r = agent.job(needle_doc("4821937"), f"What is the magic number {i}?").next_request()
        assert r is not None
        requests.append(r if max_tokens is None else ChatRequest(r.messages, max_tokens))
    return requests


def test_declares_the_whole_contract(backend: Backend) -> None:
    llm = backend.llm
    assert isinstance(llm, LLM)
    assert isinstance(llm.name, str) and llm.name
    assert isinstance(llm.tokenizer, Tokenizer)  # set at construction: MemAgent needs no other
    assert llm.scheduling in ("rounds", "continuous") and scheduling_mode(llm) == llm.scheduling
    assert llm.max_concurrency is None or llm.max_concurrency >= 1
    assert isinstance(llm.dtype, str) and llm.dtype
    assert isinstance(llm.resolve_model(), str) and llm.name
    llm.cancel_pending()  # nothing in flight: a no-op, and the backend still works after it
    assert len(llm.generate(_requests(llm, 1), GREEDY)) == 1


def test_one_completion_per_request_in_order(backend: Backend) -> None:
    llm = backend.llm
    a, b = _requests(llm, 2, max_tokens=8)
    out = llm.generate([a, b, a], GREEDY)
    assert len(out) == 3 and all(isinstance(c, Completion) for c in out)
    assert out[0].text == out[2].text  # greedy: the same request, the same reply, in its place
    for c in out:
        assert c.finish_reason in ("stop", "length")
        assert c.prompt_tokens > 0 and c.completion_tokens >= 0 and c.seconds >= 0
        if c.completion_token_ids is not None:
            assert len(c.completion_token_ids) == c.completion_tokens
        if backend.bounded:
            assert c.completion_tokens <= 8


def test_log_probs_when_asked_match_the_tokens(backend: Backend) -> None:
    llm = backend.llm
    (r,) = _requests(llm, 1, max_tokens=6)
    (c,) = llm.generate([ChatRequest(r.messages, 6, want_logprobs=True)], GREEDY)
    if c.logprobs is not None:  # a backend that can (local models, vLLM) returns one per token
        assert c.completion_token_ids is not None
        assert len(c.logprobs) == len(c.completion_token_ids) == c.completion_tokens


@pytest.mark.parametrize("mode", ["rounds", "continuous"])
def test_drives_the_memagent_loop(backend: Backend, mode: Any) -> None:
    llm = backend.llm
    agent = MemAgent(llm, CFG)
    doc = needle_doc("4821937", at=4, lines=12)
    questions = [Q, "Which magic number is it?"][: 2 if backend.rules else 1]  # slow models: 1
    jobs = [agent.job(doc, q) for q in questions]
    run_jobs(llm, jobs, GREEDY, mode=mode, max_active=2)
    for job in jobs:
        result = job.result()
        assert [s.kind for s in result.steps] == ["memory"] * result.chunks + ["final"]
        assert result.usage.requests == result.chunks + 1 >= 2
        if backend.rules:
            assert result.answer == "4821937"


def test_load_llm_gives_vllm_its_tokenizer(monkeypatch: pytest.MonkeyPatch,
                                           tokenizer: Tokenizer) -> None:
    """The vLLM backend once came without a tokenizer, so MemAgent refused it."""
    from memagent.llm import load_llm

    monkeypatch.setitem(sys.modules, "vllm", fake_vllm(tokenizer))
    llm = load_llm(backend="vllm")
    assert isinstance(llm.tokenizer, Tokenizer)
    assert MemAgent(llm, CFG).ask(needle_doc("4821937"), Q).answer == "4821937"


