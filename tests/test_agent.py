import pytest

from memagent.answer import AnswerRule
from memagent.config import AgentConfig, Budgets
from memagent.errors import InputError
from memagent.loop.agent import MemAgent
from scripted import ScriptedLLM

SMALL = AgentConfig(budgets=Budgets(chunk=64, memory=48, output=32))


def needle_doc(number: str, at: int = 30, lines: int = 60, chunk: int = 64) -> str:
    """Noise lines with one needle, moved down until no chunk boundary splits the needle line
    (the scripted backend reads line by line; a real model would see the split)."""
    from memagent.chunking import iter_chunks
    from memagent.llm.hf_tokenizer import load_tokenizer
    from memagent.llm.registry import resolve_model

    tokenizer = load_tokenizer(str(resolve_model(None)))
    needle = f"One of the special magic numbers for tasty-apple is: {number}."
    for shift in range(lines + 1):
        rows = ["The grass is green. The sky is blue."] * lines
        rows.insert((at + shift) % (lines + 1), needle)
        doc = "\n".join(rows)
        if any(needle in c.text for c in iter_chunks([doc], tokenizer, chunk)):
            return doc
    raise AssertionError("every needle position straddles a chunk boundary")


def test_loop_overwrites_memory_and_answers_from_memory_alone(tokenizer):
    llm = ScriptedLLM(tokenizer)
    result = MemAgent(llm, SMALL).ask(needle_doc("4821937"), "What is the magic number?")
    assert result.answer == "4821937" and result.rule is AnswerRule.BOXED
    memory_steps = [s for s in result.steps if s.kind == "memory"]
    assert len(memory_steps) == result.chunks >= 5
    assert memory_steps[0].memory == "nothing yet"  # first chunk has no needle: memory overwritten
    assert "4821937" in memory_steps[-1].memory
    final_prompt = llm.requests[-1].messages[-1]["content"]
    assert "<section>" not in final_prompt and "4821937" in final_prompt
    assert result.usage.requests == result.chunks + 1
    assert result.usage.prompt_tokens == sum(s.prompt_tokens for s in result.steps)
    assert result.document_tokens == sum(s.chunk_tokens for s in memory_steps)


def test_ask_many_batches_each_round_and_matches_single_asks(tokenizer):
    docs = [needle_doc(str(1000000 + i), at=5 * i, lines=20 + 15 * i) for i in range(4)]
    pairs = [(d, "What is the magic number?") for d in docs]
    single = [MemAgent(ScriptedLLM(tokenizer), SMALL).ask(d, q).answer for d, q in pairs]
    llm = ScriptedLLM(tokenizer)
    batched = MemAgent(llm, SMALL).ask_many(pairs)
    assert [r.answer for r in batched] == single == [str(1000000 + i) for i in range(4)]
    longest = max(r.usage.requests for r in batched)
    assert llm.calls == longest  # one backend call per round, not per request


def test_max_active_refills_slots_as_jobs_finish(tokenizer):
    docs = [needle_doc("7654321", lines=10 + 30 * (i % 2)) for i in range(6)]
    llm = ScriptedLLM(tokenizer)
    results = MemAgent(llm, SMALL).ask_many([(d, "Magic number?") for d in docs], max_active=2)
    assert all(r.answer == "7654321" for r in results)
    total = sum(r.usage.requests for r in results)
    assert total / 2 <= llm.calls < total  # two requests per call while two jobs are active


def test_empty_document_and_question_are_clear_errors(tokenizer):
    agent = MemAgent(ScriptedLLM(tokenizer), SMALL)
    with pytest.raises(InputError, match="document is empty"):
        agent.ask("", "q?")
    with pytest.raises(InputError, match="question is empty"):
        agent.ask("text", "  ")
