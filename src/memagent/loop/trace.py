"""JSONL trace of a run, doubling as its checkpoint.

Line 1 is a header naming what the run depends on (question, budgets, sampling, templates,
model, and the document's fingerprint: SHA-256 and size of its bytes); then one line per step,
flushed and fsynced as it happens; a final line holds the answer and the fingerprint of the bytes
the run actually read. Restarting with the same trace skips the chunks already read (after checking
they are the same text) and continues from the last memory, so a killed run loses at most the step
in flight.

Resuming checks everything the header names, finished trace or not, and refuses with one line
naming what differs. Model names are compared without credentials and with loopback aliases
unified (`localhost` = `127.0.0.1`). A document read from stdin has no fingerprint up front: a
finished trace is then checked by reading stdin to its end, an unfinished one when reading ends.
Version-1 traces (no fingerprint) resume with a warning while unfinished (their chunk hashes still
prove the part already read) and are refused once finished (their answer cannot be tied to the
document).

One writer per trace: a run holds an OS lock on its trace while it reads and writes it
(`memagent.loop.tracelock`), so a second run on the same trace is refused with one line naming the
process that holds it; the lock of a process that died is gone with it. Each step and final record
carries a digest chained over the records before it (`memagent.loop.trace_records`, version 3), so
a memory edited in the file is refused on resume, naming the line; version-1 and -2 traces, which
have no digests, resume with a warning that an edit cannot be detected.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from memagent.config import AgentConfig, ResolvedBudgets
from memagent.errors import InputError
from memagent.loop.job import Job, ResumeState, Step
from memagent.loop.trace_records import (
    DIGEST_FROM,
    READABLE_VERSIONS,
    VERSION,
    chain_end,
    chained,
    check_link,
    check_record,
)
from memagent.loop.trace_records import short as _short
from memagent.loop.tracelock import TraceLock
from memagent.prompts import PromptTemplates
from memagent.sources import Fingerprint
from memagent.urls import canonical_urls, redact_urls

DocumentReader = Callable[[], Fingerprint | None]


class TraceWarning(UserWarning):
    pass


def _changed_reply_rules(templates: PromptTemplates) -> list[tuple[str, str]]:
    """The reply rules (keep word, empty-memory text, empty reply, hygiene) that differ from the
    default."""
    default = PromptTemplates()
    names = ("keep_reply", "empty_memory", "empty_reply", "hygiene", "decision", "answer_grounding")
    return [(n, str(getattr(templates, n))) for n in names
            if getattr(templates, n) != getattr(default, n)]


def run_identity(
    question: str,
    config: AgentConfig,
    budgets: ResolvedBudgets,
    model: str,
    document: Fingerprint | None = None,
) -> dict[str, Any]:
    """What a run depends on. `document` is None when it cannot be known up front (stdin)."""
    templates = config.templates
    digest = hashlib.sha256(
        "\x00".join(
            [templates.memory_update, templates.final_answer, templates.system or ""]
            # settings join the digest only when not their default, so older traces still resume
            + ([templates.answer_style] if templates.answer_style != "boxed" else [])
            + [f"{name}={value}" for name, value in _changed_reply_rules(templates)]
        ).encode()
    ).hexdigest()[:16]
    return {
        "question": question,
        "budgets": asdict(budgets),
        "sampling": asdict(config.sampling),
        "templates": digest,
        "model": redact_urls(model),
        "document": document.to_json() if document is not None else None,
    }


def read_trace(path: Path) -> tuple[dict[str, Any] | None, list[Step], dict[str, Any] | None]:
    """Header, memory steps (contiguous from chunk 0) and the final record, if any (with the
    answer's own step under "final_step" when the trace holds it).

    Every complete line must be a record this memagent writes (an object with a known type and
    the fields and field types of that type); anything else is an InputError naming the line."""
    chain: str | None = None  # the digest chain's end (None: a trace without digests)
    header: dict[str, Any] | None = None
    steps: list[Step] = []
    final: dict[str, Any] | None = None
    final_step: dict[str, Any] | None = None  # the answer's step: raw answer, its own usage
    try:
        f = path.open(encoding="utf-8")
    except OSError as exc:
        raise _unusable(path, exc) from exc
    with f:
        try:
            for lineno, line in enumerate(f, 1):
                if not line.endswith("\n"):
                    break  # a line cut by a kill mid-write: ignore it, the step will be redone
                record = check_record(path, lineno, line)
                kind = record.pop("type")
                if kind == "header":
                    header = record
                    if record.get("version") not in READABLE_VERSIONS:
                        break  # another format: open_trace names the version, nothing else
                    chain = "" if record["version"] >= DIGEST_FROM else None
                    continue
                chain = check_link(path, lineno, chain, kind, record)
                if kind == "step" and record["kind"] == "memory":
                    if record["index"] != len(steps):
                        raise InputError(f"{path}:{lineno}: step {record['index']} out of order")
                    steps.append(Step(**record))
                elif kind == "step":
                    final_step = record
                elif kind == "final":
                    final = record
        except UnicodeDecodeError as exc:
            raise InputError(f"{path} is not UTF-8 text, so not a memagent trace") from exc
        except OSError as exc:
            raise _unusable(path, exc) from exc
    if final is not None and final_step is not None:
        final = {**final, "final_step": final_step}  # for Result.from_json (--resume --json)
    return header, steps, final


def _unusable(path: Path, exc: OSError) -> InputError:
    if isinstance(exc, IsADirectoryError):
        return InputError(f"trace path {path} is a directory: give a file path for --trace")
    return InputError(f"cannot use trace {path}: {exc.strerror or exc}")


class TraceWriter:
    """Appends records durably. Use as the job's on_step callback.

    document: gives the fingerprint of the bytes read, once reading has ended (e.g.
    `DocumentSource.fingerprint`); it goes into the final record and must equal `expected`, the
    fingerprint the header (or the resumed trace) promised, or the answer is not written.
    """

    def __init__(
        self,
        path: Path,
        identity: dict[str, Any],
        truncate_to: int | None = None,
        document: DocumentReader | None = None,
        expected: Fingerprint | None = None,
    ):
        self.path = path
        self.document = document
        self.expected = expected
        self.lock: TraceLock | None = None  # held for the writer's life (open_trace's), if any
        self._chain: str | None = ""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not path.exists() or path.stat().st_size == 0
            self._file: IO[str] = path.open("a", encoding="utf-8")
            if truncate_to is not None:
                self._file.truncate(truncate_to)
                self._chain = chain_end(path.read_bytes()[:truncate_to])
            if fresh:
                self._write({"type": "header", "version": VERSION, **identity})
        except OSError as exc:
            raise _unusable(path, exc) from exc

    def _write(self, record: dict[str, Any]) -> None:
        if self._chain is not None:
            record, self._chain = chained(self._chain, record)
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def __call__(self, job: Job, step: Step) -> None:
        final = job.done and job.extraction is not None
        read = self.document() if final and self.document is not None else None
        if read is not None and self.expected is not None and read != self.expected:
            raise InputError(
                f"trace {self.path} was written for a different document ({self.expected}; "
                f"this one: {read}); use a new --trace path"
            )
        self._write({"type": "step", **step.to_json()})
        if final:
            record = job.result().trace_record()
            self._write(
                {"type": "final", **record, "document": read.to_json() if read is not None else None}
            )

    def close(self) -> None:
        self._file.close()
        if self.lock is not None:
            self.lock.close()
            self.lock = None


def _valid_prefix_bytes(path: Path) -> int:
    """Length of the file up to its last complete line, so a torn last line is dropped."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _unusable(path, exc) from exc
    return data.rfind(b"\n") + 1


def _difference(key: str, old: Any, new: Any) -> str | None:
    """What differs between the trace's value of `key` and this run's, or None if they agree."""
    if key == "model":
        if canonical_urls(redact_urls(str(old))) == canonical_urls(redact_urls(new)):
            return None
        return f"model (trace: {_short(redact_urls(str(old)))}; this run: {_short(new)})"
    new = json.loads(json.dumps(new))
    if new == old:
        return None
    if isinstance(old, dict) and isinstance(new, dict):
        fields = [
            f"{k} {old.get(k)} vs {new.get(k)}"
            for k in sorted(old.keys() | new.keys())
            if old.get(k) != new.get(k)
        ]
        return f"{key} (trace vs this run: {', '.join(fields)})"
    if key == "templates":
        return "prompts (templates, keep word, empty-memory text, empty-reply rule, hygiene)"
    return f"{key} (trace: {_short(old)}; this run: {_short(new)})"


def check_trace_file(
    path: Path, resume: bool, locked: bool = False
) -> tuple[dict[str, Any], list[Step], dict[str, Any] | None] | None:
    """What can be checked of a trace before the run it belongs to is known: that the path can be
    a trace, that an existing one is resumed (not overwritten) and is a trace this memagent reads.
    Returns None for a trace still to be written, else its header, steps and final record."""
    if path.is_dir():
        raise InputError(f"trace path {path} is a directory: give a file path for --trace")
    if path.exists() and not locked:
        TraceLock.acquire(path).close()  # in use by another run: refused before any work
    if not path.exists() or path.stat().st_size == 0:
        return None
    if not resume:
        raise InputError(
            f"trace {path} already exists: pass --resume to continue it, or a new path"
        )
    header, steps, final = read_trace(path)
    if header is None:
        raise InputError(f"{path} has no memagent trace header")
    version = header.get("version")
    if version not in READABLE_VERSIONS:
        raise InputError(
            f"trace {path} has version {version!r}, which this memagent cannot read "
            f"(it reads {', '.join(map(str, READABLE_VERSIONS))}); use a new --trace path"
        )
    return header, steps, final


def open_trace(
    path: Path,
    identity: dict[str, Any],
    resume: bool,
    document: DocumentReader | None = None,
    read_document: DocumentReader | None = None,
) -> tuple[TraceWriter | None, ResumeState | None, dict[str, Any] | None]:
    """Open a trace for writing; with resume, check it matches this run and return where to restart.

    Returns (writer, resume state, final record). A trace that is already complete returns no
    writer and its final record, so re-running a finished job costs nothing. The trace is locked
    (`TraceLock`) before it is read, and stays locked until the writer is closed.

    document: the fingerprint of what the run read, once reading ended (for the final record);
    read_document: reads the whole document now and fingerprints it, for a finished trace whose
    identity has no fingerprint up front (stdin, used up by it).
    """
    lock = TraceLock.acquire(path)
    try:
        writer, state, final = _open_locked(path, identity, resume, document, read_document)
    except BaseException:
        lock.close()
        raise
    if writer is None:
        lock.close()
    else:
        writer.lock = lock
    return writer, state, final


def _open_locked(
    path: Path,
    identity: dict[str, Any],
    resume: bool,
    document: DocumentReader | None,
    read_document: DocumentReader | None,
) -> tuple[TraceWriter | None, ResumeState | None, dict[str, Any] | None]:
    current = Fingerprint.from_json(identity.get("document"))
    checked = check_trace_file(path, resume, locked=True)
    if checked is None:
        return TraceWriter(path, identity, document=document, expected=current), None, None
    header, steps, final = checked
    version = header.pop("version")
    for key, value in identity.items():
        if key == "document":
            continue
        differs = _difference(key, header.get(key), value)
        if differs is not None:
            raise InputError(
                f"trace {path} was written for a different {differs}; resume needs the same "
                "document, question, model, budgets, sampling and prompts (or a new --trace path)"
            )
    expected = Fingerprint.from_json((final or {}).get("document")) or Fingerprint.from_json(
        header.get("document")
    )
    if expected is None and final is not None:
        older = " (written by an older memagent)" if version == 1 else ""
        raise InputError(
            f"trace {path} holds no fingerprint of its document{older}, so its answer cannot be "
            "checked against this document; use a new --trace path"
        )
    if version < DIGEST_FROM:
        warnings.warn(
            f"trace {path} is version {version}, written before record digests: an edit of its "
            "memories cannot be detected (new traces carry them)",
            TraceWarning,
            stacklevel=3,
        )
    if expected is None and version == 1:
        warnings.warn(
            f"trace {path} predates document fingerprints: only the chunks it already read are "
            "checked against this document",
            TraceWarning,
            stacklevel=2,
        )
    if current is None and final is not None and read_document is not None:
        current = read_document()
    if final is not None and current is None:
        raise InputError(f"trace {path} is finished but the document to check it against is unknown")
    if expected is not None and current is not None and expected != current:
        raise InputError(
            f"trace {path} was written for a different document ({expected}; this one: "
            f"{current}); use a new --trace path"
        )
    memory = steps[-1].memory if steps else ""
    if final is not None:
        return None, ResumeState(memory, steps), final
    writer = TraceWriter(
        path, identity, _valid_prefix_bytes(path), document=document, expected=expected
    )
    return writer, ResumeState(memory, steps), None
