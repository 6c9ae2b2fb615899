"""The suite's scripted backend: the shipped `memagent.testing.ScriptedLLM` with the suite's rule.

It is never evidence that memagent works with a model; it only lets tests drive the loop exactly.
Memory update: keep the previous memory's facts and add every line of the section containing
'magic'. Final: box the last 7-digit number found in memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from memagent import testing
from memagent.types import ChatRequest, Completion, SamplingParams, Scheduling, Tokenizer


def _between(text: str, tag: str) -> str:
    m = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.S)
    return m.group(1) if m else ""


class ScriptedLLM(testing.ScriptedLLM):
    """pad_memory_to: make memories this many tokens longer (to hit budgets); fail_after: a
    KeyboardInterrupt at that generate call (a kill mid-run); hook(n): called at call n first."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        pad_memory_to: int = 0,
        fail_after: int | None = None,
        hook: Callable[[int], None] | None = None,
        scheduling: Scheduling = "rounds",
        name: str = "scripted",
    ):
        super().__init__(self._rule, tokenizer, name=name, scheduling=scheduling)
        self.pad_memory_to = pad_memory_to
        self.fail_after = fail_after
        self.hook = hook

    def generate(
        self, requests: Sequence[ChatRequest], sampling: SamplingParams
    ) -> list[Completion]:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt  # simulates a kill in the middle of a run
        self.calls += 1
        if self.hook:
            self.hook(self.calls)
        return [self.answer(req) for req in requests]

    def _rule(self, req: ChatRequest) -> str:
        text = req.messages[-1]["content"]
        if "<section>" in text:
            memory = _between(text, "memory")
            facts = [ln for ln in memory.splitlines() if "magic" in ln]
            facts += [ln.strip() for ln in _between(text, "section").splitlines() if "magic" in ln]
            reply = "\n".join(facts) or "nothing yet"
            if self.pad_memory_to:
                reply += " filler" * self.pad_memory_to
            return reply
        numbers = re.findall(r"\d{7}", _between(text, "memory"))
        return f"The answer is \\boxed{{{numbers[-1] if numbers else 'unknown'}}}."
