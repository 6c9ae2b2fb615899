"""eval/methods.py: the full-context baseline's middle truncation and the RAG baseline's retrieval
and packing, with the real tokenizer.
"""

from __future__ import annotations

from eval_helpers import CONFIG, ContextScripted

from memagent.data import GenOptions, generate_sample
from memagent.eval.methods import GAP, RagMethod, middle_truncate


def test_middle_truncation_keeps_head_and_tail_and_fits(tokenizer) -> None:
    context = "HEADMARK " + "The grass is green. The sky is blue. " * 600 + " TAILMARK"
    messages, kept = middle_truncate(tokenizer, "What is the mark?", context, 1024, 64)
    text = messages[-1]["content"]
    assert tokenizer.chat_token_count(messages) + 64 <= 1024
    assert tokenizer.chat_token_count(messages) + 64 > 1024 - 16  # uses the window, not a sliver
    assert "HEADMARK" in text and "TAILMARK" in text and GAP in text
    assert kept < len(tokenizer.encode(context))
    short, n = middle_truncate(tokenizer, "q?", "a short context", 1024, 64)
    assert GAP not in short[-1]["content"] and n == len(tokenizer.encode("a short context"))


def test_rag_retrieves_the_needle_chunk(tokenizer) -> None:
    # niah_single_1: a built-in haystack, so the test needs no system package
    sample = generate_sample("niah_single_1", 0, GenOptions(target=6000, depth=70), tokenizer)
    rag = RagMethod(ContextScripted(tokenizer), CONFIG, tokenizer)
    chunks, ranked = rag.retrieve(sample.question, sample.context)
    assert len(chunks) > 4
    assert sample.answers[0] in chunks[ranked[0]]
    messages, kept = rag.pack(sample.question, sample.context)
    assert sample.answers[0] in messages[-1]["content"]
    assert tokenizer.chat_token_count(messages) + CONFIG.budgets.output <= CONFIG.budgets.window
    assert kept < len(tokenizer.encode(sample.context))
