"""One (document, question) pair as a small state machine, the steps it takes and its result.

A job reads its document as a stream of chunks. At each step it asks for a new memory given
(question, memory, chunk), overwriting the old one; after the last chunk it asks for the answer
given (question, memory) alone. The job never calls a model: it yields `ChatRequest`s and consumes
`Completion`s, so a single `ask`, a batched scheduler, evaluation and RL rollouts share this code.
`Result.to_json` / `Result.from_json` are the one serialization of a result (--json output, the
trace's final record, and a result rebuilt from a finished trace).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from memagent.answer import AnswerRule, Extraction
from memagent.chunking import Chunk
from memagent.config import ResolvedBudgets
from memagent.config import check_question as check_question  # its home; kept importable here
from memagent.cost import CostReport, cost_report
from memagent.errors import BudgetError, InputError
from memagent.hygiene import clean, ground
from memagent.prompts import PromptTemplates
from memagent.selection import best, candidates
from memagent.types import ChatRequest, Completion, Tokenizer, Usage


class Phase(str, Enum):
    READING = "reading"  # next request is a memory update over the next chunk
    ANSWERING = "answering"  # next request is the final answer from memory alone
    DONE = "done"


@dataclass
class Step:
    """One conversation of the loop: a memory update (kind='memory') or the answer (kind='final')."""

    index: int  # chunk index; the final step has index = number of chunks
    kind: str
    chunk_tokens: int
    prompt_tokens: int
    completion_tokens: int
    memory: str  # memory after this step (for 'final': unchanged memory)
    memory_tokens: int
    memory_cut: bool  # the new memory hit the memory budget and was cut at a token boundary
    finish_reason: str
    seconds: float
    chunk_sha: str = ""  # identifies the chunk, so a resumed run can prove it reads the same text
    output: str = ""  # the raw reply of a final step
    kept: bool = False  # the reply was the template's keep reply: memory unchanged
    # Under a hygiene mode (memagent.hygiene): sentences dropped as repeats / as in neither chunk
    # nor memory, whether the reply was rejected (previous memory kept) and a note saying why.
    # None when hygiene is off (and then absent from the JSON, as before hygiene existed). On the
    # final step under answer grounding: {"ungrounded": parts dropped, "note": which}.
    hygiene: dict[str, Any] | None = None
    # Under decision "select" (memagent.selection): {"chosen": index, "candidates": count}.
    selection: dict[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()
                if not (k in ("hygiene", "selection") and v is None)}


@dataclass
class ResumeState:
    """Where a previous run of the same job stopped (from its trace)."""

    memory: str
    steps: list[Step]

    @property
    def next_chunk(self) -> int:
        return len(self.steps)


@dataclass
class Result:
    question: str
    answer: str | None
    rule: AnswerRule
    raw_answer: str
    memory: str
    steps: list[Step]
    usage: Usage
    document_tokens: int
    seconds: float
    cost: CostReport

    @property
    def chunks(self) -> int:
        return sum(1 for s in self.steps if s.kind == "memory")

    @property
    def boxed(self) -> bool:
        return self.rule is AnswerRule.BOXED

    @property
    def grounding_note(self) -> str | None:
        """What answer grounding dropped from the answer (memagent.hygiene.ground), or None."""
        final = self.steps[-1] if self.steps and self.steps[-1].kind == "final" else None
        note = (final.hygiene or {}).get("note") if final is not None else None
        return str(note) if note else None

    def to_json(self) -> dict[str, Any]:
        """The whole result as JSON values (`memagent ask --json`); `from_json` reverses it."""
        return {
            "question": self.question,
            "answer": self.answer,
            "rule": self.rule.value,
            "raw_answer": self.raw_answer,
            "memory": self.memory,
            "document_tokens": self.document_tokens,
            "seconds": self.seconds,
            "usage": {
                "requests": self.usage.requests,
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "cached_tokens": self.usage.cached_tokens,
            },
            "cost": self.cost.to_json(),
            "steps": [s.to_json() for s in self.steps],
        }

    def trace_record(self) -> dict[str, Any]:
        """The part of `to_json` a trace's final record keeps (its steps are lines of their own)."""
        full = self.to_json()
        usage = full["usage"]
        return {
            "answer": full["answer"],
            "rule": full["rule"],
            "document_tokens": full["document_tokens"],
            "usage": {k: usage[k] for k in ("prompt_tokens", "completion_tokens")},
        }

    @classmethod
    def from_json(
        cls,
        record: dict[str, Any],
        budgets: ResolvedBudgets,
        question: str | None = None,
        steps: list[Step] | None = None,
    ) -> Result:
        """A Result from `to_json`'s output, or from a trace's final record (`trace_record`) with
        the question and memory steps of its trace (and its answer step, "final_step", which gives
        the raw answer). What a trace does not keep is rebuilt: the memory is the last step's, one
        request per step plus the answer's, no time (nothing was re-run), the cost from the
        budgets."""
        if steps is None:
            steps = [Step(**s) for s in record.get("steps", [])]
        final_step = record.get("final_step")  # a trace's answer step (read_trace)
        raw_answer = record.get("raw_answer", final_step["output"] if final_step else "")
        usage_json = record["usage"]
        usage = Usage(
            requests=usage_json.get("requests", len(steps) + 1),
            prompt_tokens=usage_json["prompt_tokens"],
            completion_tokens=usage_json["completion_tokens"],
            cached_tokens=usage_json.get("cached_tokens", 0),
        )
        n = record["document_tokens"]
        cost = record.get("cost")
        return cls(
            record["question"] if question is None else question,
            record["answer"],
            AnswerRule(record["rule"]),
            raw_answer,
            record.get("memory", steps[-1].memory if steps else ""),
            [*steps, Step(**final_step)] if final_step else steps,
            usage,
            n,
            record.get("seconds", 0.0),
            CostReport(**cost) if cost is not None else cost_report(n, budgets, usage),
        )


