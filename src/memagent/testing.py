"""Test your own code against memagent without a model: a scripted backend and a word tokenizer.

`ScriptedLLM` is to memagent what httpx's `MockTransport` is to httpx: a real `LLM` backend whose
replies come from your script (a function of each request, or a list of replies in order), so
code built on `MemAgent` (a pipeline, a service, an evaluation) runs in milliseconds, exactly the
same way every time. It is never evidence that a model would answer so: it drives memagent's real
loop (chunking, budgets, memory updates, the final answer and its `\\boxed{}` extraction, traces)
with replies you choose. `WordTokenizer` counts words and punctuation as tokens, so neither needs
a model file; pass a real tokenizer to count as a model would.

Example (run by tests/test_testing.py)::

    from memagent import MemAgent
    from memagent.testing import ScriptedLLM

    def reply(request):
        prompt = request.messages[-1]["content"]
        if "<section>" in prompt:  # a memory update: keep the lines that name the code
            section = prompt.split("<section>")[1].split("</section>")[0]
            return "\\n".join(ln for ln in section.splitlines() if "code" in ln) or "nothing yet"
        return "The code is \\\\boxed{4417}."  # the final answer

    llm = ScriptedLLM(reply)
    document = "Filler text. " * 2000 + "\\nThe code is 4417.\\n"
    result = MemAgent(llm).ask(document, "What is the code?")
    assert result.answer == "4417" and result.memory == "The code is 4417."
    assert len(llm.requests) == result.chunks + 1  # every chunk's update, then the answer

`llm.requests` holds every request in the order it was sent, to assert on what your code asked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from memagent.errors import BackendError
from memagent.types import ChatRequest, Completion, Message, SamplingParams, Scheduling, Tokenizer

Reply = Callable[[ChatRequest], str]

_TOKEN = re.compile(r"\w+|[^\w\s]+|\s+")


class WordTokenizer:
    """A model-free `Tokenizer`: each word, run of punctuation and run of whitespace is a token.

    Ids are given in the order tokens are first seen (per instance), so `decode(encode(text))` is
    `text`. A chat prompt counts its messages' tokens plus 3 per message and 2 for the reply's
    start, as a chat template would add a few."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._tokens: list[str] = []

    def _id(self, token: str) -> int:
        if token not in self._ids:
            self._ids[token] = len(self._tokens)
            self._tokens.append(token)
        return self._ids[token]

    def encode(self, text: str) -> list[int]:
        return [self._id(m.group()) for m in _TOKEN.finditer(text)]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self._tokens[i] for i in ids)

    def encode_batch_offsets(
        self, texts: Sequence[str]
    ) -> list[tuple[list[int], list[tuple[int, int]]]]:
        out = []
        for text in texts:
            matches = list(_TOKEN.finditer(text))
            out.append(([self._id(m.group()) for m in matches], [m.span() for m in matches]))
        return out

    def chat_token_count(self, messages: Sequence[Message]) -> int:
        return sum(len(self.encode(m["content"])) + 3 for m in messages) + 2


class ScriptedLLM:
    """A backend that answers from a script: `reply(request) -> text`, or a list of texts used
    one per request in order (a `BackendError` when they run out).

    A reply longer than the request's `max_tokens` is cut there with finish reason "length", as
    a model's would be. `requests` records every request, `calls` the `generate` calls.
    tokenizer: counts prompts, budgets and chunks (default: a `WordTokenizer`).
    scheduling, max_concurrency: how memagent's scheduler drives it ("rounds": one batch per round;
        "continuous": single requests, as for a server)."""

    def __init__(
        self,
        reply: Reply | Sequence[str],
        tokenizer: Tokenizer | None = None,
        *,
        name: str = "scripted",
        scheduling: Scheduling = "rounds",
        max_concurrency: int | None = None,
    ) -> None:
        self.name = name
        self.tokenizer: Tokenizer = tokenizer if tokenizer is not None else WordTokenizer()
        self.scheduling = scheduling
        self.max_concurrency = max_concurrency
        self.dtype = "scripted"
        self.requests: list[ChatRequest] = []
        self.calls = 0
        self._reply = reply if callable(reply) else _in_order(list(reply))

    def resolve_model(self) -> str:
        return self.name

    def cancel_pending(self) -> None:
        """Nothing is ever pending: `generate` answers at once."""

    def generate(
        self, requests: Sequence[ChatRequest], sampling: SamplingParams
    ) -> list[Completion]:
        self.calls += 1
        return [self.answer(request) for request in requests]

    def answer(self, request: ChatRequest) -> Completion:
        """One request's completion: recorded in `requests`, its text from the script, counted in
        tokens and cut at `max_tokens` (a subclass's own `generate` can build on it)."""
        self.requests.append(request)
        text = self._reply(request)
        ids = self.tokenizer.encode(text)
        finish = "stop"
        if len(ids) > request.max_tokens:  # as a real backend: stop at max_tokens
            ids = ids[: request.max_tokens]
            text = self.tokenizer.decode(ids)
            finish = "length"
        prompt = self.tokenizer.chat_token_count(request.messages)
        return Completion(text, prompt, len(ids), finish, 0.0)


def _in_order(replies: list[str]) -> Reply:
    queue: Iterator[str] = iter(replies)

    def next_reply(request: ChatRequest) -> str:
        try:
            return next(queue)
        except StopIteration:
            raise BackendError(
                f"ScriptedLLM: the script's {len(replies)} replies are used up and another "
                "request came; give more replies or a function of the request"
            ) from None

    return next_reply


__all__ = ["Reply", "ScriptedLLM", "WordTokenizer"]
