"""Profiles: the budgets and prompts a model was trained at, so they become its defaults.

The paper's profile is the release's 8K window (1024/5000/1024/1024) with its prompts. The embedded
SmolLM2-135M memory agent was trained on short chunks with a copy-the-sentence memory and a short
keep reply (data/episodes.py); run with anything else, it is an untrained policy again. A profile
only supplies defaults: explicit --chunk/--memory/... still win.
"""

from __future__ import annotations

from dataclasses import dataclass

from memagent.config import Budgets
from memagent.prompts import PromptTemplates

EMBEDDED_MEMORY_UPDATE = """You read a long text one section at a time and keep a memory of the sentences that help answer a problem.

<problem>
{problem}
</problem>

<memory>
{memory}
</memory>

<section>
{chunk}
</section>

Problem: {problem}
If the section contains sentences that help answer the problem, reply with the updated memory: the lines already in the memory, then each new helpful sentence copied word for word on its own line. If the section adds nothing, reply KEEP.
Updated memory:
"""

EMBEDDED_FINAL_ANSWER = """Answer the problem using only the memory. Put the answer inside \\boxed{{}}.

<problem>
{problem}
</problem>

<memory>
{memory}
</memory>

Your answer:
"""


@dataclass(frozen=True)
class Profile:
    name: str
    window: int
    query: int
    chunk: int | None
    memory: int
    output: int
    templates: PromptTemplates
    # The dtype the model was trained in, used where the hardware runs it natively (None: backend's
    # default). The embedded agent was trained under bfloat16 autocast.
    dtype: str | None = None

    def budgets(
        self,
        window: int | None = None,
        query: int | None = None,
        chunk: int | None = None,
        memory: int | None = None,
        output: int | None = None,
    ) -> Budgets:
        """The profile's budgets with the caller's explicit values taking precedence."""
        return Budgets(
            window=window if window is not None else self.window,
            query=query if query is not None else self.query,
            chunk=chunk if chunk is not None else self.chunk,
            memory=memory if memory is not None else self.memory,
            output=output if output is not None else self.output,
        )

    def describe(self, budgets: Budgets) -> str:
        return (
            f"profile {self.name}: window {budgets.window}, query {budgets.query}, chunk "
            f"{budgets.chunk if budgets.chunk is not None else 'auto'}, memory {budgets.memory}, "
            f"output {budgets.output}"
        )


PAPER = Profile("paper", 8192, 1024, None, 1024, 1024, PromptTemplates())
EMBEDDED = Profile(
    "smollm2-memagent",
    window=2048,
    query=256,
    chunk=512,
    memory=192,
    output=128,
    templates=PromptTemplates(
        memory_update=EMBEDDED_MEMORY_UPDATE,
        final_answer=EMBEDDED_FINAL_ANSWER,
        empty_memory="No relevant information yet.",
        keep_reply="KEEP",
    ),
    dtype="bfloat16",
)
PROFILES = {p.name: p for p in (PAPER, EMBEDDED)}
