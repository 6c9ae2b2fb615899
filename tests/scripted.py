"""A scripted backend for control-flow tests: deterministic rules, no model.

It is never evidence that memagent works with a model; it only lets tests drive the loop exactly.
Memory update: keep the previous memory's facts and add every line of the section containing
'magic'. Final: box the last number found in memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from memagent.types import ChatRequest, Completion, SamplingParams, Scheduling, Tokenizer


def _between(text: str, tag: str) -> str:
    m = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.S)
    return m.group(1) if m else ""


class ScriptedLLM:
    def __init__(
        self,
        tokenizer: Tokenizer,
        pad_memory_to: int = 0,
        fail_after: int | None = None,
        hook: Callable[[int], None] | None = None,
        scheduling: Scheduling = "rounds",
        name: str = "scripted",
    ):
        self.name = name
        self.tokenizer = tokenizer
        self.scheduling = scheduling
        self.max_concurrency: int | None = None
        self.dtype = "scripted"
        self.pad_memory_to = pad_memory_to  # make memories this many tokens long (to hit budgets)
        self.fail_after = fail_after
        self.calls = 0  # generate() calls
        self.requests: list[ChatRequest] = []
        self.hook = hook

    def resolve_model(self) -> str:
        return self.name

    def cancel_pending(self) -> None:
        pass

    def generate(
        self, requests: Sequence[ChatRequest], sampling: SamplingParams
    ) -> list[Completion]:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt  # simulates a kill in the middle of a run
        self.calls += 1
        if self.hook:
            self.hook(self.calls)
        out = []
        for req in requests:
            self.requests.append(req)
            text = req.messages[-1]["content"]
            if "<section>" in text:
                memory = _between(text, "memory")
                facts = [ln for ln in memory.splitlines() if "magic" in ln]
                facts += [
                    ln.strip() for ln in _between(text, "section").splitlines() if "magic" in ln
                ]
                reply = "\n".join(facts) or "nothing yet"
                if self.pad_memory_to:
                    reply += " filler" * self.pad_memory_to
            else:
                numbers = re.findall(r"\d{7}", _between(text, "memory"))
                reply = f"The answer is \\boxed{{{numbers[-1] if numbers else 'unknown'}}}."
            ids = self.tokenizer.encode(reply)
            finish = "stop"
            if len(ids) > req.max_tokens:  # behave like a real backend: stop at max_tokens
                ids = ids[: req.max_tokens]
                reply = self.tokenizer.decode(ids)
                finish = "length"
            prompt = self.tokenizer.chat_token_count(req.messages)
            out.append(Completion(reply, prompt, len(ids), finish, 0.0))
        return out
