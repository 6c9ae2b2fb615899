"""The server's state: the agent, the store, the runner, and the events each task publishes.

The routes (app.py, jobs.py) are thin: they check a request, make a `Task` here and read its
events. Events cross from the scheduler thread to the event loop through `Subscription`, one
asyncio queue per listener; a listener that joins late first gets each question's last step.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memagent.errors import BackendError, BackendUnreachable, BudgetError, MemAgentError
from memagent.loop.agent import MemAgent, Outcome
from memagent.loop.job import Step
from memagent.serve.runner import Cancelled, Runner, Task
from memagent.serve.shapes import ApiError
from memagent.serve.store import JobRow, Store
from memagent.sources import DocumentSource


@dataclass
class ServeSettings:
    """What `memagent serve` was started with (docs/serve.md lists the defaults)."""

    data_dir: Path
    api_key: str | None = None
    max_queue: int = 64
    max_upload_bytes: int = 64 * 1024 * 1024
    max_request_bytes: int = 16 * 1024 * 1024
    max_document_tokens: int = 4_000_000
    model_id: str = "memagent"


class Subscription:
    """One listener's queue of a task's events, fed from the scheduler thread."""

    def __init__(self, service: Service, key: str):
        self.service, self.key = service, key
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def put(self, event: dict[str, Any]) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, event)

    async def get(self) -> dict[str, Any]:
        return await self.queue.get()

    def close(self) -> None:
        self.service.unsubscribe(self)


class Service:
    def __init__(self, agent: MemAgent, settings: ServeSettings):
        self.agent = agent
        self.settings = settings
        self.store = Store(settings.data_dir)
        self._lock = threading.Lock()
        self._listeners: dict[str, list[Subscription]] = {}
        self._last: dict[str, dict[int, dict[str, Any]]] = {}
        self.totals: dict[str, int] = {}  # task key -> chunks of its document
        self.runner = Runner(agent, settings.max_queue, self._on_finish)

    @property
    def backend(self) -> str:
        return self.agent.llm.name

    def chunks_of(self, tokens: int) -> int:
        return max(1, math.ceil(tokens / self.agent.budgets.chunk))

    # -- tasks -------------------------------------------------------------------------------
    def submit(self, task: Task, chunks: int, force: bool = False) -> None:
        task.notify = lambda event: self._publish(task.key, event)
        self.totals[task.key] = chunks
        if not self.runner.submit(task, force=force):
            self.totals.pop(task.key, None)
            raise ApiError(429, f"the queue is full ({self.settings.max_queue} tasks waiting or "
                           "running); retry later", "queue_full", kind="rate_limit_error",
                           headers={"Retry-After": "5"})

    def job_task(self, row: JobRow) -> Task:
        path = self.store.document_path(row.document_id)
        return Task(row.id, DocumentSource.from_args([str(path)]), list(row.questions),
                    trace=self.store.trace_base(row.id))

    def resume_unfinished(self) -> int:
        """Queue every job the store holds as unfinished (a restart); returns how many."""
        rows = self.store.unfinished()
        for row in rows:
            doc = self.store.document(row.document_id)
            if doc is None or not self.store.document_path(row.document_id).is_file():
                self.store.finish(row.id, "failed", None, "its document is gone")
                continue
            self.submit(self.job_task(row), self.chunks_of(doc["tokens"]), force=True)
        return len(rows)

    def _on_finish(self, task: Task) -> None:
        if not task.key.startswith("job-"):
            return
        if task.cancelled:
            self.store.finish(task.key, "cancelled", None, "cancelled")
            return
        if task.error is not None:
            self.store.finish(task.key, "failed", None, str(task.error))
            return
        answers = [answer_json(o) for o in task.outcomes]
        failed = all(a["error"] is not None for a in answers)
        self.store.finish(task.key, "failed" if failed else "completed", answers,
                          answers[0]["error"] if failed else None)

    # -- events ------------------------------------------------------------------------------
    def subscribe(self, key: str) -> Subscription:
        sub = Subscription(self, key)
        with self._lock:
            self._listeners.setdefault(key, []).append(sub)
            for event in self._last.get(key, {}).values():
                sub.put(event)
        return sub

    def listeners(self, key: str) -> int:
        with self._lock:
            return len(self._listeners.get(key, []))

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._listeners.get(sub.key, [])
            if sub in subs:
                subs.remove(sub)
            if not subs:
                self._listeners.pop(sub.key, None)

    def _publish(self, key: str, event: dict[str, Any]) -> None:
        if event["type"] == "step":
            event = step_event(event["question"], event["step"], self.totals.get(key, 0))
        with self._lock:
            if event["type"] == "step":
                self._last.setdefault(key, {})[event["question"]] = event
            else:
                self._last.pop(key, None)
                self.totals.pop(key, None)
            subs = list(self._listeners.get(key, []))
        for sub in subs:
            sub.put(event)

    def new_key(self, kind: str) -> str:
        return f"{kind}-{secrets.token_hex(12)}"


def step_event(question: int, step: Step, chunks: int) -> dict[str, Any]:
    return {"type": "step", "question": question, "kind": step.kind, "chunk": step.index,
            "chunks": chunks, "memory": step.memory, "memory_tokens": step.memory_tokens,
            "prompt_tokens": step.prompt_tokens, "completion_tokens": step.completion_tokens}


def answer_json(outcome: Outcome) -> dict[str, Any]:
    """One question's answer as the job API returns it (error set when it failed)."""
    r = outcome.result
    if r is None:
        return {"question": outcome.question, "answer": None, "error": str(outcome.error)}
    return {"question": outcome.question, "answer": r.answer, "raw_answer": r.raw_answer,
            "rule": r.rule.value, "memory": r.memory, "chunks": r.chunks,
            "document_tokens": r.document_tokens, "seconds": round(r.seconds, 3),
            "usage": {"prompt_tokens": r.usage.prompt_tokens,
                      "completion_tokens": r.usage.completion_tokens,
                      "cached_tokens": r.usage.cached_tokens, "requests": r.usage.requests},
            "error": None}


def api_error(exc: MemAgentError, backend: str) -> ApiError:
    """A memagent error as the HTTP error a client gets: the backend's failures are 502 (504 when
    it timed out), bad input 400, a cancelled task 409."""
    if isinstance(exc, BackendError):
        text = str(exc).lower()
        timed_out = isinstance(exc, BackendUnreachable) and ("timed out" in text
                                                             or "--max-wait" in text)
        return ApiError(504 if timed_out else 502, f"backend {backend} failed: {exc}",
                        "backend_timeout" if timed_out else "backend_error", kind="api_error")
    if isinstance(exc, Cancelled):
        return ApiError(409, "the request was cancelled", "cancelled")
    if isinstance(exc, BudgetError):
        return ApiError(400, str(exc), "context_length_exceeded")
    if isinstance(exc, ValueError):  # InputError
        return ApiError(400, str(exc), "invalid_input")
    return ApiError(500, str(exc), "internal_error", kind="api_error")
