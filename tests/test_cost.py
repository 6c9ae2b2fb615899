"""The cost model (`memagent.cost`): its bound holds on real runs, it grows linearly in the
document's length, and MemAgent's attention work falls against full context as documents grow."""

from __future__ import annotations

import itertools

import pytest

from memagent.config import AgentConfig, Budgets
from memagent.cost import CostReport, cost_report, memagent_input_bound
from memagent.loop.agent import MemAgent
from memagent.prompts import PromptTemplates
from memagent.types import Usage
from scripted import ScriptedLLM
from test_agent import needle_doc

SMALL = AgentConfig(budgets=Budgets(chunk=64, memory=48, output=32))


@pytest.mark.parametrize("lines", [10, 60, 200])
def test_the_bound_holds_on_a_run_and_counts_what_was_sent(tokenizer, lines):
    """A run's prompt tokens stay under the model's bound, and the report counts the run itself:
    its chunks, the prompt and completion tokens sent, the document's tokens."""
    agent = MemAgent(ScriptedLLM(tokenizer, pad_memory_to=100), SMALL)
    result = agent.ask(needle_doc("4821937", at=lines // 2, lines=lines), "What is the magic number?")
    cost = result.cost
    assert cost.chunks == result.chunks >= 1
    assert cost.document_tokens == sum(s.chunk_tokens for s in result.steps)
    assert cost.tokens_read == result.usage.prompt_tokens <= cost.model_input_bound
    assert cost.tokens_written == result.usage.completion_tokens
    assert cost.full_context_input > cost.document_tokens


def test_memagent_input_grows_linearly_in_the_document(tokenizer):
    b = Budgets(chunk=64, memory=48, output=32).resolve(tokenizer, PromptTemplates())
    bounds = [memagent_input_bound(k * b.chunk, b) for k in range(1, 9)]
    steps = {later - earlier for earlier, later in itertools.pairwise(bounds)}
    assert len(steps) == 1 and steps.pop() > b.chunk  # the same cost for every further chunk
    # a partial chunk costs a whole step; a document within one chunk, one step and the answer
    assert memagent_input_bound(b.chunk + 1, b) == bounds[1]
    assert memagent_input_bound(1, b) == bounds[0]


def test_attention_work_against_full_context_falls_as_one_over_length(tokenizer):
    """MemAgent's attention work is linear in N and full attention's quadratic: doubling a long
    document about halves their ratio; a short document costs MemAgent more than full context."""
    b = Budgets().resolve(tokenizer, PromptTemplates())
    ratio = {n: cost_report(n, b, Usage()).attention_ratio for n in (2**17, 2**18, 2**19, 2**20)}
    for n in (2**17, 2**18, 2**19):
        assert ratio[2 * n] / ratio[n] == pytest.approx(0.5, rel=0.1)
    assert ratio[2**20] < 0.02  # a 1M-token document: under 2% of full attention's work
    assert cost_report(b.chunk, b, Usage()).attention_ratio > 1  # one chunk: the loop is overhead


def test_an_empty_document_has_no_chunks_and_the_report_round_trips(tokenizer):
    b = Budgets(chunk=64, memory=48, output=32).resolve(tokenizer, PromptTemplates())
    empty = cost_report(0, b, Usage())
    assert empty.chunks == 0 and empty.document_tokens == 0
    report = cost_report(1000, b, Usage(requests=17, prompt_tokens=5000, completion_tokens=300))
    assert CostReport(**report.to_json()) == report
    summary = report.summary()
    assert "1,000 tokens in 16 chunks" in summary and "5,000 prompt tokens" in summary


def test_cached_prompt_tokens_are_summed_and_reported(tokenizer):
    """Prompt tokens a backend served from its prefix cache add up per run and the summary says
    how many were computed per 1K document tokens; none cached, the summary is as before."""
    from memagent.types import Completion

    usage = Usage()
    for cached in (0, 80, 95):
        usage.add(Completion("KEEP", 700, 3, cached_tokens=cached))
    other = Usage()
    other.add(Completion("x", 100, 1, cached_tokens=25))
    usage.merge(other)
    assert usage.cached_tokens == 200 and usage.prompt_tokens == 2200
    b = Budgets(chunk=64, memory=48, output=32).resolve(tokenizer, PromptTemplates())
    report = cost_report(1000, b, usage)
    assert CostReport(**report.to_json()) == report
    assert "200 from the prefix cache: 2000 computed per 1K" in report.summary()
    assert "prefix cache" not in cost_report(1000, b, Usage(prompt_tokens=5)).summary()
