"""Streaming, token-exact chunking over the model's own tokenizer.

Text arrives in blocks of any size; we tokenize it in batches with the fast (Rust) tokenizer and
cut chunks of exactly `chunk_tokens` tokens (the last may be shorter). Chunk texts are slices of
the original text, so their concatenation is the document, byte for byte.

Block boundaries are moved to the start of a whitespace run that follows a non-space character:
byte-level BPE and SentencePiece pre-tokenizers never merge across that point, so tokenizing the
stream piecewise gives the same tokens as tokenizing the whole document at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from memagent.types import Tokenizer

PIECE_CHARS = 1 << 16  # tokenizer batch items: ~16K tokens each, parallel in Rust
MAX_CARRY_CHARS = 1 << 22  # a 4 MiB run with no whitespace is cut anyway rather than held forever
_SEAM_TRIES = 8  # center_truncate: tail starts tried before giving up on the tail


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    n_tokens: int
    start_token: int
    end_char: int  # characters of the document consumed up to the end of this chunk


def safe_cut(text: str, limit: int | None = None) -> int:
    """Largest i <= limit where text[i] starts a whitespace run after a non-space char, else 0."""
    end = len(text) if limit is None else min(limit, len(text))
    i = max(text.rfind(" ", 0, end), text.rfind("\n", 0, end), text.rfind("\t", 0, end))
    while i > 0 and text[i - 1].isspace():
        i -= 1
    return max(i, 0)


def _pieces(text: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    while len(text) - start > PIECE_CHARS:
        cut = safe_cut(text, start + PIECE_CHARS)
        if cut <= start:
            cut = start + PIECE_CHARS
        pieces.append(text[start:cut])
        start = cut
    if start < len(text):
        pieces.append(text[start:])
    return pieces


class _TokenBuffer:
    """Tokenized text not yet emitted: the text, token ids and each token's end offset."""

    def __init__(self) -> None:
        self.text = ""
        self.ids = np.zeros(0, dtype=np.int64)
        self.ends = np.zeros(0, dtype=np.int64)

    def extend(self, text: str, tokenizer: Tokenizer) -> None:
        if not text:
            return
        base = len(self.text)
        pieces = _pieces(text)
        encoded = tokenizer.encode_batch_offsets(pieces)
        ids_parts, ends_parts = [self.ids], [self.ends]
        offset = base
        for piece, (ids, offsets) in zip(pieces, encoded, strict=True):
            if ids:
                ids_parts.append(np.asarray(ids, dtype=np.int64))
                ends_parts.append(np.asarray([e for _, e in offsets], dtype=np.int64) + offset)
            offset += len(piece)
        self.text += text
        self.ids = np.concatenate(ids_parts)
        self.ends = np.concatenate(ends_parts)
        if len(self.ends):
            self.ends[-1] = len(self.text)  # trailing characters belong to the last token's chunk

    def take(self, n: int) -> tuple[str, int]:
        """Remove the first n tokens; returns their text and count."""
        n = min(n, len(self.ids))
        cut = int(self.ends[n - 1]) if n < len(self.ids) else len(self.text)
        chunk = self.text[:cut]
        self.text = self.text[cut:]
        self.ids = self.ids[n:]
        self.ends = self.ends[n:] - cut
        return chunk, n


def iter_chunks(blocks: Iterable[str], tokenizer: Tokenizer, chunk_tokens: int) -> Iterator[Chunk]:
    """Yield token-exact chunks from a stream of text blocks, holding O(block) text in memory."""
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be >= 1, got {chunk_tokens}")
    buffer = _TokenBuffer()
    carry = ""
    index = start_token = consumed = 0

    def drain(final: bool) -> Iterator[Chunk]:
        nonlocal index, start_token, consumed
        while len(buffer.ids) > chunk_tokens or (final and len(buffer.ids)):
            # Keep one token back unless final, so trailing text joins the right chunk.
            text, n = buffer.take(chunk_tokens)
            consumed += len(text)
            yield Chunk(index, text, n, start_token, consumed)
            index += 1
            start_token += n

    for block in blocks:
        text = carry + block
        cut = safe_cut(text)
        if cut == 0 and len(text) > MAX_CARRY_CHARS:
            cut = len(text)
        head, carry = text[:cut], text[cut:]
        buffer.extend(head, tokenizer)
        yield from drain(final=False)
    buffer.extend(carry, tokenizer)
    yield from drain(final=True)
    if buffer.text:  # a document the tokenizer maps to no tokens at all (e.g. only control chars)
        yield Chunk(index, buffer.text, 0, start_token, consumed + len(buffer.text))


def center_truncate(text: str, tokenizer: Tokenizer, max_tokens: int) -> str:
    """The first and the last max_tokens // 2 tokens of text, joined; text itself if it has at most
    max_tokens tokens. verl's `center` truncation, which the release applies to every training and
    validation context (max_chunks x chunk = 40000 tokens): both halves are max_tokens // 2, so an
    odd budget keeps one token fewer. The halves are slices of the original text cut where
    iter_chunks cuts, so the head is exactly the first chunks of the untruncated document."""
    if max_tokens < 2:
        raise ValueError(f"max_tokens must be >= 2 (a head and a tail), got {max_tokens}")
    buffer = _TokenBuffer()
    buffer.extend(text, tokenizer)
    n, half = len(buffer.ids), max_tokens // 2
    if n <= max_tokens:
        return text
    head = text[: int(buffer.ends[half - 1])]  # token i is text[ends[i - 1]:ends[i]]
    # Joined, the two seam tokens may tokenize differently: one fewer when they merge (fine), one
    # more when they split a character. More would cost a whole extra chunk (a memory-update turn
    # on a token or two), so the tail then starts a token later.
    for first in range(n - half, min(n, n - half + _SEAM_TRIES)):
        joined = head + text[int(buffer.ends[first - 1]) :]
        if count_tokens([joined], tokenizer) <= 2 * half:
            return joined
    return head


def count_tokens(blocks: Iterable[str], tokenizer: Tokenizer) -> int:
    """Total tokens of a streamed document, with the same piecewise tokenization as iter_chunks."""
    return sum(c.n_tokens for c in iter_chunks(blocks, tokenizer, 1 << 30))
