"""JSONL trace of a run, doubling as its checkpoint.

Line 1 is a header naming what the run depends on (question, budgets, sampling, templates,
model); then one line per step, flushed and fsynced as it happens; a final line holds the answer.
Restarting with the same trace skips the chunks already read (after checking they are the same
text) and continues from the last memory, so a killed run loses at most the step in flight.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from memagent.agent import Job, ResumeState, Step
from memagent.config import AgentConfig, ResolvedBudgets
from memagent.errors import InputError

VERSION = 1


def run_identity(
    question: str, config: AgentConfig, budgets: ResolvedBudgets, model: str
) -> dict[str, Any]:
    templates = config.templates
    digest = hashlib.sha256(
        "\x00".join(
            [templates.memory_update, templates.final_answer, templates.system or ""]
        ).encode()
    ).hexdigest()[:16]
    return {
        "question": question,
        "budgets": asdict(budgets),
        "sampling": asdict(config.sampling),
        "templates": digest,
        "model": model,
    }


def read_trace(path: Path) -> tuple[dict[str, Any] | None, list[Step], dict[str, Any] | None]:
    """Header, memory steps (contiguous from chunk 0) and the final record, if any."""
    header: dict[str, Any] | None = None
    steps: list[Step] = []
    final: dict[str, Any] | None = None
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.endswith("\n"):
                break  # a line cut by a kill mid-write: ignore it, the step will be redone
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not a memagent trace line ({exc})") from exc
            kind = record.pop("type", None)
            if kind == "header":
                header = record
            elif kind == "step" and record.get("kind") == "memory":
                if record["index"] != len(steps):
                    raise InputError(f"{path}:{lineno}: step {record['index']} out of order")
                steps.append(Step(**record))
            elif kind == "final":
                final = record
    return header, steps, final


class TraceWriter:
    """Appends records durably. Use as the job's on_step callback."""

    def __init__(self, path: Path, identity: dict[str, Any], truncate_to: int | None = None):
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists() or path.stat().st_size == 0
        self._file: IO[str] = path.open("a", encoding="utf-8")
        if truncate_to is not None:
            self._file.truncate(truncate_to)
        if fresh:
            self._write({"type": "header", "version": VERSION, **identity})

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def __call__(self, job: Job, step: Step) -> None:
        self._write({"type": "step", **step.to_json()})
        if job.done and job.extraction is not None:
            result = job.result()
            self._write(
                {
                    "type": "final",
                    "answer": result.answer,
                    "rule": result.rule.value,
                    "document_tokens": result.document_tokens,
                    "usage": {
                        "prompt_tokens": result.usage.prompt_tokens,
                        "completion_tokens": result.usage.completion_tokens,
                    },
                }
            )

    def close(self) -> None:
        self._file.close()


def _valid_prefix_bytes(path: Path) -> int:
    """Length of the file up to its last complete line, so a torn last line is dropped."""
    data = path.read_bytes()
    return data.rfind(b"\n") + 1


def open_trace(
    path: Path, identity: dict[str, Any], resume: bool
) -> tuple[TraceWriter | None, ResumeState | None, dict[str, Any] | None]:
    """Open a trace for writing; with resume, check it matches this run and return where to restart.

    Returns (writer, resume state, final record). A trace that is already complete returns no
    writer and its final record, so re-running a finished job costs nothing.
    """
    if not path.exists() or path.stat().st_size == 0:
        return TraceWriter(path, identity), None, None
    if not resume:
        raise InputError(
            f"trace {path} already exists: pass --resume to continue it, or a new path"
        )
    header, steps, final = read_trace(path)
    if header is None:
        raise InputError(f"{path} has no memagent trace header")
    header.pop("version", None)
    for key, value in identity.items():
        if json.loads(json.dumps(value)) != header.get(key):
            raise InputError(
                f"trace {path} was written for a different {key}; resume needs the same question, "
                "model, budgets, sampling and prompts (or use a new --trace path)"
            )
    memory = steps[-1].memory if steps else ""
    if final is not None:
        return None, ResumeState(memory, steps), final
    writer = TraceWriter(path, identity, truncate_to=_valid_prefix_bytes(path))
    return writer, ResumeState(memory, steps), None
