"""Agent-level batching: many jobs advance together over one backend.

Every round, the pending request of each active job goes to the backend as one batch; when a job
finishes, the next waiting job takes its slot, so long and short documents mix freely.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from memagent.agent import Job
from memagent.types import LLM, SamplingParams

RoundCallback = Callable[[int, int], None]  # (requests in this round, jobs finished so far)


def run_jobs(
    llm: LLM,
    jobs: Sequence[Job],
    sampling: SamplingParams,
    max_active: int | None = None,
    on_round: RoundCallback | None = None,
) -> None:
    """Drive every job to completion. max_active=None: all jobs at once."""
    waiting = deque(jobs)
    active: list[Job] = []
    finished = 0
    limit = max_active or len(jobs) or 1
    while waiting or active:
        while waiting and len(active) < limit:
            job = waiting.popleft()
            if job.next_request() is None:  # already done (resumed from a finished trace)
                finished += 1
            else:
                active.append(job)
        if not active:
            break
        requests = [job.next_request() for job in active]
        completions = llm.generate([r for r in requests if r is not None], sampling)
        still: list[Job] = []
        for job, completion in zip(active, completions, strict=True):
            job.consume(completion)
            if job.done:
                finished += 1
            else:
                still.append(job)
        active = still
        if on_round is not None:
            on_round(len(requests), finished)
