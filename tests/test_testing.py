"""memagent.testing: the shipped scripted backend and word tokenizer, and its docstring example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import memagent.testing
from memagent import MemAgent
from memagent.errors import BackendError
from memagent.testing import ScriptedLLM, WordTokenizer
from memagent.types import LLM, ChatRequest, SamplingParams

GREEDY = SamplingParams(temperature=0.0)


def _example() -> str:
    doc = memagent.testing.__doc__ or ""
    block = doc.split("::\n", 1)[1].split("\n\n`llm.requests`", 1)[0]
    return "\n".join(line.removeprefix("    ") for line in block.splitlines())


def _doc_example() -> str:
    text = (Path(__file__).resolve().parent.parent / "docs" / "testing.md").read_text()
    return text.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("source", ["docstring", "docs/testing.md"])
def test_the_documented_example_runs_and_its_asserts_hold(source: str) -> None:
    code = _example() if source == "docstring" else _doc_example()
    assert "ScriptedLLM(reply)" in code and "assert result.answer" in code  # the example is read
    namespace: dict[str, object] = {}
    exec(compile(code, f"the example in {source}", "exec"), namespace)
    assert namespace["result"].chunks > 1  # type: ignore[attr-defined]  # the document was cut


def test_the_docs_and_the_docstring_show_the_same_example() -> None:
    assert _doc_example().strip() == _example().strip()


def test_word_tokenizer_round_trips_and_offsets_slice_the_text() -> None:
    tok = WordTokenizer()
    text = "The code is 4417.\n  Next, a line!"
    ids = tok.encode(text)
    assert tok.decode(ids) == text and len(ids) == len(re.findall(r"\w+|[^\w\s]+|\s+", text))
    (batch_ids, offsets), = tok.encode_batch_offsets([text])
    assert batch_ids == ids and "".join(text[a:b] for a, b in offsets) == text
    assert tok.chat_token_count([{"role": "user", "content": text}]) == len(ids) + 5


def test_a_list_script_is_used_in_order_then_runs_out_with_a_backend_error() -> None:
    llm = ScriptedLLM(["one", "two"])
    assert isinstance(llm, LLM)
    request = ChatRequest(({"role": "user", "content": "hi"},), 10)
    assert [c.text for c in llm.generate([request, request], GREEDY)] == ["one", "two"]
    with pytest.raises(BackendError, match="2 replies are used up"):
        llm.generate([request], GREEDY)
    assert llm.calls == 2 and len(llm.requests) == 3


def test_a_reply_over_max_tokens_is_cut_with_finish_length() -> None:
    llm = ScriptedLLM(lambda request: "a b c d e f")
    done = llm.generate([ChatRequest(({"role": "user", "content": "x"},), 3)], GREEDY)[0]
    assert (done.text, done.completion_tokens, done.finish_reason) == ("a b", 3, "length")


def test_memagent_runs_on_it_with_every_request_recorded() -> None:
    replies = iter(["first fact", "first fact", "The answer is \\boxed{7}."])
    llm = ScriptedLLM(lambda request: next(replies))
    agent = MemAgent(llm)
    document = "word " * (agent.budgets.chunk - 5)  # two tokens a word: two chunks
    result = agent.ask(document, "Which number?")
    assert result.chunks == 2 and result.answer == "7" and result.memory == "first fact"
    assert len(llm.requests) == 3 and "Which number?" in llm.requests[-1].messages[-1]["content"]
