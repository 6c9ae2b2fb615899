"""Prompt-lookup greedy decoding (llm/lookup_decode.py): drafts, and replies equal to transformers'
greedy `generate` (a tiny random Llama in float32 for the batch plumbing; the real embedded model,
slow, for the replies that matter)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from memagent.llm.lookup_decode import Stats, draft, lookup_generate
from memagent.types import ChatRequest, SamplingParams


def test_draft_takes_what_followed_the_longest_latest_ngram() -> None:
    tokens = np.array([5, 1, 2, 3, 9, 9, 1, 2, 3, 7, 8, 4, 1, 2, 3])
    assert draft(tokens, size=3) == [7, 8, 4]  # (1, 2, 3) last seen before the tail: then 7, 8, 4
    assert draft(np.array([1, 2, 6, 2, 9, 4, 3, 2]), size=2) == [9, 4]  # no 3-gram: latest 2
    assert draft(np.array([1, 2, 3, 4]), size=4) == []  # 4 occurs nowhere before
    assert draft(np.array([7, 1, 2, 3, 1, 2]), size=8) == [3, 1, 2]  # up to the end, no further
    assert draft(np.array([3]), size=4) == []


def test_draft_looks_in_earlier_replies_after_the_prompt() -> None:
    reply = np.array([40, 41, 70, 71, 2])  # the prompt's last tokens, then a reply
    assert draft(np.array([9, 9, 40, 41, 70]), [reply], size=4) == [71, 2]
    own = np.array([40, 41, 70, 5, 9, 40, 41, 70])  # the row's own tokens come first
    assert draft(own, [reply], size=4) == [5, 9, 40, 41]


def _tiny(tokenizer: Any, lookup: bool, seed: int = 0) -> Any:
    import torch

    from memagent.llm.transformers_backend import TransformersLLM
    from rl_helpers import tiny_llama

    torch.manual_seed(seed)
    model = tiny_llama(len(tokenizer.hf), tokenizer, initializer_range=0.4).eval()  # varied replies
    return TransformersLLM(model, tokenizer, "tiny", prefix_reuse=True, lookup=lookup)


def _requests(max_tokens: int) -> list[ChatRequest]:
    from memagent.prompts import PromptTemplates

    t = PromptTemplates()
    chunks = ["The grass is green. " * 12 + "The magic number is 4821937.", "Nothing here. " * 30,
              "A B C D A B C D A B C D " * 6]
    return [ChatRequest(t.memory_update_messages(q, m, c), max_tokens)
            for q in ("What is the magic number?", "Who is the mayor of the town?")
            for m in ("", "Some memory.") for c in chunks]


def _stop_token(replies: list[list[int]]) -> int:
    """A token some replies have after their first two tokens and others never have, so that
    as a stop token it ends rows at different steps (any token for one-token replies)."""
    for reply in replies:
        for token in reply[2:]:
            if any(token not in other[:2] for other in replies) and any(
                token not in other for other in replies
            ):
                return token
    return replies[0][0]


@pytest.mark.parametrize("max_tokens", [1, 2, 17, 40])
def test_replies_equal_generate_on_a_tiny_model(tokenizer: Any, max_tokens: int) -> None:
    """Batched, with prompt-prefix caches, rows finishing at different steps (a frequent token
    made a stop token) and every budget from the prompt pass's token alone up: greedy's replies."""
    plain, lookup = _tiny(tokenizer, lookup=False), _tiny(tokenizer, lookup=True)
    lookup.model = plain.model
    assert lookup.prefix is not None and plain.prefix is not None
    lookup.prefix.model = plain.model
    requests = _requests(max_tokens)
    greedy = SamplingParams()
    expected = plain.generate(requests, greedy)
    replies = [c.completion_token_ids for c in expected]
    for llm in (plain, lookup):
        llm.stop_ids = {*llm.stop_ids, _stop_token(replies)}
    expected = [c.completion_token_ids for c in plain.generate(requests, greedy)]
    got = lookup.generate(requests, greedy)
    assert [c.completion_token_ids for c in got] == expected
    if max_tokens >= 17:
        assert "stop" in {c.finish_reason for c in got}
        assert len({len(ids) for ids in expected}) > 1  # rows end apart
    # again: now every row's draft comes from the replies just given, and is taken
    again = lookup.generate(requests, greedy)
    assert [c.completion_token_ids for c in again] == expected
    if max_tokens >= 2:
        assert lookup.lookup_stats.accepted > 0


def test_a_draft_is_checked_in_the_prompt_pass(tokenizer: Any) -> None:
    """A reply seen before is drafted after the prompt: a repeat of it costs one pass."""
    llm = _tiny(tokenizer, lookup=True)
    request = _requests(6)[0]
    first = llm.generate([request], SamplingParams())[0]
    before = llm.lookup_stats.passes
    again = llm.generate([request], SamplingParams())[0]
    assert again.completion_token_ids == first.completion_token_ids
    assert llm.lookup_stats.passes - before == 1


def test_sampler_picks_by_the_inverse_cdf_of_the_distribution() -> None:
    """A uniform number per position picks its token: distributed as p, never a token of no
    mass (the ends of [0, 1) included), and the same number the same token."""
    import torch

    from memagent.llm.lookup_decode import Sampler

    p = [0.5, 0.3, 0.0, 0.2, 0.0]
    logits = torch.log(torch.tensor([p]))
    sampler = Sampler(1.0)
    u = torch.rand(20000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    picks = [sampler.pick(logits, u[i : i + 1])[0] for i in range(len(u))]
    assert np.abs(np.bincount(picks, minlength=5) / len(u) - p).max() < 0.015
    edges = torch.tensor([0.0, 0.5, 0.81, 1.0 - 1e-12], dtype=torch.float64)
    assert sampler.pick(logits.expand(4, 5), edges) == [0, 1, 3, 3]


def test_sampler_nucleus_matches_transformers_top_p() -> None:
    import torch
    from transformers.generation.logits_process import TopPLogitsWarper

    from memagent.llm.lookup_decode import Sampler

    logits = torch.randn(3, 50, generator=torch.Generator().manual_seed(1)) * 3
    for top_p in (0.3, 0.8, 0.95):
        ours = Sampler(0.7, top_p).probs(logits)
        warped = TopPLogitsWarper(top_p)(None, logits / 0.7)
        assert torch.allclose(ours, torch.softmax(warped, dim=-1), atol=1e-6)


def test_sampled_replies_repeat_by_seed_and_carry_the_models_logprobs(tokenizer: Any) -> None:
    """Through the backend, sampled with a seed per request (a batch, prefix caches, drafts from
    earlier replies): the same seed gives the same reply whatever was drafted and whatever else
    is in the batch, and each token's log-prob is the raw model's at that position of prompt +
    reply (what the RL loss recomputes)."""
    import torch

    llm = _tiny(tokenizer, lookup=True)
    requests = [ChatRequest(r.messages, 24, seed=5 + i, want_logprobs=True)
                for i, r in enumerate(_requests(24)[:4])]
    sampling = SamplingParams(temperature=1.0)
    first = llm.generate(requests, sampling)
    again = llm.generate(requests, sampling)  # now drafted from the replies just given
    assert [c.completion_token_ids for c in again] == [c.completion_token_ids for c in first]
    assert llm.lookup_stats.accepted > 0
    alone = llm.generate(requests[2:3], sampling)[0]  # a request's seed, whatever its batch
    assert alone.completion_token_ids == first[2].completion_token_ids
    for c in first:
        ids = torch.as_tensor([c.prompt_token_ids + c.completion_token_ids])
        with torch.inference_mode():
            lp = torch.log_softmax(llm.model(input_ids=ids).logits[0].float(), dim=-1)
        n = len(c.prompt_token_ids)
        expected = [lp[n - 1 + j, t].item() for j, t in enumerate(c.completion_token_ids)]
        assert c.logprobs is not None and np.allclose(c.logprobs, expected, atol=1e-4)


def test_lookup_generate_counts_its_passes_and_tokens(tokenizer: Any) -> None:
    from memagent.llm.padding import left_pad

    llm = _tiny(tokenizer, lookup=False)
    prompts = [llm.tokenizer.chat_ids(r.messages) for r in _requests(30)[:3]]
    ids, mask = left_pad(prompts, llm.pad_id)
    stats = Stats()
    replies = [r for r, _ in lookup_generate(llm.model, ids, mask, prompts, 30, set(), stats=stats)]
    assert [len(r) for r in replies] == [30, 30, 30]
    assert stats.passes <= 30 and stats.accepted <= stats.drafted
    # every token is greedy's own or an accepted draft token: 1 per pass and row, or accepted
    assert sum(len(r) for r in replies) <= 3 * stats.passes + stats.accepted


@pytest.mark.slow
def test_real_memory_replies_equal_plain_greedy_in_fewer_passes(embedded_llm: Any) -> None:
    """The embedded agent's own replies on README's example (a KEEP run and the needle's chunk
    copied out), batched: the plain decoder's tokens, in fewer passes than tokens."""
    from pathlib import Path

    from memagent.llm.setup import resolve_setup

    doc = (Path(__file__).parents[2] / "examples" / "needle-8k.txt").read_text()
    question = "What is the special magic number for crystal-mango mentioned in the provided text?"
    agent = resolve_setup().agent(embedded_llm)
    at = doc.find("crystal-mango")
    requests = [agent.job(doc[start:], question).next_request()
                for start in (max(at - 600, 0), 0, len(doc) // 2)]
    greedy = SamplingParams()
    embedded_llm.lookup = False
    try:
        plain = [c.completion_token_ids for c in embedded_llm.generate(requests, greedy)]
    finally:
        embedded_llm.lookup = True
    before = embedded_llm.lookup_stats.passes
    got = [c.completion_token_ids for c in embedded_llm.generate(requests, greedy)]
    assert got == plain
    assert embedded_llm.lookup_stats.passes - before < max(len(ids) for ids in plain)


def _ask(args: list[str], tmp_path: Any) -> Any:
    import subprocess
    import sys

    doc = tmp_path / "doc.txt"
    doc.write_text("The grass is green. The key is 4821937. The sky is blue.\n")
    return subprocess.run(
        [sys.executable, "-m", "memagent.cli", "ask", str(doc), "-q", "What is the key?",
         "--output", "8", "--memory", "16", "--json", *args],
        capture_output=True, text=True, timeout=300,
    )


def test_cli_decoding_option_names_itself_and_keeps_greedy_replies(
    tiny_llama_dir: Any, tmp_path: Any
) -> None:
    import json

    runs = {d: _ask(["--model", str(tiny_llama_dir), "--decoding", d], tmp_path)
            for d in ("lookup", "plain")}
    for proc in runs.values():
        assert proc.returncode == 0, proc.stderr
    assert "(torch engine, float32, prompt-lookup decoding) ready" in runs["lookup"].stderr
    assert "(torch engine, float32) ready" in runs["plain"].stderr
    answers = {d: json.loads(p.stdout) for d, p in runs.items()}
    assert answers["lookup"]["answer"] == answers["plain"]["answer"]


def test_cli_refuses_an_unknown_decoding_in_one_line(tmp_path: Any) -> None:
    proc = _ask(["--decoding", "beam"], tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert "unknown decoding 'beam': use auto, lookup or plain" in proc.stderr
    assert "Traceback" not in proc.stderr
