"""Documents and jobs in SQLite (WAL), their files under the data directory.

Ids are made here (`doc-`/`job-` + 24 hex digits) and checked against that pattern before any
lookup, so an id never becomes a path: a document's file is `documents/<id>.txt` and a job's traces
`traces/<id>.jsonl` (`.qN.jsonl` for several questions), both built from a checked id only.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ID = re.compile(r"^(doc|job)-[0-9a-f]{24}$")
UNFINISHED = ("queued", "running")

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, bytes INTEGER NOT NULL, tokens INTEGER NOT NULL,
  created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, document_id TEXT NOT NULL REFERENCES documents(id),
  questions TEXT NOT NULL, status TEXT NOT NULL, error TEXT, answers TEXT,
  created REAL NOT NULL, finished REAL);
"""


def new_id(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(12)}"


def valid_id(value: str, kind: str) -> bool:
    return ID.match(value) is not None and value.startswith(kind + "-")


@dataclass
class JobRow:
    id: str
    document_id: str
    questions: list[str]
    status: str
    error: str | None
    answers: list[dict[str, Any]] | None
    created: float
    finished: float | None


class Store:
    """One SQLite database, used from the server's threads under one lock."""

    def __init__(self, root: Path):
        self.root = root
        for sub in ("documents", "traces", "uploads"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        for part in (root / "uploads").glob("*.part"):  # uploads cut short by a stop
            part.unlink(missing_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(root / "memagent.db", check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- documents ---------------------------------------------------------------------------
    def document_path(self, doc_id: str) -> Path:
        assert valid_id(doc_id, "doc")
        return self.root / "documents" / f"{doc_id}.txt"

    def upload_path(self) -> Path:
        return self.root / "uploads" / f"{secrets.token_hex(12)}.part"

    def add_document(self, doc_id: str, name: str, size: int, tokens: int) -> None:
        self._run("INSERT INTO documents VALUES (?, ?, ?, ?, ?)",
                  (doc_id, name, size, tokens, time.time()))

    def document(self, doc_id: str) -> dict[str, Any] | None:
        if not valid_id(doc_id, "doc"):
            return None
        rows = self._run("SELECT id, name, bytes, tokens, created FROM documents WHERE id = ?",
                         (doc_id,))
        if not rows:
            return None
        i, name, size, tokens, created = rows[0]
        return {"id": i, "object": "document", "name": name, "bytes": size, "tokens": tokens,
                "created": int(created)}

    # -- jobs --------------------------------------------------------------------------------
    def trace_base(self, job_id: str) -> Path:
        assert valid_id(job_id, "job")
        return self.root / "traces" / f"{job_id}.jsonl"

    def add_job(self, job_id: str, doc_id: str, questions: list[str]) -> None:
        self._run("INSERT INTO jobs VALUES (?, ?, ?, 'queued', NULL, NULL, ?, NULL)",
                  (job_id, doc_id, json.dumps(questions), time.time()))

    def delete_job(self, job_id: str) -> None:
        self._run("DELETE FROM jobs WHERE id = ?", (job_id,))

    def job(self, job_id: str) -> JobRow | None:
        if not valid_id(job_id, "job"):
            return None
        rows = self._run("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _row(rows[0]) if rows else None

    def unfinished(self) -> list[JobRow]:
        rows = self._run("SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY created")
        return [_row(r) for r in rows]

    def set_status(self, job_id: str, status: str) -> None:
        self._run("UPDATE jobs SET status = ? WHERE id = ? AND status IN ('queued', 'running')",
                  (status, job_id))

    def finish(self, job_id: str, status: str, answers: list[dict[str, Any]] | None,
               error: str | None) -> None:
        """A job's end, written once: a job already finished (or cancelled) stays as it was."""
        self._run("UPDATE jobs SET status = ?, answers = ?, error = ?, finished = ? "
                  "WHERE id = ? AND status IN ('queued', 'running')",
                  (status, json.dumps(answers) if answers is not None else None, error,
                   time.time(), job_id))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _row(row: tuple[Any, ...]) -> JobRow:
    i, doc, questions, status, error, answers, created, finished = row
    return JobRow(i, doc, json.loads(questions), status, error,
                  json.loads(answers) if answers else None, created, finished)
