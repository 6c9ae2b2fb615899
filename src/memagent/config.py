"""Token budgets and agent settings.

The paper's budgets: query <= 1024, chunk <= 5000, memory <= 1024, final output <= 1024 tokens, in
the release's window of 8192 + 1024 = 9216 tokens (its vLLM max length; in 8192 the chunk would
shrink to what fits).
`Budgets.resolve` measures the prompt templates' own overhead with the real tokenizer and checks
the worst case (longest question, fullest memory, full chunk, full generation) fits the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from memagent.errors import BudgetError, InputError
from memagent.prompts import PromptTemplates
from memagent.types import SamplingParams, Tokenizer

PAPER_CHUNK = 5000
SEAM_MARGIN = 8


@dataclass(frozen=True)
class Budgets:
    """Token budgets. chunk=None: the paper's 5000, shrunk if needed so the worst case fits."""

    window: int = 9216  # the release's 8192 + 1024 (its vLLM max length): chunk 5000 fits
    query: int = 1024
    chunk: int | None = None
    memory: int = 1024
    output: int = 1024

    def __post_init__(self) -> None:
        for name in ("window", "query", "memory", "output"):
            if getattr(self, name) < 1:
                raise BudgetError(f"budget '{name}' must be >= 1, got {getattr(self, name)}")
        if self.chunk is not None and self.chunk < 1:
            raise BudgetError(f"budget 'chunk' must be >= 1, got {self.chunk}")

    def _fix(self, overhead: int, templates: PromptTemplates, chunk: int) -> str:
        """How to make a chunk of `chunk` tokens fit: the budget that takes the room (a smaller
        chunk only while one of at least a token still fits), else the window it needs."""
        repeats = templates.problem_repeats
        room = self.window - overhead - self.query * repeats - 2 * self.memory
        if room >= 1:
            return f"lower --chunk to {room} or raise --window to {self.window - room + chunk}"
        fixes = []
        memory = (self.window - overhead - self.query * repeats - chunk) // 2
        if memory >= 1:
            fixes.append(f"lower --memory to {memory} (it is counted twice: read and written)")
        query = (self.window - overhead - 2 * self.memory - chunk) // repeats
        if query >= 1:
            fixes.append(f"lower --query to {query}")
        fixes.append(f"raise --window to {self.window - room + chunk}")
        return "the window leaves no room for a chunk: " + ", or ".join(fixes)

    def resolve(self, tokenizer: Tokenizer, templates: PromptTemplates) -> ResolvedBudgets:
        """Fix the chunk size and prove the worst case fits the window, or say which budget to cut."""
        # Template tokens plus a margin: text joined at the seams (problem/memory/chunk) can
        # tokenize a few tokens longer than its parts counted apart.
        update_overhead = SEAM_MARGIN + tokenizer.chat_token_count(
            templates.memory_update_messages("", " ", "")
        )
        final_overhead = SEAM_MARGIN + tokenizer.chat_token_count(
            templates.final_answer_messages("", " ")
        )
        # problem (as often as the template shows it) + prompt memory + new memory
        fixed = update_overhead + self.query * templates.problem_repeats + 2 * self.memory
        room = self.window - fixed
        if self.chunk is None:
            chunk = min(PAPER_CHUNK, room)
            if chunk < 1:
                raise BudgetError(
                    f"window {self.window} leaves no room for a chunk: query {self.query} + memory "
                    f"{self.memory} (read) + memory {self.memory} (written) + prompt template "
                    f"{update_overhead} = {fixed} tokens; raise --window or lower the budgets"
                )
        else:
            chunk = self.chunk
            if chunk > room:
                raise BudgetError(
                    f"budgets do not fit the {self.window}-token window: template {update_overhead} "
                    f"+ query {self.query} + memory {self.memory} + chunk {chunk} + new memory "
                    f"{self.memory} = {fixed + chunk}; {self._fix(update_overhead, templates, chunk)}"
                )
        final_total = final_overhead + self.query + self.memory + self.output
        if final_total > self.window:
            raise BudgetError(
                f"final-answer step does not fit the {self.window}-token window: template "
                f"{final_overhead} + query {self.query} + memory {self.memory} + output "
                f"{self.output} = {final_total}; lower --output or --memory"
            )
        return ResolvedBudgets(
            window=self.window,
            query=self.query,
            chunk=chunk,
            memory=self.memory,
            output=self.output,
            update_overhead=update_overhead,
            final_overhead=final_overhead,
        )


@dataclass(frozen=True)
class ResolvedBudgets:
    """Budgets checked against a tokenizer and templates; every field is concrete."""

    window: int
    query: int
    chunk: int
    memory: int
    output: int
    update_overhead: int
    final_overhead: int


@dataclass(frozen=True)
class AgentConfig:
    """Everything that decides what the agent sends to the model."""

    budgets: Budgets = field(default_factory=Budgets)
    sampling: SamplingParams = field(default_factory=SamplingParams)
    templates: PromptTemplates = field(default_factory=PromptTemplates)

    def with_sampling(self, **changes: object) -> AgentConfig:
        return replace(self, sampling=replace(self.sampling, **changes))  # type: ignore[arg-type]


def check_question(
    question: str, tokenizer: Tokenizer, limit: int, which: str = "the question"
) -> int:
    """The question's tokens, or a BudgetError when they are over the query budget `limit`
    (`which` names it: "question 2 of 3"). A question that is not text (bytes a terminal could
    not decode, which Python keeps as lone surrogates) is an InputError."""
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"{which} is not UTF-8 text (undecodable bytes at character {exc.start + 1}): check "
            "the terminal's or the script's encoding"
        ) from None
    n = len(tokenizer.encode(question))
    if n > limit:
        raise BudgetError(
            f"{which} is {n} tokens, over the query budget of {limit} "
            "(raise --query, keeping the window in mind)"
        )
    return n
