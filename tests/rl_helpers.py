"""Helpers for the RL tests: a scripted policy with token ids and log-probs, a tiny random model.

The scripted policy is for control flow only (episode building, dynamic sampling); it is never
evidence that training works. The tiny random Llama uses the embedded model's real tokenizer so
the trainer, checkpoints and `TransformersLLM.load` run exactly as with the real model, in seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from memagent.types import ChatRequest, Completion, SamplingParams
from scripted import ScriptedLLM


class ScriptedPolicy(ScriptedLLM):
    """ScriptedLLM plus what RL needs (ids, log-probs); `correct(question, n)` decides answers.

    n counts final-answer requests per question (0, 1, 2, ...), so a rule like `n % 2 == 0`
    gives a group mixed rewards.
    """

    def __init__(self, tokenizer: Any, correct: Callable[[str, int], bool]) -> None:
        super().__init__(tokenizer)
        self.correct = correct
        self.finals: dict[str, int] = {}

    def generate(
        self, requests: Sequence[ChatRequest], sampling: SamplingParams
    ) -> list[Completion]:
        out = super().generate(requests, sampling)
        for req, c in zip(requests, out, strict=True):
            text = req.messages[-1]["content"]
            if "<section>" not in text:
                question = re.search(r"<problem>\n(.*?)\n</problem>", text, re.S)
                q = question.group(1) if question else ""
                n = self.finals.get(q, 0)
                self.finals[q] = n + 1
                if not self.correct(q, n):
                    c.text = "The answer is \\boxed{0000000}."
            ids = self.tokenizer.encode(c.text)[: req.max_tokens]
            c.completion_tokens = len(ids)
            c.prompt_token_ids = self.tokenizer.chat_ids(req.messages)
            c.completion_token_ids = ids
            c.logprobs = [-0.5] * len(ids)
        return out


def tiny_llama(vocab_size: int, tokenizer: Any = None, **overrides: Any) -> Any:
    """The one tiny random Llama of the tests (2 layers, width 32): exercises real model code in
    seconds. With `tokenizer` (an HFTokenizer) its special tokens are the model's."""
    from transformers import LlamaConfig, LlamaForCausalLM

    settings: dict[str, Any] = dict(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
    )  # fmt: skip
    if tokenizer is not None:
        settings.update(
            tie_word_embeddings=True,
            bos_token_id=tokenizer.hf.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.hf.pad_token_id,
        )
    return LlamaForCausalLM(LlamaConfig(**{**settings, **overrides}))


def tiny_model_dir(tokenizer: Any, out: Path, seed: int = 0) -> Path:
    """`tiny_llama` over the embedded model's tokenizer, saved as an HF directory (the conftest
    fixture `tiny_llama_dir`)."""
    import torch

    torch.manual_seed(seed)
    tiny_llama(len(tokenizer.hf), tokenizer).save_pretrained(str(out))
    tokenizer.hf.save_pretrained(str(out))
    return out
