"""The loop on the real embedded model (slow): budgets, determinism, resume."""

import pytest

from memagent.config import AgentConfig, Budgets
from memagent.loop.agent import MemAgent
from memagent.loop.trace import open_trace, read_trace, run_identity

pytestmark = pytest.mark.slow

CFG = AgentConfig(budgets=Budgets(chunk=96, memory=24, output=16))
DOC = (
    "The grass is green. The sky is blue. " * 12
    + "The secret code is 4821937. "
    + "Here we go. There and back again. " * 12
)
Q = "What is the secret code?"


class KillAfter:
    """Wraps a real backend and raises KeyboardInterrupt after n generate calls (a kill)."""

    def __init__(self, llm, n):
        self.llm, self.n, self.name, self.tokenizer = llm, n, llm.name, llm.tokenizer
        self.scheduling, self.max_concurrency, self.dtype = "rounds", None, llm.dtype

    def resolve_model(self):
        return self.llm.resolve_model()

    def cancel_pending(self):
        self.llm.cancel_pending()

    def generate(self, requests, sampling):
        if self.n == 0:
            raise KeyboardInterrupt
        self.n -= 1
        return self.llm.generate(requests, sampling)


def traced(llm, path, resume):
    agent = MemAgent(llm, CFG)
    writer, state, _ = open_trace(path, run_identity(Q, CFG, agent.budgets, llm.name), resume)
    try:
        return agent.ask(DOC, Q, resume=state, on_step=writer)
    finally:
        writer.close()


def test_real_model_fits_window_and_resumes_to_the_same_answer(embedded_llm, tmp_path):
    full = traced(embedded_llm, tmp_path / "full.jsonl", False)
    assert full.chunks >= 3
    for step in full.steps:  # counted by the backend from the ids it actually fed the model
        limit = CFG.budgets.memory if step.kind == "memory" else CFG.budgets.output
        assert step.prompt_tokens + limit <= CFG.budgets.window
        assert step.memory_tokens <= CFG.budgets.memory
    path = tmp_path / "killed.jsonl"
    with pytest.raises(KeyboardInterrupt):
        traced(KillAfter(embedded_llm, 2), path, False)
    assert len(read_trace(path)[1]) == 2
    resumed = traced(embedded_llm, path, True)
    assert resumed.answer == full.answer  # greedy decoding: same memories, same answer
    assert [s.memory for s in resumed.steps] == [s.memory for s in full.steps]


def test_memagent_through_a_real_openai_server(openai_server, tokenizer):
    from memagent.llm.openai_compat import OpenAICompatLLM

    llm = OpenAICompatLLM(openai_server.base_url, model=openai_server.model, tokenizer=tokenizer)
    llm.tokenizer = tokenizer
    result = MemAgent(llm, AgentConfig(budgets=Budgets(chunk=256, memory=16, output=12))).ask(
        DOC, Q
    )
    assert result.usage.requests == result.chunks + 1 >= 1
    assert all(s.completion_tokens <= 16 for s in result.steps)
