"""Calls in flight: memagent's one thread model for concurrent backend requests.

Each concurrent call runs on a daemon thread of its own, started only when one of `limit` slots is
free, and nothing ever joins those threads: a caller that stops early (an error, Ctrl-C) returns
at once, and the interpreter may exit while a request still waits on a server (the backend's
abort event or `cancel_pending()` stops its retries). Two callers, never stacked:

- the scheduler's continuous mode (`loop/scheduler.py`) owns concurrency under a run: one thread
  per job's request, at most `max_active` in flight; the backend's `generate` then gets a single
  request and sends it on that thread, without a thread of its own;
- `OpenAICompatLLM.generate` given a batch directly, with no scheduler above it (eval's context
  baselines, the closed-book filter, library code): `run_all` sends it, at most `max_concurrency`
  requests in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import TypeVar

T = TypeVar("T")


def in_thread(call: Callable[[], T], name: str) -> Future[T]:
    """`call()` on a new daemon thread named `name`; its result or exception in the future."""
    future: Future[T] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(call())
        except BaseException as exc:  # handed to the caller, which raises it on its own thread
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def run_all(calls: Sequence[Callable[[], T]], limit: int, name: str) -> list[T]:
    """Every call, at most `limit` in flight at once (each on `in_thread`), results in call order.

    The first failure is raised as soon as it is seen (the lowest-numbered one when several end
    together): calls not yet started never start, and those in flight are not waited for."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    results: dict[int, T] = {}
    in_flight: dict[Future[T], int] = {}
    started = 0
    while started < len(calls) or in_flight:
        while started < len(calls) and len(in_flight) < limit:
            in_flight[in_thread(calls[started], name)] = started
            started += 1
        done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
        ended = sorted((in_flight.pop(f), f) for f in done)
        for index, future in ended:
            error = future.exception()
            if error is not None:
                raise error
            results[index] = future.result()
    return [results[index] for index in range(len(calls))]
