"""Helpers of the evaluation tests (tests/eval/): a scripted backend that also answers context
prompts, the small budgets they run under, and a default plan."""

from __future__ import annotations

import re
from collections.abc import Sequence

from memagent.config import AgentConfig, Budgets
from memagent.eval.harness import EvalPlan
from memagent.types import ChatRequest, Completion, SamplingParams
from scripted import ScriptedLLM

CONFIG = AgentConfig(budgets=Budgets(window=2048, query=256, chunk=500, memory=128, output=64))


class ContextScripted(ScriptedLLM):
    """ScriptedLLM, plus: a <context> prompt gets the last 7-digit number in it, boxed."""

    def generate(
        self, requests: Sequence[ChatRequest], sampling: SamplingParams
    ) -> list[Completion]:
        plain = [r for r in requests if "<context>" not in r.messages[-1]["content"]]
        loop = iter(super().generate(plain, sampling) if plain else [])
        out = []
        for req in requests:
            text = req.messages[-1]["content"]
            if "<context>" not in text:
                out.append(next(loop))
                continue
            numbers = re.findall(r"\b\d{7}\b", text.split("<context>", 1)[1])
            reply = f"\\boxed{{{numbers[-1] if numbers else 'unknown'}}}"
            self.requests.append(req)
            out.append(Completion(reply, self.tokenizer.chat_token_count(req.messages), 5))
        return out


def plan(**kw) -> EvalPlan:  # type: ignore[no-untyped-def]
    base = dict(tasks=("niah_single_1",), lengths=(2048,), methods=("memagent", "full", "rag"),
                n=3, batch=2)
    return EvalPlan(**{**base, **kw})
