"""Answer grounding (memagent.hygiene.ground): an answer names only what the memory or question
holds; through the job, the final step records what was dropped."""

from __future__ import annotations

from memagent.hygiene import ground

MEMORY = "The special magic number for quiet-lake is 4821907.\nThe pin of Ada Novak is 77."


def test_parts_the_memory_holds_stay_byte_for_byte() -> None:
    g = ground("4821907", MEMORY, "What is the special magic number for quiet-lake?")
    assert g.answer == "4821907" and g.dropped == () and g.counts() == {"ungrounded": 0}
    assert ground("4821907, 77", MEMORY, "q").answer == "4821907, 77"
    assert ground("yes", MEMORY, "Is it 77?").answer == "yes"  # a bare yes/no needs no memory
    assert ground("quiet lake", MEMORY, "q").answer == "quiet lake"  # word by word, case-blind


def test_made_up_parts_are_dropped_and_an_answer_with_none_left_is_no_answer() -> None:
    g = ground("4821907, 5550123", MEMORY, "Which numbers?")
    assert g.answer == "4821907" and g.dropped == ("5550123",)
    assert "5550123" in g.counts()["note"] and g.counts()["ungrounded"] == 1
    colours = ground("red, blue; green", "No relevant information yet.", "Which values?")
    assert colours.answer is None and colours.dropped == ("red", "blue", "green")
    assert "no answer" in colours.counts()["note"]
    assert ground("Project Owl", MEMORY, "What is the pin of Project Owl?").answer == "Project Owl"
    assert ground(None, MEMORY, "q").answer is None and ground("", MEMORY, "q").dropped == ()


def test_the_job_grounds_the_final_answer_and_records_it(tokenizer) -> None:
    from dataclasses import replace

    from memagent.config import AgentConfig, Budgets
    from memagent.loop.agent import MemAgent
    from memagent.profile import EMBEDDED
    from memagent.testing import ScriptedLLM

    templates = EMBEDDED.templates
    llm = ScriptedLLM(["KEEP", "\\boxed{crimson, 4821907}"], tokenizer)
    budgets = Budgets(window=2048, query=256, chunk=512, memory=192, output=128)
    agent = MemAgent(llm, AgentConfig(budgets=budgets, templates=templates))
    result = agent.ask("Some text that holds 4821907 and nothing else.", "Which number?")
    assert result.answer is None  # the memory kept nothing: "crimson" and the number are dropped
    final = result.steps[-1]
    assert final.kind == "final" and final.hygiene["ungrounded"] == 2
    assert "nothing left" in final.hygiene["note"] and result.grounding_note == final.hygiene["note"]
    off = MemAgent(ScriptedLLM(["KEEP", "\\boxed{crimson}"], tokenizer), AgentConfig(
        budgets=budgets, templates=replace(templates, answer_grounding="off")))
    plain = off.ask("Some text.", "Which colour?")
    assert plain.answer == "crimson" and plain.steps[-1].hygiene is None
    assert plain.grounding_note is None

    # serve's chat reply says there is no answer instead of the model's made-up one
    from types import SimpleNamespace

    from memagent.serve.app import NO_ANSWER, _outcome

    task = SimpleNamespace(error=None, outcomes=[SimpleNamespace(error=None, result=result)])
    text, _usage, extra = _outcome(SimpleNamespace(backend="local"), task, 0.0)
    assert text == NO_ANSWER and extra["raw_answer"] == "\\boxed{crimson, 4821907}"
    assert "crimson" in extra["answer_grounding"]
    task.outcomes[0].result = plain
    text, _usage, extra = _outcome(SimpleNamespace(backend="local"), task, 0.0)
    assert text == "crimson" and "answer_grounding" not in extra


def test_an_unclosed_box_is_markup_not_a_made_up_word() -> None:
    """A reply cut before its closing brace leaves `\\boxed{` in the extracted answer."""
    g = ground("\\boxed{4821907, 18, 19", MEMORY, "Which numbers?")
    assert g.answer == "\\boxed{4821907" and g.dropped == ("18", "19")
