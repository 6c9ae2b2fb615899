"""The three ways evaluation answers a sample, all batched over many samples.

- `memagent`: the MemAgent loop (chunk by chunk, overwritten memory, then a boxed answer).
- `full`: the model alone on the whole context, middle-truncated to its window (head and tail
  tokens kept so prompt + answer budget fit), the standard long-context baseline.
- `rag`: BM25 (bm25s) over chunks of the agent's chunk size; the best-scoring chunks that fit one
  window are packed in document order, then the model answers once.

`full` and `rag` ask with the profile's one-turn context prompt (`PromptTemplates.context_answer`:
memagent's boxed prompt, or under `--profile paper` the release's full-context prompt) and read the
reply by the profile's answer rule, as the memagent method does. Every method returns a
`Prediction` (reply, extracted answer, rule, tokens processed, seconds). A batch that fails in the backend becomes predictions with `error` set: the harness
scores them 0, never drops them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from memagent.chunking import iter_chunks
from memagent.config import AgentConfig
from memagent.data import Sample
from memagent.errors import InputError, MemAgentError
from memagent.hygiene import repeated_sentences
from memagent.loop.agent import MemAgent
from memagent.loop.job import Job, Step
from memagent.prompts import PromptTemplates
from memagent.sources import text_blocks
from memagent.types import LLM, ChatRequest, Message, Tokenizer

GAP = "\n...\n"  # marks where a middle-truncated context lost its middle
METHODS = ("memagent", "full", "rag")


@dataclass
class Prediction:
    """What one method produced for one sample."""

    text: str  # the model's final reply ("" when the backend failed)
    answer: str | None
    rule: str  # boxed | answer_is | last_line | none | error
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    context_tokens: int = 0  # context tokens the method actually showed the model (full/rag)
    error: str | None = None
    memory: str | None = None  # memagent: the memory the answer was given
    # memagent: memory hygiene summed over the steps (hygiene_totals), None for the baselines
    hygiene: dict[str, int] | None = None


def failed(error: BaseException, seconds: float = 0.0) -> Prediction:
    return Prediction("", None, "error", 0, 0, seconds, error=f"{type(error).__name__}: {error}")


def middle_truncate(
    tokenizer: Tokenizer,
    question: str,
    context: str,
    window: int,
    output: int,
    templates: PromptTemplates | None = None,
) -> tuple[tuple[Message, ...], int]:
    """Messages whose prompt + `output` fits `window`, keeping the context's head and tail tokens.

    Returns (messages, context tokens kept). Decoding a token slice and re-encoding it can shift a
    boundary token, so the fit is checked on the rendered prompt and tightened until it holds.
    """
    templates = templates or PromptTemplates()
    context = context.strip()  # as the prompt shows it, so the kept count is exact
    messages = templates.context_answer_messages(question, context)
    room = window - output - tokenizer.chat_token_count(messages)
    ids = tokenizer.encode(context)
    if room >= 0:
        return messages, len(ids)
    keep = len(ids) + room - len(tokenizer.encode(GAP))
    while keep > 0:
        head = keep // 2
        text = tokenizer.decode(ids[:head]) + GAP + tokenizer.decode(ids[len(ids) - (keep - head):])
        messages = templates.context_answer_messages(question, text)
        over = tokenizer.chat_token_count(messages) + output - window
        if over <= 0:
            return messages, keep
        keep -= over
    raise InputError(
        f"the question alone does not fit a {window}-token window with {output} output tokens"
    )


def _answer_batch(
    llm: LLM, config: AgentConfig, prompts: Sequence[tuple[tuple[Message, ...], int]]
) -> list[Prediction]:
    """One backend call for many single-turn context prompts."""
    t0 = time.perf_counter()
    requests = [ChatRequest(m, config.budgets.output, seed=config.sampling.request_seed(i, 0))
                for i, (m, _) in enumerate(prompts)]
    try:
        completions = llm.generate(requests, config.sampling)
    except MemAgentError as exc:
        return [failed(exc, time.perf_counter() - t0) for _ in prompts]
    seconds = (time.perf_counter() - t0) / max(len(prompts), 1)
    out = []
    for (_, kept), c in zip(prompts, completions, strict=True):
        ex = config.templates.extract(c.text)  # the profile's rule, as for memagent's answers
        out.append(Prediction(c.text, ex.answer, ex.rule.value, c.prompt_tokens,
                              c.completion_tokens, c.seconds or seconds, kept))
    return out


class Method:
    """Answers a batch of samples; subclasses differ only in how they use the context."""

    name = ""

    def __init__(self, llm: LLM, config: AgentConfig, tokenizer: Tokenizer) -> None:
        self.llm = llm
        self.config = config
        self.tokenizer = tokenizer
        # Resolving checks the budgets against the window once, for every method alike.
        self.budgets = config.budgets.resolve(tokenizer, config.templates)
        self.templates = config.templates

    def predict(self, samples: Sequence[Sample]) -> list[Prediction]:
        raise NotImplementedError


class MemAgentMethod(Method):
    name = "memagent"

    def predict(self, samples: Sequence[Sample]) -> list[Prediction]:
        agent = MemAgent(self.llm, self.config, self.tokenizer)
        t0 = time.perf_counter()
        jobs: list[Job | Prediction] = []
        for i, s in enumerate(samples):
            try:  # a question over its budget fails that sample only
                jobs.append(agent.job(s.context, s.question, tag=i))
            except MemAgentError as exc:
                jobs.append(failed(exc))
        runnable = [j for j in jobs if isinstance(j, Job)]
        try:
            agent.run(runnable)
        except MemAgentError as exc:
            return [failed(exc, time.perf_counter() - t0) for _ in samples]
        wall = (time.perf_counter() - t0) / max(len(samples), 1)
        out: list[Prediction] = []
        for job in jobs:
            if isinstance(job, Prediction):
                out.append(job)
                continue
            r = job.result()
            out.append(Prediction(r.raw_answer, r.answer, r.rule.value, r.usage.prompt_tokens,
                                  r.usage.completion_tokens, r.usage.backend_seconds or wall,
                                  r.document_tokens, memory=r.memory,
                                  hygiene=hygiene_totals(r.steps)))
        return out


def hygiene_totals(steps: Sequence[Step]) -> dict[str, int]:
    """One sample's memory hygiene: sentences dropped as repeats and as unsupported, steps
    repaired and rejected (all 0 with hygiene off), and `repeat_steps`, the memories that held a
    sentence twice, counted from the memories themselves whatever the mode; `ungrounded`, the
    answer's parts dropped by answer grounding."""
    totals = {"repeats": 0, "unsupported": 0, "repaired": 0, "rejected": 0, "repeat_steps": 0,
              "ungrounded": 0}
    for s in steps:
        if s.kind != "memory":
            totals["ungrounded"] += int((s.hygiene or {}).get("ungrounded", 0))
            continue
        h = s.hygiene or {}
        totals["repeats"] += int(h.get("repeats", 0))
        totals["unsupported"] += int(h.get("unsupported", 0))
        rejected = int(h.get("rejected", 0))
        totals["rejected"] += rejected
        totals["repaired"] += int(not rejected and bool(h.get("repeats") or h.get("unsupported")))
        totals["repeat_steps"] += int(bool(repeated_sentences(s.memory)))
    return totals


