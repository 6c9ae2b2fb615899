"""Where documents come from: files of any size, stdin, directories of text files, strings.

Every source is read incrementally as blocks of text, so a multi-GB file never sits in memory.
Non-UTF-8 bytes are replaced (U+FFFD) with a warning naming the file, rather than refused: a few bad
bytes in a huge log should not stop a run. Binary files are refused: every block is checked for NUL
bytes as it streams, and the error names the file and the byte offset of the first one.
`precheck()` refuses an empty or obviously binary document before any model is loaded.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from memagent.errors import InputError

BLOCK_BYTES = 1 << 20  # 1 MiB per read: large enough for fast batched tokenization
PRECHECK_BYTES = 64 << 20  # precheck() looks for NUL bytes in this much of each file
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
                if "-" in files:
                    raise InputError("stdin ('-') can be read only once: give it once")
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
            elif path.exists():
                raise InputError(f"{path} is not a regular file or directory")
            elif path.is_symlink():
                raise InputError(_dangling(path))
            else:
                raise InputError(f"no such file or directory: {path}")
        if not files:
            raise InputError("no document given: pass a file, a directory or '-' for stdin")
        return cls(files)

    def precheck(self) -> None:
        """Refuse an empty document, and binary files, before a model loads.

        Checks the first PRECHECK_BYTES (64 MiB) of each file for NUL bytes; stdin (not a
        terminal) is only peeked at, so nothing is consumed. NUL bytes further on are caught as
        the document streams."""
        empty = True
        for name in self.inputs:
            if name == "-":
                head = _peek_stdin()
                _check_text(head, "<stdin>", 0)
                empty = empty and not head
                continue
            offset = 0
            with _open(name) as f:
                while offset < PRECHECK_BYTES:
                    try:
                        raw = f.read(min(BLOCK_BYTES, PRECHECK_BYTES - offset))
                    except OSError as exc:
                        raise _unreadable(name, exc) from exc
                    if not raw:
                        break
                    _check_text(raw, name, offset)
                    offset += len(raw)
            empty = empty and not offset
        if empty:
            shown = "stdin" if self.inputs == ["-"] else ", ".join(self.inputs)
            raise InputError(f"the document is empty (0 bytes in {shown}): nothing to read")

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
            offset = 0
            try:
                with open(name, "rb") as f:
                    while raw := f.read(BLOCK_BYTES):
                        _check_text(raw, name, offset)
                        offset += len(raw)
                        hasher.update(raw)
            except OSError as exc:
                raise _unreadable(name, exc) from exc
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
                yield from self._blocks(_stdin(), "<stdin>", hasher)
                continue
            with _open(name) as f:
                yield from self._blocks(f, name, hasher)
        self._read = hasher.result()

    def _blocks(self, stream: BinaryIO, name: str, hasher: _Hasher) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        offset = 0
        replaced = 0
        while True:
            try:
                raw = stream.read(BLOCK_BYTES)
            except OSError as exc:
                raise _unreadable(name, exc) from exc
            _check_text(raw, name, offset)
            offset += len(raw)
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


def _check_text(raw: bytes, name: str, offset: int) -> None:
    """Refuse binary data: a NUL byte anywhere (`offset`: where `raw` starts in the file)."""
    at = raw.find(b"\x00")
    if at >= 0:
        raise InputError(
            f"{name} looks binary (a NUL byte at byte offset {offset + at}); give a text file"
        )


def _open(name: str) -> BinaryIO:
    try:
        return open(name, "rb")  # the caller closes it
    except OSError as exc:
        raise _unreadable(name, exc) from exc


def _unreadable(name: str, exc: OSError) -> InputError:
    return InputError(f"cannot read {name}: {exc.strerror or exc}")


def _dangling(path: Path) -> str:
    """Why a symlink leads nowhere: a loop, or a target that does not exist (`dangling_link`)."""
    try:
        path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 raises this for a loop
        return f"{path} is a symlink loop (it leads back to itself): point it at a file"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path} is a symlink loop (it leads back to itself): point it at a file"
    return f"{path} is a symlink to {os.readlink(path)}, which does not exist"


def dangling_link(path: str | Path) -> str | None:
    """For a path that does not exist: why, when it is a symlink (a loop, or its missing target),
    so that a message can say so instead of "not found"; None for a plain missing path."""
    path = Path(path).expanduser()
    return _dangling(path) if path.is_symlink() and not path.exists() else None


def _stdin() -> BinaryIO:
    """stdin's byte stream; a closed stdin (`<&-`) is an input error, not a crash."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise InputError("stdin is closed: nothing to read for '-' (pipe or redirect a document)")
    return stream  # type: ignore[no-any-return]


def _peek_stdin() -> bytes:
    """The first bytes waiting on stdin, without consuming them (b'' at end of input)."""
    stream = _stdin()
    peek = getattr(stream, "peek", None)
    if peek is None or sys.stdin.isatty():  # a user typing the document: nothing to check yet
        return b" "  # cannot look without reading: assume text, checked as it streams
    try:
        return bytes(peek(8192)[:8192])
    except (OSError, ValueError):
        return b" "


def text_blocks(document: str | Iterable[str]) -> Iterable[str]:
    """Accept a whole string or any iterable of text blocks (a DocumentSource, a generator)."""
    if isinstance(document, str):
        return [document]
    return document
