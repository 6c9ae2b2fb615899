"""The one scheduler of the server: a thread that owns every request to the backend.

Tasks (a stored job, or the memory path of one chat completion) wait in a bounded queue; the thread
runs every question of every task as one `MemAgent.run`, so
concurrent requests are batched as `ask_many` batches them. A task that arrives while a run is in
progress joins it at the next round (`MemAgent.run(more=...)`), and each task finishes as soon as its
own questions are answered. A stored job writes a trace per question, its
checkpoint: a job that was unfinished when the server stopped is queued again at start and resumes
after its last recorded step. Pass-through chat requests call the backend directly, under a lock
for local (batched, single-threaded) backends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memagent import MemAgent
from memagent.errors import InputError, MemAgentError
from memagent.loop.agent import Outcome, Traces
from memagent.loop.job import Job, Step
from memagent.sources import DocumentSource
from memagent.types import LLM, ChatRequest, Completion, SamplingParams, Scheduling, Tokenizer

log = logging.getLogger("memagent.serve")
Notify = Callable[[dict[str, Any]], None]
ROUND_LIMIT = 256  # jobs in one round of a local backend (which splits it into its own batches)


class Cancelled(InputError):
    pass


@dataclass(eq=False)
class Task:
    """Questions over one document, run by the runner; `notify` hears each step and the end."""

    key: str
    document: DocumentSource | str
    questions: list[str]
    trace: Path | None = None
    notify: Notify | None = None
    traces: Traces | None = None
    error: MemAgentError | None = None
    cancelled: bool = False
    pending: int = 0  # jobs of this task still in the run
    steps: dict[int, int] = field(default_factory=dict)  # question -> memory steps done
    chars: dict[int, int] = field(default_factory=dict)  # question -> characters read
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def outcomes(self) -> list[Outcome]:
        return self.traces.outcomes if self.traces is not None else []


class LockedLLM:
    """A local backend shared by the scheduler thread and pass-through requests: one call at a time."""

    def __init__(self, llm: LLM):
        self.inner = llm
        self.name = llm.name
        self._lock = threading.Lock()

    @property
    def tokenizer(self) -> Tokenizer | None:
        return self.inner.tokenizer

    @property
    def scheduling(self) -> Scheduling:
        return self.inner.scheduling

    @property
    def max_concurrency(self) -> int | None:
        return self.inner.max_concurrency

    @property
    def dtype(self) -> str:
        return self.inner.dtype

    def generate(self, requests: Sequence[ChatRequest], sampling: SamplingParams) -> list[Completion]:
        with self._lock:
            return self.inner.generate(requests, sampling)

    def resolve_model(self) -> str:
        self.name = self.inner.resolve_model()
        return self.name

    def cancel_pending(self) -> None:
        self.inner.cancel_pending()


class Runner:
    def __init__(self, agent: MemAgent, max_queue: int, on_finish: Callable[[Task], None]):
        if agent.llm.scheduling == "rounds" and not isinstance(agent.llm, LockedLLM):
            agent.llm = LockedLLM(agent.llm)
        self.agent = agent
        self.max_queue = max_queue
        self.on_finish = on_finish
        self.waiting: list[Task] = []
        self.running: list[Task] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="memagent-serve", daemon=True)
        self._thread.start()

    # -- the queue ---------------------------------------------------------------------------
    def load(self) -> int:
        with self._cond:
            return len(self.waiting) + len(self.running)

    def submit(self, task: Task, force: bool = False) -> bool:
        """Queue a task; False (not queued) when the queue is full, unless `force` (a resume)."""
        with self._cond:
            if not force and len(self.waiting) + len(self.running) >= self.max_queue:
                return False
            self.waiting.append(task)
            self._cond.notify()
        return True

    def find(self, key: str) -> Task | None:
        with self._cond:
            return next((t for t in self.waiting + self.running if t.key == key), None)

    def cancel(self, key: str) -> bool:
        """Cancel a waiting task at once, a running one after its step in flight."""
        with self._cond:
            task = next((t for t in self.waiting + self.running if t.key == key), None)
            if task is None:
                return False
            task.cancelled = True
            if task not in self.waiting:
                return True
            self.waiting.remove(task)
            self.running.append(task)  # so that _finish records and announces it
        task.error = Cancelled("cancelled")
        self._finish(task)
        return True

    def passthrough(self, request: ChatRequest, sampling: SamplingParams) -> Completion:
        return self.agent.llm.generate([request], sampling)[0]

    # -- the scheduler thread ----------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self.waiting:
                    self._cond.wait()
            try:
                limit = None if self.agent.llm.scheduling == "continuous" else ROUND_LIMIT
                self.agent.run(self._take(), on_error=self._on_error, max_active=limit,
                               more=self._take)
            except Exception:  # a bug: the run's tasks fail, the server goes on
                log.exception("serve: run failed")
                with self._cond:
                    broken = list(self.running)
                for task in broken:
                    task.error = task.error or MemAgentError("internal error (see the server log)")
                    self._finish(task)

    def _take(self) -> list[Job]:
        """The jobs of every task waiting now, which join the run in progress (or start one)."""
        with self._cond:
            tasks, self.waiting = self.waiting, []
            self.running += tasks
        jobs: list[Job] = []
        for task in tasks:
            try:
                opened = self._open(task)
            except MemAgentError as exc:
                task.error, opened = exc, []
            task.pending = len(opened)
            if not opened:  # it failed to open, or every question was answered by its trace
                self._finish(task)
            jobs += opened
        return jobs

    def _finish(self, task: Task) -> None:
        with self._cond:
            if task not in self.running:
                return
            self.running.remove(task)
        if task.traces is not None:
            task.traces.close()
        try:
            self.on_finish(task)
        except Exception:
            log.exception("serve: recording task %s failed", task.key)
        task.done.set()
        if task.notify is not None:
            task.notify({"type": "done"})

    def _open(self, task: Task) -> list[Job]:
        agent = self.agent
        if isinstance(task.document, DocumentSource):
            task.traces = agent.open_traces(task.document, task.questions, task.trace,
                                            task.trace is not None)
        else:
            task.traces = Traces([Outcome(q) for q in task.questions])
        traces = task.traces
        return [
            agent.job(task.document, o.question, resume=traces.states.get(i), tag=(task, i),
                      on_step=self._on_step)
            for i, o in enumerate(traces.outcomes) if o.result is None
        ]

    def _ended(self, task: Task) -> None:
        """One of the task's jobs is done or dropped; the last one finishes the task at once."""
        task.pending -= 1
        if task.pending == 0:
            self._finish(task)

    def _on_step(self, job: Job, step: Step) -> None:
        task, i = job.tag
        assert task.traces is not None
        writer = task.traces.writers.get(i)
        if writer is not None:
            writer(job, step)
        if task.cancelled:
            raise Cancelled("cancelled")
        task.steps[i] = sum(s.kind == "memory" for s in job.steps)
        task.chars[i] = job.chars_read
        if task.notify is not None:
            task.notify({"type": "step", "question": i, "step": step})
        if job.done:
            task.outcomes[i].result = job.result()
            self._ended(task)

    def _on_error(self, job: Job, exc: MemAgentError) -> None:
        task, i = job.tag
        assert task.traces is not None
        task.outcomes[i].error = exc
        writer = task.traces.writers.pop(i, None)
        if writer is not None:
            writer.close()
        self._ended(task)
