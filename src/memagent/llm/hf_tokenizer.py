"""The model's own tokenizer, wrapped to the core's `Tokenizer` protocol.

Counting and chunking use the Rust `tokenizers` library directly (batched, parallel, with
character offsets); the chat template comes from transformers so prompts are counted exactly as
the model sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from memagent.errors import ModelNotFound
from memagent.types import Message


class HFTokenizer:
    """A Hugging Face tokenizer directory (tokenizer.json + chat template)."""

    def __init__(self, hf_tokenizer: Any, fast: Any | None = None) -> None:
        self.hf = hf_tokenizer
        # The Rust tokenizer behind a fast transformers tokenizer; batch encoding runs in parallel.
        self.fast = fast if fast is not None else getattr(hf_tokenizer, "_tokenizer", None)
        if self.fast is None:
            raise ModelNotFound("memagent needs a fast (Rust) tokenizer: tokenizer.json is missing")
        self.eos_token_id: int | None = hf_tokenizer.eos_token_id

    @classmethod
    def from_dir(cls, path: str | Path) -> HFTokenizer:
        from transformers import AutoTokenizer

        try:
            hf = AutoTokenizer.from_pretrained(str(path))
        except (OSError, ValueError) as exc:
            raise ModelNotFound(f"no usable tokenizer at {path}: {exc}") from exc
        return cls(hf)

    def encode(self, text: str) -> list[int]:
        return list(self.fast.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.fast.decode(list(ids), skip_special_tokens=True))

    def encode_batch_offsets(
        self, texts: Sequence[str]
    ) -> list[tuple[list[int], list[tuple[int, int]]]]:
        encodings = self.fast.encode_batch(list(texts), add_special_tokens=False)
        return [(list(e.ids), list(e.offsets)) for e in encodings]

    def chat_ids(self, messages: Sequence[Message]) -> list[int]:
        """Prompt token ids with the chat template and the assistant generation prompt."""
        text = self.render_chat(messages)
        return self.encode(text)

    def render_chat(self, messages: Sequence[Message]) -> str:
        if getattr(self.hf, "chat_template", None):
            return str(
                self.hf.apply_chat_template(
                    list(messages), tokenize=False, add_generation_prompt=True
                )
            )
        # No template (base models): plain concatenation, so budgets still hold.
        return "\n\n".join(m["content"] for m in messages) + "\n\n"

    def chat_token_count(self, messages: Sequence[Message]) -> int:
        return len(self.chat_ids(messages))


@lru_cache(maxsize=4)
def load_tokenizer(path: str) -> HFTokenizer:
    """Cached per path: loading a tokenizer takes seconds and tests ask for it often."""
    return HFTokenizer.from_dir(path)
