"""Memory hygiene on the real embedded agent (slow): the shipped adapter under its profile."""

from dataclasses import replace

import pytest

from memagent.hygiene import repeated_sentences, sentences
from memagent.loop.agent import MemAgent
from memagent.profile import EMBEDDED, agent_config

pytestmark = pytest.mark.slow

NEEDLE = "One of the special magic numbers for quiet-harbor is: 5830174."
FILLER = ("The committee met again on Tuesday to review the budget. "
          "Nobody could agree on the colour of the new fence. ")
DOC = FILLER * 20 + NEEDLE + " " + FILLER * 20 + NEEDLE + " " + FILLER * 10
Q = "What is the special magic number for quiet-harbor mentioned in the provided text?"


@pytest.fixture(scope="module")
def agent_llm():
    from memagent.llm import BackendOptions, load_llm

    return load_llm(BackendOptions(dtype="float32"))  # the shipped adapter, merged (cached)


def _ask(llm, hygiene):
    config = agent_config(EMBEDDED, EMBEDDED.budgets(chunk=256))
    config = replace(config, templates=replace(config.templates, hygiene=hygiene))
    return MemAgent(llm, config).ask(DOC, Q)


def test_real_agent_memories_are_clean_and_counted(agent_llm):
    on = _ask(agent_llm, "extractive")
    steps = [s for s in on.steps if s.kind == "memory"]
    assert len(steps) >= 3
    chunks = DOC  # every chunk is a piece of the document
    for s in steps:
        assert s.hygiene is not None and set(s.hygiene) >= {"repeats", "unsupported", "rejected"}
        assert repeated_sentences(s.memory) == []
        for sentence in sentences(s.memory.replace(EMBEDDED.templates.empty_memory, "")):
            assert "".join(sentence.split()) in "".join(chunks.split()), sentence
    # hygiene off runs the same prompts up to the first step where hygiene changed a reply
    off = _ask(agent_llm, "off")
    first = next((i for i, s in enumerate(steps) if s.hygiene and (s.hygiene["repeats"]
                  or s.hygiene["unsupported"])), len(steps))
    off_steps = [s for s in off.steps if s.kind == "memory"]
    assert [s.memory for s in off_steps[:first]] == [s.memory for s in steps[:first]]
    assert all(s.hygiene is None for s in off_steps)
    assert "ungrounded" in off.steps[-1].hygiene  # answer grounding is the profile's, not hygiene's
