"""Agent-level batching: many jobs advance together over one backend.

Two modes, picked once per run by the backend's `scheduling` attribute (or the `mode` argument):

- "rounds" (local batched models: transformers, vLLM offline): every round, the pending request of
  each active job goes to the backend as one `generate` batch; when a job finishes, the next waiting
  job takes its slot, so long and short documents mix freely.
- "continuous" (HTTP servers, which batch on their side): each job submits its next request as soon
  as its previous reply arrives, up to `max_active` requests in flight, so the server never idles
  waiting for the slowest request of a round. Concurrency model (`memagent.inflight`, the one
  thread model): the scheduler owns concurrency here, one daemon thread per request in flight,
  calling `llm.generate([one request])`, which sends it on that thread; jobs are only touched on
  the calling thread. When the run stops early (Ctrl-C, an error) nothing waits for those
  threads, and the backend's `cancel_pending()`, if it has one, stops their retries.

Either way results stay in job order (the caller reads them from its `jobs` list), and every
request carries its own seed, `sampling.request_seed(job index, step)`, whatever the mode.

Failures: by default the first `MemAgentError` (a backend failure, a bad document, a trace that
does not match) propagates and stops every job. With `on_error`, the failing job is handed to it
and dropped while the others go on, so one question's failure does not lose the other answers; in
rounds mode a failed batch is then retried one request at a time to find the jobs it belongs to.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from functools import partial

from memagent.errors import MemAgentError
from memagent.inflight import in_thread
from memagent.loop.job import Job
from memagent.types import LLM, ChatRequest, Completion, SamplingParams, Scheduling

RoundCallback = Callable[[int, int], None]  # (requests in this round, jobs finished so far)
ErrorCallback = Callable[[Job, MemAgentError], None]  # a job that failed and was dropped
MoreJobs = Callable[[], Sequence[Job]]  # jobs joining a run in progress
Mode = Scheduling
DEFAULT_CONCURRENCY = 8  # continuous mode without max_active or a backend max_concurrency
JOIN_POLL_S = 0.02  # continuous mode with `more`: how often joining jobs are looked for


def scheduling_mode(llm: LLM) -> Mode:
    """The backend's preferred mode: its `scheduling` attribute."""
    mode = llm.scheduling
    if mode not in ("rounds", "continuous"):
        raise ValueError(
            f"backend {llm.name}: scheduling must be 'rounds' or 'continuous', got {mode!r}"
        )
    return mode


def run_jobs(
    llm: LLM,
    jobs: Sequence[Job],
    sampling: SamplingParams,
    max_active: int | None = None,
    on_round: RoundCallback | None = None,
    mode: Mode | None = None,
    on_error: ErrorCallback | None = None,
    more: MoreJobs | None = None,
) -> None:
    """Drive every job to completion (or, with `on_error`, to completion or failure).

    max_active: jobs (rounds) or requests in flight (continuous) at once; None: all jobs in rounds
    mode, the backend's `max_concurrency` (else 8) in continuous mode.
    mode: None picks `scheduling_mode(llm)`.
    on_error: called with a job and the MemAgentError it raised (its request, the backend's reply
        to it, or its step callback); the job is dropped and the others go on. None: the error
        propagates.
    more: asked before every round (rounds) or reply (continuous) for jobs that join the run now
        (`memagent serve`: a request that arrives while others run); the run ends when no job is
        left and it gives none.
    """
    chosen = mode or scheduling_mode(llm)
    if chosen == "continuous":
        limit = max_active or llm.max_concurrency or DEFAULT_CONCURRENCY
        _run_continuous(llm, jobs, sampling, limit, on_round, on_error, more)
    elif chosen == "rounds":
        _run_rounds(llm, jobs, sampling, max_active or len(jobs) or 1, on_round, on_error, more)
    else:
        raise ValueError(f"mode must be 'rounds' or 'continuous', got {mode!r}")


def _next_request(
    index: int, job: Job, sampling: SamplingParams, on_error: ErrorCallback | None
) -> ChatRequest | None:
    """Job `index`'s next request, carrying its seed; None when the job is done, or when asking
    raised a MemAgentError that `on_error` took (the job is dropped). Without on_error it raises."""
    try:
        request = job.next_request()
    except MemAgentError as exc:
        if on_error is None:
            raise
        on_error(job, exc)
        return None
    if request is None:
        return None
    return replace(request, seed=sampling.request_seed(index, len(job.steps)))