def chunk_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


StepCallback = Callable[["Job", Step], None]
SEAM_SLACK = 32  # tokens of margin for the estimate in Job._request
PLACEHOLDER_TOKENS = 16  # bound on the tokens of NO_MEMORY, the empty memory's placeholder


@dataclass
class Job:
    """One (document, question) pair moving through the loop. Drive it with next_request/consume."""

    question: str
    chunks: Iterator[Chunk]
    tokenizer: Tokenizer
    budgets: ResolvedBudgets
    templates: PromptTemplates
    want_logprobs: bool = False
    keep_conversations: bool = False
    resume: ResumeState | None = None
    on_step: StepCallback | None = None
    tag: Any = None  # caller's handle (sample id, group id)
    phase: Phase = Phase.READING
    memory: str = ""
    steps: list[Step] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    conversations: list[tuple[ChatRequest, Completion]] = field(default_factory=list)
    extraction: Extraction | None = None
    document_tokens: int = 0
    started: float = field(default_factory=time.perf_counter)
    _current: Chunk | None = None
    _pending: ChatRequest | None = None
    _question_tokens: int = 0

    def __post_init__(self) -> None:
        if not self.question.strip():
            raise InputError("the question is empty")
        self._question_tokens = check_question(self.question, self.tokenizer, self.budgets.query)
        if self.resume is not None:
            self.memory = self.resume.memory
            self.steps = list(self.resume.steps)

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    @property
    def chars_read(self) -> int:
        """Characters of the document consumed so far (for progress bars)."""
        return self._current.end_char if self._current is not None else 0

    def next_request(self) -> ChatRequest | None:
        """The request this job needs answered next (the same one until consume), or None if done."""
        if self._pending is not None or self.phase is Phase.DONE:
            return self._pending
        if self.phase is Phase.READING:
            chunk = self._next_chunk()
            if chunk is None:
                if not self.steps:
                    raise InputError("the document is empty: nothing to read")
                self.phase = Phase.ANSWERING
            else:
                self._current = chunk
                messages = self.templates.memory_update_messages(
                    self.question, self.memory, chunk.text
                )
                # Upper estimate of the prompt from its parts, to skip re-tokenizing the chunk.
                memory = self.steps[-1].memory_tokens if self.steps else PLACEHOLDER_TOKENS
                question = self._question_tokens * self.templates.problem_repeats
                parts = self.budgets.update_overhead + question + memory + chunk.n_tokens
                self._pending = self._request(messages, self.budgets.memory, parts)
                if self.templates.decision == "select":
                    self._pending = replace(self._pending, candidates=self._candidates(chunk))
                return self._pending
        messages = self.templates.final_answer_messages(self.question, self.memory)
        self._pending = self._request(messages, self.budgets.output)
        return self._pending

    def _next_chunk(self) -> Chunk | None:
        for chunk in self.chunks:
            self.document_tokens += chunk.n_tokens
            if chunk.index < len(self.steps):  # resumed: prove it's the same text, then skip
                if self.steps[chunk.index].chunk_sha != chunk_sha(chunk.text):
                    raise InputError(
                        f"chunk {chunk.index} differs from the trace: the document, tokenizer or "
                        "chunk budget changed since the trace was written; use a new --trace path"
                    )
                continue
            return chunk
        return None

    def _request(
        self, messages: Sequence[dict[str, str]], max_tokens: int, parts_tokens: int | None = None
    ) -> ChatRequest:
        # Exact count only when the sum of the separately counted parts is near the window: joint
        # tokenization differs from the parts' sum by at most a few tokens at the seams.
        window = self.budgets.window
        if parts_tokens is not None and parts_tokens + SEAM_SLACK + max_tokens <= window:
            prompt_tokens = parts_tokens
        else:
            prompt_tokens = self.tokenizer.chat_token_count(messages)
        if (
            prompt_tokens + max_tokens > self.budgets.window
        ):  # guaranteed by resolve(); checked anyway
            raise BudgetError(
                f"prompt {prompt_tokens} + generation {max_tokens} tokens exceeds the "
                f"{self.budgets.window}-token window"
            )
        return ChatRequest(tuple(messages), max_tokens, self.want_logprobs)

    def consume(self, completion: Completion) -> Step:
        """Take the backend's reply to next_request() and advance."""
        request, self._pending = self._pending, None
        if request is None:
            raise RuntimeError("consume() called without a pending request")
        self.usage.add(completion)
        if self.keep_conversations:
            self.conversations.append((request, completion))
        selection = None
        if request.candidates:  # decision "select": the most probable candidate is the reply
            if completion.scores is None or len(completion.scores) != len(request.candidates):
                raise InputError("decision 'select' needs a backend that scores candidate replies")
            chosen = best(completion.scores)
            selection = {"chosen": chosen, "candidates": len(request.candidates)}
            completion = replace(completion, text=request.candidates[chosen],
                                 completion_token_ids=None)
        if self.phase is Phase.READING:
            step = self._update_memory(completion)
            step.selection = selection
        else:
            self.extraction = self.templates.extract(completion.text)
            grounding = None
            if self.templates.answer_grounding == "memory":
                grounded = ground(self.extraction.answer, self.memory, self.question)
                self.extraction = replace(self.extraction, answer=grounded.answer)
                grounding = grounded.counts()
            step = Step(
                len(self.steps),
                "final",
                0,
                completion.prompt_tokens,
                completion.completion_tokens,
                self.memory,
                self._memory_tokens(),
                False,
                completion.finish_reason,
                completion.seconds,
                output=completion.text,
                hygiene=grounding,
            )
            self.phase = Phase.DONE
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(self, step)
        return step

    def _update_memory(self, completion: Completion) -> Step:
        chunk = self._current
        assert chunk is not None
        ids = completion.completion_token_ids or self.tokenizer.encode(completion.text)
        text = completion.text.strip()
        cut = completion.finish_reason == "length"
        if (
            len(ids) > self.budgets.memory
        ):  # a server that ignored max_tokens: cut at a token boundary
            text = self.tokenizer.decode(ids[: self.budgets.memory]).strip()
            cut = True
        # The keep reply ("nothing new"), or an empty reply unless the templates clear on it (the
        # release's behaviour): the memory stays as it was.
        kept = self.templates.is_keep(text) or (not text and self.templates.empty_reply == "keep")
        if kept:
            text, ids, cut = self.memory, self.tokenizer.encode(self.memory), False
        hygiene = None
        if self.templates.hygiene != "off":
            cleaned = clean(text, chunk.text, self.memory, self.templates.hygiene,
                            self.templates.empty_memory)
            hygiene = cleaned.counts()
            if cleaned.text != text:
                text, ids = cleaned.text, self.tokenizer.encode(cleaned.text)
                cut = cut and not cleaned.rejected
        self.memory = text
        return Step(
            chunk.index,
            "memory",
            chunk.n_tokens,
            completion.prompt_tokens,
            completion.completion_tokens,
            text,
            min(len(ids), self.budgets.memory),
            cut,
            completion.finish_reason,
            completion.seconds,
            chunk_sha(chunk.text),
            kept=kept,
            hygiene=hygiene,
        )

    def _candidates(self, chunk: Chunk) -> tuple[str, ...]:
        keep = self.templates.keep_reply or ""
        limit = self.budgets.memory
        return tuple(candidates(chunk.text, self.memory, keep,
                                lambda reply: len(self.tokenizer.encode(reply)) <= limit))

    def _memory_tokens(self) -> int:
        return len(self.tokenizer.encode(self.memory)) if self.memory else 0

    def result(self) -> Result:
        if self.extraction is None:
            raise RuntimeError("job is not finished")
        return Result(
            self.question,
            self.extraction.answer,
            self.extraction.rule,
            self.extraction.raw,
            self.memory,
            self.steps,
            self.usage,
            self.document_tokens,
            time.perf_counter() - self.started,
            cost_report(self.document_tokens, self.budgets, self.usage),
        )