class FullMethod(Method):
    name = "full"

    def predict(self, samples: Sequence[Sample]) -> list[Prediction]:
        b = self.budgets
        try:
            prompts = [middle_truncate(self.tokenizer, s.question, s.context, b.window, b.output,
                                       self.templates) for s in samples]
        except MemAgentError as exc:
            return [failed(exc) for _ in samples]
        return _answer_batch(self.llm, self.config, prompts)


class RagMethod(Method):
    name = "rag"

    def predict(self, samples: Sequence[Sample]) -> list[Prediction]:
        try:
            prompts = [self.pack(s.question, s.context) for s in samples]
        except MemAgentError as exc:
            return [failed(exc) for _ in samples]
        return _answer_batch(self.llm, self.config, prompts)

    def retrieve(self, question: str, context: str) -> tuple[list[str], list[int]]:
        """(chunks in document order, chunk indices by BM25 score, best first)."""
        import bm25s

        pieces = iter_chunks(text_blocks(context), self.tokenizer, self.budgets.chunk)
        chunks = [c.text for c in pieces]
        if len(chunks) <= 1:
            return chunks, list(range(len(chunks)))
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(chunks, stopwords="en", show_progress=False),
                        show_progress=False)
        query = bm25s.tokenize([question], stopwords="en", show_progress=False)
        ranked, _ = retriever.retrieve(query, k=len(chunks), show_progress=False, n_threads=1)
        return chunks, [int(i) for i in ranked[0]]

    def pack(self, question: str, context: str) -> tuple[tuple[Message, ...], int]:
        """The top chunks that fit one window, in document order; a lone chunk is middle-cut."""
        b = self.budgets
        chunks, ranked = self.retrieve(question, context)
        k = len(ranked)
        while k > 1:
            text = "\n\n".join(chunks[i] for i in sorted(ranked[:k]))
            messages = self.templates.context_answer_messages(question, text)
            if self.tokenizer.chat_token_count(messages) + b.output <= b.window:
                return messages, len(self.tokenizer.encode(text))
            k = min(k - 1, max(1, (b.window - b.output) // b.chunk))
        best = chunks[ranked[0]] if ranked else ""
        return middle_truncate(self.tokenizer, question, best, b.window, b.output,
                               self.templates)


MethodFactory = Callable[[LLM, AgentConfig, Tokenizer], Method]
REGISTRY: dict[str, MethodFactory] = {
    "memagent": MemAgentMethod,
    "full": FullMethod,
    "rag": RagMethod,
}


def make_method(name: str, llm: LLM, config: AgentConfig, tokenizer: Tokenizer) -> Method:
    try:
        factory = REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown method {name!r}; choose from {', '.join(REGISTRY)}") from None
    return factory(llm, config, tokenizer)