def _run_rounds(
    llm: LLM,
    jobs: Sequence[Job],
    sampling: SamplingParams,
    limit: int,
    on_round: RoundCallback | None,
    on_error: ErrorCallback | None = None,
    more: MoreJobs | None = None,
) -> None:
    waiting = deque(enumerate(jobs))
    active: list[tuple[int, Job, ChatRequest]] = []  # this round's batch, in job order of arrival
    finished = 0
    joined = len(jobs)
    while True:
        if more is not None:
            new = more()
            waiting.extend(enumerate(new, joined))
            joined += len(new)
        if not (waiting or active):
            break
        while waiting and len(active) < limit:  # a job already done (resumed) takes no slot
            index, job = waiting.popleft()
            request = _next_request(index, job, sampling, on_error)
            if request is None:
                finished += 1
            else:
                active.append((index, job, request))
        if not active:
            break
        requests = [request for _, _, request in active]
        completions: list[Completion | None]
        try:
            completions = list(llm.generate(requests, sampling))
        except MemAgentError as exc:
            if on_error is None:
                raise
            ready = [job for _, job, _ in active]
            completions = _one_by_one(llm, ready, requests, sampling, on_error, exc)
        still: list[tuple[int, Job, ChatRequest]] = []
        for (index, job, _), completion in zip(active, completions, strict=True):
            if completion is None:  # its request failed alone too: already handed to on_error
                finished += 1
                continue
            try:
                job.consume(completion)
            except MemAgentError as exc:
                if on_error is None:
                    raise
                on_error(job, exc)
                finished += 1
                continue
            request = None if job.done else _next_request(index, job, sampling, on_error)
            if request is None:
                finished += 1
            else:
                still.append((index, job, request))
        active = still
        if on_round is not None:
            on_round(len(requests), finished)


def _one_by_one(
    llm: LLM,
    jobs: Sequence[Job],
    requests: Sequence[ChatRequest],
    sampling: SamplingParams,
    on_error: ErrorCallback,
    batch_error: MemAgentError,
) -> list[Completion | None]:
    """After a failed batch: each request alone, so only the jobs whose request fails are dropped."""
    if len(requests) == 1:
        on_error(jobs[0], batch_error)
        return [None]
    out: list[Completion | None] = []
    for job, request in zip(jobs, requests, strict=True):
        try:
            out.append(llm.generate([request], sampling)[0])
        except MemAgentError as exc:
            on_error(job, exc)
            out.append(None)
    return out


def _run_continuous(
    llm: LLM,
    jobs: Sequence[Job],
    sampling: SamplingParams,
    limit: int,
    on_round: RoundCallback | None,
    on_error: ErrorCallback | None = None,
    more: MoreJobs | None = None,
) -> None:
    if limit < 1:
        raise ValueError(f"max_active must be >= 1, got {limit}")
    waiting = deque(enumerate(jobs))
    in_flight: dict[Future[list[Completion]], tuple[int, Job]] = {}
    finished = 0
    joined = len(jobs)

    def submit(index: int, job: Job) -> bool:
        """Send the job's next request; False when it has none (done) or failed (on_error)."""
        request = _next_request(index, job, sampling, on_error)
        if request is None:
            return False
        call = partial(llm.generate, [request], sampling)
        in_flight[in_thread(call, "memagent-job")] = (index, job)
        return True

    clean = False
    try:
        while True:
            if more is not None:
                new = more()
                waiting.extend(enumerate(new, joined))
                joined += len(new)
            if not (waiting or in_flight):
                break
            while waiting and len(in_flight) < limit:
                index, job = waiting.popleft()
                if not submit(index, job):  # already done (resumed from a finished trace), or failed
                    finished += 1
            if not in_flight:
                break
            # with `more`, look for joining jobs every JOIN_POLL_S even while no reply arrives
            done, _ = wait(list(in_flight), timeout=JOIN_POLL_S if more is not None else None,
                           return_when=FIRST_COMPLETED)
            for future in done:
                index, job = in_flight.pop(future)
                try:
                    job.consume(future.result()[0])  # a backend error propagates from here
                except MemAgentError as exc:
                    if on_error is None:
                        raise
                    on_error(job, exc)
                    finished += 1
                else:
                    if job.done or not submit(index, job):
                        finished += 1
                if on_round is not None:
                    on_round(1, finished)
        clean = True
    finally:  # on an error or Ctrl-C: drop queued requests, don't wait for those in flight
        if not clean and in_flight:
            llm.cancel_pending()

