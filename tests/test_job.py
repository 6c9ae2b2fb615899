"""`memagent.loop.job`: one document and question as a state machine, and its question check."""

import pytest

from memagent.config import AgentConfig, Budgets
from memagent.errors import BudgetError, InputError
from memagent.loop.agent import MemAgent
from memagent.loop.job import Phase, check_question
from scripted import ScriptedLLM

SMALL = AgentConfig(budgets=Budgets(chunk=64, memory=48, output=32))
DOC = "\n".join(["One of the special magic numbers for tasty-apple is: 1111111."]
                + ["The grass is green. The sky is blue."] * 12)


def test_job_is_a_state_machine(tokenizer):
    llm = ScriptedLLM(tokenizer)
    job = MemAgent(llm, SMALL).job(DOC, "Magic?")
    assert job.phase is Phase.READING
    req = job.next_request()
    assert job.next_request() is req  # same pending request until consumed
    job.consume(llm.generate([req], SMALL.sampling)[0])
    while not job.done:
        job.consume(llm.generate([job.next_request()], SMALL.sampling)[0])
    assert job.phase is Phase.DONE and job.next_request() is None
    assert job.result().answer == "1111111"


def test_the_question_is_checked_once_the_same_way_for_job_and_ask(tokenizer):
    """Job's check is `check_question`; ask runs it on every question before the model loads,
    naming which one of several is over."""
    n = len(tokenizer.encode("why " * 20))
    assert check_question("why " * 20, tokenizer, n) == n
    with pytest.raises(BudgetError, match=rf"^question 2 of 3 is {n} tokens, over the query budget of 8 "):
        check_question("why " * 20, tokenizer, 8, "question 2 of 3")
    agent = MemAgent(ScriptedLLM(tokenizer), AgentConfig(budgets=Budgets(query=8, chunk=64)))
    with pytest.raises(BudgetError, match=rf"^the question is {n} tokens, over the query budget of 8 "):
        agent.job(DOC, "why " * 20)
    with pytest.raises(InputError, match="question is empty"):
        agent.job(DOC, " ")
