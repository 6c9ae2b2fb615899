"""The embedded agent behind `memagent serve`: a chat completion's answer is `ask`'s (slow)."""

from __future__ import annotations

import pytest
from serve_helpers import start

openai = pytest.importorskip("openai")


@pytest.mark.slow
def test_the_served_embedded_agent_answers_as_ask(embedded_llm, tmp_path):
    from memagent.llm import BackendOptions
    from memagent.llm.setup import resolve_setup
    from memagent.loop.agent import MemAgent
    from memagent.serve.service import ServeSettings, Service

    config = resolve_setup(BackendOptions(), window=1400, chunk=256).config  # the embedded profile
    filler = "The harbour keeper counted three boats in the morning. " * 100
    document = filler + "The special magic number for gold-river is 4815162. " + filler
    q = "What is the special magic number for gold-river?"
    expected = MemAgent(embedded_llm, config).ask(document, q)
    url, stop = start(Service(MemAgent(embedded_llm, config), ServeSettings(tmp_path / "d")))
    try:
        reply = openai.OpenAI(base_url=url + "/v1", api_key="x").chat.completions.create(
            model="memagent", messages=[{"role": "user", "content": document},
                                        {"role": "user", "content": q}])
    finally:
        stop()
    assert reply.model_extra["memagent"]["path"] == "memory"
    assert reply.model_extra["memagent"]["chunks"] == expected.chunks >= 2
    assert reply.choices[0].message.content == (expected.answer if expected.answer is not None
                                                else expected.raw_answer)
    assert reply.usage.prompt_tokens == expected.usage.prompt_tokens
    # the job's prompts share the instruction and question: the client sees what was cached
    assert 0 < reply.usage.prompt_tokens_details.cached_tokens < reply.usage.prompt_tokens
