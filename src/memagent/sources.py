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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from memagent.errors import InputError

BLOCK_BYTES = 1 << 20  # 1 MiB per read: large enough for fast batched tokenization
TEXT_SUFFIXES = {".txt", ".md", ".rst", ".text", ".log", ".csv", ".json", ".jsonl", ".html", ".xml"}


class DecodeWarning(UserWarning):
    pass


@dataclass(frozen=True)
class Fingerprint:
    """What a document is, byte for byte: SHA-256 and size of its raw bytes, inputs concatenated."""

    sha256: str
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "bytes": self.bytes}

    @classmethod
    def from_json(cls, record: Any) -> Fingerprint | None:
        if not isinstance(record, dict) or "sha256" not in record or "bytes" not in record:
            return None
        return cls(str(record["sha256"]), int(record["bytes"]))

    def __str__(self) -> str:
        return f"{self.bytes} bytes, sha256 {self.sha256[:12]}"


class _Hasher:
    """Streamed SHA-256 and byte count."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def update(self, raw: bytes) -> None:
        self.digest.update(raw)
        self.size += len(raw)

    def result(self) -> Fingerprint:
        return Fingerprint(self.digest.hexdigest(), self.size)


@dataclass
class DocumentSource:
    """An ordered list of inputs ('-' is stdin). Iterating yields text blocks and, once an
    iteration has read everything, sets `fingerprint()` to what it read."""

    inputs: list[str]
    replaced_bytes: int = 0
    _read: Fingerprint | None = None

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

    def fingerprint(self) -> Fingerprint | None:
        """The bytes the last complete iteration read; None before one has completed."""
        return self._read

    def fingerprint_files(self) -> Fingerprint | None:
        """The document's fingerprint, read now from its files (raw bytes, streamed, nothing
        decoded or kept); None when it includes stdin, which can be read only once."""
        if "-" in self.inputs:
            return None
        hasher = _Hasher()
        for name in self.inputs:
            with open(name, "rb") as f:
                while raw := f.read(BLOCK_BYTES):
                    hasher.update(raw)
        return hasher.result()

    def read_fingerprint(self) -> Fingerprint | None:
        """Read the whole document now, stdin included (which is then used up), and fingerprint
        what was read."""
        for _ in self:
            pass
        return self._read

    def __iter__(self) -> Iterator[str]:
        hasher = _Hasher()
        for name in self.inputs:
            if name == "-":
                yield from self._blocks(sys.stdin.buffer, "<stdin>", hasher)
            else:
                with open(name, "rb") as f:
                    yield from self._blocks(f, name, hasher)
        self._read = hasher.result()

    def _blocks(self, stream: BinaryIO, name: str, hasher: _Hasher) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        first = True
        replaced = 0
        while True:
            raw = stream.read(BLOCK_BYTES)
            if first and raw and b"\x00" in raw[:8192]:
                raise InputError(f"{name} looks binary (NUL bytes); give a text file")
            first = False
            hasher.update(raw)
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
