"""The one scheduler of the server: a thread that owns every request to the backend.

Tasks (a stored job, or the memory path of one chat completion) wait in a bounded queue; the thread
takes every waiting task at once and runs all their questions as one `MemAgent.run`, so concurrent
requests are batched as `ask_many` batches them. A task that arrives while a batch runs waits for
the next batch (one batch at a time; docs/serve.md). A stored job writes a trace per question, its
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
            for task in self.waiting:
                if task.key == key:
                    self.waiting.remove(task)
                    task.cancelled = True
                    task.error = Cancelled("cancelled")
                    task.done.set()
                    return True
            for task in self.running:
                if task.key == key:
                    task.cancelled = True
                    return True
        return False

    def passthrough(self, request: ChatRequest, sampling: SamplingParams) -> Completion:
        return self.agent.llm.generate([request], sampling)[0]

    # -- the scheduler thread ----------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self.waiting:
                    self._cond.wait()
                self.running, self.waiting = self.waiting, []
            try:
                self._run_batch(self.running)
            except Exception:  # a bug: the batch's tasks fail, the server goes on
                log.exception("serve: batch failed")
                for task in self.running:
                    task.error = task.error or MemAgentError("internal error (see the server log)")
            finally:
                with self._cond:
                    batch, self.running = self.running, []
                for task in batch:
                    self._finish(task)

    def _finish(self, task: Task) -> None:
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

    def _run_batch(self, tasks: list[Task]) -> None:
        jobs: list[Job] = []
        for task in tasks:
            try:
                jobs += self._open(task)
            except MemAgentError as exc:
                task.error = exc
        if jobs:
            self.agent.run(jobs, on_error=self._on_error)
        for job in jobs:
            task, i = job.tag
            outcome = task.outcomes[i]
            if job.done and outcome.error is None:
                outcome.result = job.result()

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

    def _on_error(self, job: Job, exc: MemAgentError) -> None:
        task, i = job.tag
        assert task.traces is not None
        task.outcomes[i].error = exc
        writer = task.traces.writers.pop(i, None)
        if writer is not None:
            writer.close()
