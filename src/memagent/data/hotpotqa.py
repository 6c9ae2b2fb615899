"""Long QA documents: RULER qa_1 (SQuAD), qa_2 (HotpotQA) and the MemAgent paper's RULER-HotpotQA.

All three put a question's own paragraphs (HotpotQA: its 2 gold + 8 distractors; SQuAD: its one
paragraph) among paragraphs of other questions, shuffle them with the seed and render
`Document {i}:\\n{doc}` joined by blank lines. The paper pads by document count (50 … 25,600); we
pad to a target length in the model's tokens, which is what the paper's length axis reports.
The paper's shuffle re-seeds on every call, so gold positions repeat across samples; ours do not.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import islice

from memagent.data import templates
from memagent.data.fit import count_tokens, default_tolerance, fit_units, token_costs
from memagent.data.io import GenOptions, Sample, generated_sample, provenance
from memagent.data.loaders import QAItem, load_source
from memagent.errors import InputError
from memagent.scoring import score
from memagent.types import Tokenizer

QA_TASKS = {"qa_1": "squad", "qa_2": "hotpotqa", "hotpotqa": "hotpotqa"}


@lru_cache(maxsize=4)
def _source(path: str) -> tuple[tuple[QAItem, ...], tuple[str, ...]]:
    """The questions of a source file and its pool of unique paragraphs (cached per path)."""
    items = tuple(load_source(path))
    pool = tuple(dict.fromkeys(d for item in items for d in item.docs))
    return items, pool


def render_documents(docs: Sequence[str]) -> str:
    return "\n\n".join(f"Document {i}:\n{doc}" for i, doc in enumerate(docs, 1))


def long_document(
    item: QAItem, pool: Sequence[str], target: int, rng: random.Random, tokenizer: Tokenizer
) -> tuple[str, int, list[str]]:
    """(context, exact tokens, documents in order): own paragraphs + random others ≤ target."""
    own = list(item.docs)
    own_set = set(own)
    order = list(range(len(pool)))
    rng.shuffle(order)
    others = (pool[i] for i in order if pool[i] not in own_set)
    order_seed = rng.getrandbits(64)

    picked: list[str] = []
    head = lambda i: f"\n\nDocument {i}:"  # noqa: E731 - the cost of a header, by number
    base = sum(token_costs(tokenizer, ["\n" + d for d in own]))
    base += sum(token_costs(tokenizer, [head(i) for i in range(1, len(own) + 1)]))
    prefix = [base]
    while prefix[-1] <= target + 64:
        batch = list(islice(others, 512))
        if not batch:
            break
        numbers = range(len(own) + len(picked) + 1, len(own) + len(picked) + len(batch) + 1)
        heads = token_costs(tokenizer, [head(i) for i in numbers])
        bodies = token_costs(tokenizer, ["\n" + d for d in batch])
        for h, b in zip(heads, bodies, strict=True):
            prefix.append(prefix[-1] + h + b)
        picked += batch

    def build(n: int, extra: Sequence[str] = ()) -> list[str]:
        docs = own + picked[:n] + list(extra)
        random.Random(order_seed).shuffle(docs)
        return docs

    fitted = fit_units(lambda n: render_documents(build(n)), prefix, target, tokenizer)
    tokens, docs = fitted.tokens, build(fitted.n)
    # Whole documents leave a gap of up to one paragraph: top it up with short ones that fit.
    extra: list[str] = []
    for doc in picked[fitted.n : fitted.n + 4000]:
        if target - tokens <= default_tolerance(target):
            break
        number = len(docs) + 1
        cost = sum(token_costs(tokenizer, [head(number), "\n" + doc]))
        if cost + 4 <= target - tokens:
            trial = build(fitted.n, [*extra, doc])
            trial_tokens = count_tokens(tokenizer, render_documents(trial))
            if trial_tokens <= target:
                extra.append(doc)
                docs, tokens = trial, trial_tokens
    if target - tokens > default_tolerance(target) and fitted.n == len(picked):
        raise InputError(
            f"the QA source has {len(pool)} paragraphs, too few to fill {target} tokens "
            f"(reached {tokens}); use a shorter --length or a larger --source file"
        )
    return render_documents(docs), tokens, docs


def documents_by_count(
    item: QAItem, pool: Sequence[str], n_docs: int, rng: random.Random, tokenizer: Tokenizer
) -> tuple[str, int, list[str]]:
    """The release's length convention: the question's own paragraphs plus random others, N
    documents in all (different_docs_eval.py), shuffled; (context, tokens, documents)."""
    own = list(item.docs)
    own_set = set(own)
    others = [d for d in pool if d not in own_set]
    need = max(0, n_docs - len(own))
    if need > len(others):
        raise InputError(
            f"the QA source has {len(pool)} paragraphs, too few for {n_docs} documents"
        )
    docs = own + rng.sample(others, need)
    rng.shuffle(docs)
    context = render_documents(docs)
    return context, count_tokens(tokenizer, context), docs


def qa_question(task: str, question: str, style: str) -> str:
    """hotpotqa: the bare question (the release's prompt); qa_1/qa_2: the style's template."""
    if task == "hotpotqa":
        return question
    return templates.question("qa", style, query=question)


def qa_metric(task: str, style: str) -> str:
    """RULER scores qa_1/qa_2 with string_match_part; the release (and the paper's RULER-HotpotQA)
    with two-way sub-EM against answers[0]."""
    if task != "hotpotqa" and style == "ruler":
        return "string_match_part"
    return "substring_2way_first"


@lru_cache(maxsize=8)
def _order(path: str, seed: int, n: int) -> tuple[int, ...]:
    order = list(range(n))
    random.Random(f"questions|{seed}").shuffle(order)
    return tuple(order)


def generate_qa(
    task: str, index: int, rng: random.Random, opts: GenOptions, tokenizer: Tokenizer
) -> Sample:
    """qa_1 / qa_2 (RULER's or the release's prompt and metric) or hotpotqa (the paper's bare
    question, two-way sub-EM against answers[0]); a length in tokens, or `opts.docs` documents."""
    if opts.source is None:
        raise InputError(
            f"task {task} needs --source: a {QA_TASKS[task]} JSON file (see memagent.data.loaders)"
        )
    items, pool = _source(opts.source)
    item = items[_order(opts.source, opts.seed, len(items))[index % len(items)]]
    if opts.docs is None:
        context, tokens, docs = long_document(item, pool, opts.target, rng, tokenizer)
    else:
        context, tokens, docs = documents_by_count(item, pool, opts.docs, rng, tokenizer)
    gold_numbers = [docs.index(item.docs[g]) + 1 for g in item.gold]
    ruler = task != "hotpotqa"
    return generated_sample(
        task,
        opts,
        index,
        context=context,
        question=qa_question(task, item.question, opts.style),
        answers=list(item.answers),
        metric=qa_metric(task, opts.style),
        meta={
            **provenance(opts, index),
            "context_tokens": tokens,
            "question_id": item.id,
            "num_docs": len(docs),
            "gold_docs": gold_numbers,  # 1-based document numbers
            "generation_budget": 32 if ruler else 1024,
        },
    )


def no_context_filter(
    items: Sequence[QAItem],
    answer: Callable[[list[str]], Sequence[str | None]],
    tries: int = 2,
    metric: str = "exact_match",
) -> list[QAItem]:
    """The paper's best-of-2 filter: drop questions a model answers right without any context.

    `answer` maps a batch of bare questions to the model's (extracted) answers; it is called
    `tries` times (sample with temperature > 0 so the tries differ). A question is kept only if
    every try is wrong under `metric`.
    """
    questions = [item.question for item in items]
    solved = [False] * len(items)
    for _ in range(tries):
        replies = list(answer(questions))
        if len(replies) != len(questions):
            raise ValueError(f"answer() returned {len(replies)} replies for {len(questions)}")
        for i, (item, reply) in enumerate(zip(items, replies, strict=True)):
            solved[i] = solved[i] or score(metric, reply, item.answers) > 0
    return [item for item, done in zip(items, solved, strict=True) if not done]
