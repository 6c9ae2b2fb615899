import pytest

from memagent.config import PAPER_CHUNK, AgentConfig, Budgets
from memagent.errors import BudgetError
from memagent.loop.agent import MemAgent
from memagent.prompts import PromptTemplates
from scripted import ScriptedLLM


def _text_of(tokenizer, tokens: int, word: str = "why") -> str:
    """A text of exactly `tokens` tokens (one per repeated word)."""
    text = " ".join([word] * tokens)
    assert len(tokenizer.encode(text)) == tokens
    return text


def test_paper_defaults_fit_the_release_window(tokenizer):
    """The worst case the paper's budgets allow, built as real prompts and counted by the real
    tokenizer (not by resolve()'s own arithmetic): the longest question, a memory at its budget
    and a full 5000-token chunk, plus the longest generation, fit the release's 8192 + 1024
    window; so does the final step."""
    from memagent.chunking import iter_chunks

    templates = PromptTemplates()
    b = Budgets().resolve(tokenizer, templates)
    assert (b.window, b.query, b.memory, b.output) == (9216, 1024, 1024, 1024)
    assert b.chunk == PAPER_CHUNK
    question, memory = _text_of(tokenizer, b.query), _text_of(tokenizer, b.memory, "note")
    doc = "The magic number is 1234567. Some text { with } braces.\n" * (b.chunk // 4)
    chunk = next(iter_chunks([doc], tokenizer, b.chunk))
    assert chunk.n_tokens == b.chunk
    update = tokenizer.chat_token_count(templates.memory_update_messages(question, memory, chunk.text))
    assert update + b.memory <= b.window
    final = tokenizer.chat_token_count(templates.final_answer_messages(question, memory))
    assert final + b.output <= b.window


def test_budgets_that_cannot_fit_name_the_fix(tokenizer):
    with pytest.raises(BudgetError, match="lower --chunk"):
        Budgets(chunk=7000).resolve(tokenizer, PromptTemplates())
    with pytest.raises(BudgetError, match="no room for a chunk"):
        Budgets(window=2000).resolve(tokenizer, PromptTemplates())
    with pytest.raises(BudgetError, match="must be >= 1"):
        Budgets(memory=0)


def test_every_request_fits_the_window_with_the_real_tokenizer(tokenizer):
    """Worst case: long question, memories padded past their budget, full chunks."""
    budgets = Budgets(window=1200, query=64, memory=100, output=50)
    llm = ScriptedLLM(tokenizer, pad_memory_to=500)
    agent = MemAgent(llm, AgentConfig(budgets=budgets))
    question = " ".join(["why"] * 60)
    assert len(tokenizer.encode(question)) <= 64
    doc = "The magic number is 1234567. Some text { with } braces.\n" * 200
    result = agent.ask(doc, question)
    assert result.chunks > 3
    for req in llm.requests:
        assert tokenizer.chat_token_count(req.messages) + req.max_tokens <= budgets.window
    assert all(s.memory_tokens <= 100 for s in result.steps)
    assert any(s.memory_cut for s in result.steps)


def test_question_over_budget_is_a_clear_error(tokenizer):
    agent = MemAgent(ScriptedLLM(tokenizer), AgentConfig(budgets=Budgets(query=8)))
    with pytest.raises(BudgetError, match="over the query budget of 8"):
        agent.ask("doc", "a question that is clearly longer than eight tokens in total")
