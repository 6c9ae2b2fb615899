"""Fast paths: the continuous-batching scheduler (scripted backend) and prefix-KV reuse (real and
tiny random models): same results as the plain paths."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from memagent.config import AgentConfig, Budgets
from memagent.loop.agent import MemAgent
from memagent.loop.scheduler import run_jobs, scheduling_mode
from memagent.types import ChatRequest, Completion, SamplingParams
from scripted import ScriptedLLM
from test_agent import needle_doc

SMALL = AgentConfig(budgets=Budgets(chunk=64, memory=48, output=32))


class ConcurrentScripted(ScriptedLLM):
    """Asks for continuous scheduling, sleeps per request, records concurrency and seeds."""

    def __init__(self, tokenizer, delay: float = 0.01, fail_on: str | None = None):
        super().__init__(tokenizer, scheduling="continuous")
        self.delay = delay
        self.fail_on = fail_on
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.batch_sizes: list[int] = []
        self.seeds: list[int | None] = []
        self.first_prompt_of: list[str] = []  # question of each request, in submission order

    def generate(
        self, requests: Sequence[ChatRequest], sampling: SamplingParams
    ) -> list[Completion]:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.batch_sizes.append(len(requests))
            self.seeds.append(sampling.seed)
            self.first_prompt_of.append(requests[0].messages[-1]["content"])
        try:
            if self.fail_on and self.fail_on in requests[0].messages[-1]["content"]:
                raise RuntimeError("backend exploded")
            time.sleep(self.delay)
            return super().generate(requests, sampling)
        finally:
            with self.lock:
                self.in_flight -= 1


def _pairs(n: int) -> list[tuple[str, str]]:
    # Documents of different lengths, so jobs finish at different times.
    return [(needle_doc(str(2000000 + i), at=3 * i, lines=10 + 12 * i), f"Magic number {i}?")
            for i in range(n)]


def test_continuous_matches_rounds_in_order(tokenizer):
    pairs = _pairs(5)
    rounds = MemAgent(ScriptedLLM(tokenizer), SMALL).ask_many(pairs)
    llm = ConcurrentScripted(tokenizer)
    continuous = MemAgent(llm, SMALL).ask_many(pairs, max_active=3)
    assert [r.answer for r in continuous] == [r.answer for r in rounds]
    assert [r.answer for r in continuous] == [str(2000000 + i) for i in range(5)]
    assert [r.question for r in continuous] == [q for _, q in pairs]
    assert [len(r.steps) for r in continuous] == [len(r.steps) for r in rounds]
    assert set(llm.batch_sizes) == {1}  # one request per backend call
    assert llm.peak == 3  # bounded by max_active, and the bound is reached


def test_continuous_refills_slots_as_jobs_finish(tokenizer):
    pairs = _pairs(4)  # job 0 is the shortest document
    llm = ConcurrentScripted(tokenizer)
    jobs = [MemAgent(llm, SMALL).job(d, q, tag=i) for i, (d, q) in enumerate(pairs)]
    finished_at: list[int] = []
    run_jobs(llm, jobs, SamplingParams(), max_active=2,
             on_round=lambda n, done: finished_at.append(done))
    assert all(job.done for job in jobs)
    order = [next(q for _, q in pairs if q in p) for p in llm.first_prompt_of]
    first_of_job2 = order.index("Magic number 2?")
    # job 2 starts as soon as job 0 (short) finishes, while job 1 (longer) is still reading
    assert "Magic number 1?" in order[first_of_job2 + 1 :]
    assert order.index("Magic number 3?") > first_of_job2
    assert finished_at[-1] == 4 and finished_at == sorted(finished_at)


@pytest.mark.parametrize("scheduling", ["rounds", "continuous"])
def test_each_job_and_step_samples_with_its_own_seed(tokenizer, scheduling):
    def seeds() -> list[int | None]:
        llm = ScriptedLLM(tokenizer, scheduling=scheduling)
        agent = MemAgent(llm, SMALL.with_sampling(temperature=1.0, seed=7))
        doc, question = _pairs(1)[0]
        agent.run([agent.job(doc, question) for _ in range(3)])  # an RL group: identical prompts
        return sorted(r.seed for r in llm.requests)  # type: ignore[type-var]

    first = seeds()
    assert None not in first and len(set(first)) == len(first)  # the group must not collapse
    assert seeds() == first  # yet reproducible


def test_continuous_raises_backend_errors(tokenizer):
    llm = ConcurrentScripted(tokenizer, fail_on="Magic number 1?")
    with pytest.raises(RuntimeError, match="backend exploded"):
        MemAgent(llm, SMALL).ask_many(_pairs(3))


def test_mode_comes_from_the_backend_or_the_flag(tokenizer):
    from memagent.llm.openai_compat import OpenAICompatLLM

    assert scheduling_mode(ScriptedLLM(tokenizer)) == "rounds"
    assert scheduling_mode(ConcurrentScripted(tokenizer)) == "continuous"
    server = OpenAICompatLLM("http://127.0.0.1:9/v1", model="m")  # constructing sends nothing
    assert scheduling_mode(server) == "continuous"
    server.close()
    llm = ScriptedLLM(tokenizer)  # forced continuous on a rounds backend: still correct
    agent = MemAgent(llm, SMALL)
    jobs = [agent.job(d, q) for d, q in _pairs(2)]
    run_jobs(llm, jobs, SamplingParams(), mode="continuous", max_active=2)
    assert [j.result().answer for j in jobs] == ["2000000", "2000001"]
    with pytest.raises(ValueError, match="mode"):
        run_jobs(llm, jobs, SamplingParams(), mode="bogus")  # type: ignore[arg-type]


# ---- prefix reuse -------------------------------------------------------------------------------

def test_common_prefix_and_plan_reuse_shared_prefixes():
    import numpy as np

    from memagent.llm.prefix_cache import Entry, PrefixStore, common_prefix

    assert common_prefix(np.array([1, 2, 3]), np.array([1, 2, 4])) == 2
    assert common_prefix(np.array([1, 2]), np.array([1, 2, 3])) == 2
    assert common_prefix(np.array([], dtype=np.int64), np.array([1])) == 0

    class NoModelStore(PrefixStore):  # records which prefixes would be computed
        def _add(self, ids):
            entry = Entry(ids.copy(), [])
            self.entries[ids.tobytes()] = entry
            return entry

    store = NoModelStore(model=None, min_tokens=3)
    plan = store.plan([[9, 9, 9, 9, 1], [5, 5, 5, 5, 5]])  # nothing shared: no reuse
    assert plan.lengths == [0, 0]
    plan = store.plan([[1, 2, 3, 4, 5], [1, 2, 3, 4, 6]])  # shared within the batch
    assert plan.lengths == [4, 4] and plan.entries[0] is plan.entries[1]
    plan = store.plan([[1, 2, 3, 7, 7, 7]])  # a stored entry used in part (cropped)
    assert plan.lengths == [3]
    plan = store.plan([[1, 2, 3, 4]])  # at least one token is left for generate
    assert plan.lengths == [3]


def _tiny_llm(tokenizer, prefix_reuse: bool):
    """A random 2-layer Llama over the real tokenizer: exercises the cache plumbing in seconds."""
    import torch

    from memagent.llm.transformers_backend import TransformersLLM
    from rl_helpers import tiny_llama

    torch.manual_seed(0)
    model = tiny_llama(len(tokenizer.hf)).eval()
    return TransformersLLM(model, tokenizer, "tiny", prefix_reuse=prefix_reuse)


def _requests(layout_questions: Sequence[str], memories: Sequence[str]) -> list[ChatRequest]:
    from memagent.prompts import PromptTemplates

    t = PromptTemplates()
    chunks = ["The grass is green. " * 12 + "The magic number is 4821937.", "Nothing here. " * 30]
    return [ChatRequest(t.memory_update_messages(q, m, c), 12)
            for q in layout_questions for m in memories for c in chunks]


def test_prefix_reuse_equals_plain_path_on_a_tiny_model(tokenizer):
    plain, reuse = _tiny_llm(tokenizer, False), _tiny_llm(tokenizer, True)
    reuse.model = plain.model
    assert reuse.prefix is not None
    reuse.prefix.model = plain.model
    requests = _requests(["What is the magic number?", "Who is the mayor?"], ["", "Some memory."])
    greedy = SamplingParams()
    completions = reuse.generate(requests, greedy)
    batched = [c.completion_token_ids for c in completions]
    assert batched == [c.completion_token_ids for c in plain.generate(requests, greedy)]
    assert reuse.prefix.reused_tokens > 0
    # each completion says how much of its prompt came from the cache (OpenAI's cached_tokens)
    assert sum(c.cached_tokens for c in completions) == reuse.prefix.reused_tokens
    assert all(0 <= c.cached_tokens < c.prompt_tokens for c in completions)
    again = [reuse.generate([r], greedy)[0].completion_token_ids for r in requests[:3]]
    assert again == batched[:3]


@pytest.mark.slow
def test_prefix_reuse_gives_identical_greedy_outputs_on_the_real_model(embedded_llm, tokenizer):
    from memagent.llm.prefix_cache import PrefixStore

    embedded_llm.prefix = None
    requests = _requests(["What is the magic number?", "Which color is the grass?"], ["", "Mem."])
    greedy = SamplingParams()
    plain = [c.completion_token_ids for c in embedded_llm.generate(requests, greedy)]
    embedded_llm.prefix = PrefixStore(embedded_llm.model)
    try:
        reused = [c.completion_token_ids for c in embedded_llm.generate(requests, greedy)]
        single = embedded_llm.generate([requests[-1]], greedy)[0].completion_token_ids
        assert embedded_llm.prefix.reused_tokens > 0
    finally:
        embedded_llm.prefix = PrefixStore(embedded_llm.model)
    assert reused == plain
    assert single == plain[-1]


def test_prompt_estimate_from_parts_bounds_the_exact_count(tokenizer):
    """Job._request skips re-tokenizing a chunk when parts + SEAM_SLACK fit: check the bound."""
    from memagent.chunking import iter_chunks
    from memagent.loop.agent import SEAM_SLACK

    agent = MemAgent(ScriptedLLM(tokenizer), AgentConfig(budgets=Budgets(chunk=200)))
    doc = needle_doc("1234567", lines=200) + " trailing  spaces \n\n{braces} <tags> "
    question = "  What is the magic number?  "
    q = len(tokenizer.encode(question))
    for memory in ("", "Some memory.\n", " leading space"):
        m = len(tokenizer.encode(memory)) if memory else 3
        for chunk in iter_chunks([doc], tokenizer, 200):
            messages = agent.config.templates.memory_update_messages(question, memory, chunk.text)
            exact = tokenizer.chat_token_count(messages)
            parts = agent.budgets.update_overhead + q + m + chunk.n_tokens
            assert exact <= parts + SEAM_SLACK
