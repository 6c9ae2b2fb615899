"""Where documents come from: files of any size, stdin, directories of text files, strings.

Every source is read incrementally as blocks of text, so a multi-GB file never sits in memory.
Non-UTF-8 bytes are replaced (U+FFFD) with a warning naming the file, rather than refused: a few bad
bytes in a huge log should not stop a run. Binary files (NUL bytes in the first block) are refused.
"""

from __future__ import annotations

import codecs
import hashlib
import sys
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from memagent.errors import InputError

BLOCK_BYTES = 1 << 20  # 1 MiB per read: large enough for fast batched tokenization
TEXT_SUFFIXES = {".txt", ".md", ".rst", ".text", ".log", ".csv", ".json", ".jsonl", ".html", ".xml"}


class DecodeWarning(UserWarning):
    pass


@dataclass
class DocumentSource:
    """An ordered list of inputs ('-' is stdin). Iterating yields text blocks; fingerprint is updated."""

    inputs: list[str]
    _digest: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)
    replaced_bytes: int = 0

    @classmethod
    def from_args(cls, args: Iterable[str]) -> DocumentSource:
        files: list[str] = []
        for arg in args:
            if arg == "-":
                files.append(arg)
                continue
            path = Path(arg)
            if path.is_dir():
                found = sorted(
                    str(p)
                    for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
                )
                if not found:
                    raise InputError(
                        f"directory {path} has no text files ({', '.join(sorted(TEXT_SUFFIXES))})"
                    )
                files.extend(found)
            elif path.is_file():
                files.append(str(path))
            else:
                raise InputError(f"no such file or directory: {path}")
        if not files:
            raise InputError("no document given: pass a file, a directory or '-' for stdin")
        return cls(files)

    def fingerprint(self) -> str:
        """SHA-256 of the bytes read so far (complete once iteration finished)."""
        return self._digest.hexdigest()

    def __iter__(self) -> Iterator[str]:
        for name in self.inputs:
            if name == "-":
                yield from self._read(sys.stdin.buffer, "<stdin>")
            else:
                with open(name, "rb") as f:
                    yield from self._read(f, name)

    def _read(self, stream: BinaryIO, name: str) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        first = True
        replaced = 0
        while True:
            raw = stream.read(BLOCK_BYTES)
            if first and raw and b"\x00" in raw[:8192]:
                raise InputError(f"{name} looks binary (NUL bytes); give a text file")
            first = False
            self._digest.update(raw)
            text = decoder.decode(raw, final=not raw)
            replaced += text.count("\ufffd")
            if text:
                yield text
            if not raw:
                break
        if replaced:
            self.replaced_bytes += replaced
            warnings.warn(
                f"{name}: {replaced} invalid UTF-8 byte sequence(s) replaced with U+FFFD",
                DecodeWarning,
                stacklevel=2,
            )


def text_blocks(document: str | Iterable[str]) -> Iterable[str]:
    """Accept a whole string or any iterable of text blocks (a DocumentSource, a generator)."""
    if isinstance(document, str):
        return [document]
    return document
