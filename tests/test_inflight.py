"""memagent.inflight: the one thread model (daemon threads, at most `limit` in flight, never joined)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from memagent.inflight import in_thread, run_all


def test_in_thread_runs_on_a_named_daemon_thread_and_hands_back_errors() -> None:
    seen: list[threading.Thread] = []

    def call() -> int:
        seen.append(threading.current_thread())
        return 7

    assert in_thread(call, "memagent-test").result(10) == 7
    assert seen[0].name == "memagent-test" and seen[0].daemon
    assert seen[0] is not threading.current_thread()

    def fails() -> int:
        raise KeyboardInterrupt  # even a BaseException comes back to the caller's thread

    with pytest.raises(KeyboardInterrupt):
        in_thread(fails, "memagent-test").result(10)


def test_run_all_keeps_order_and_at_most_limit_in_flight() -> None:
    lock = threading.Lock()
    running, peak = [0], [0]
    gate = threading.Barrier(2, timeout=10)  # two calls must be in flight together to pass it

    def call(i: int) -> Callable[[], int]:
        def run() -> int:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            gate.wait()
            with lock:
                running[0] -= 1
            return i * i
        return run

    assert run_all([call(i) for i in range(6)], 2, "memagent-test") == [i * i for i in range(6)]
    assert peak[0] == 2
    with pytest.raises(ValueError, match="limit must be >= 1"):
        run_all([call(0)], 0, "memagent-test")


def test_run_all_raises_the_first_failure_without_waiting_or_starting_the_rest() -> None:
    release = threading.Event()
    started: list[int] = []

    def hangs() -> str:
        started.append(0)
        release.wait(30)  # a request that never answers
        return "late"

    def fails() -> str:
        started.append(1)
        raise RuntimeError("boom")

    def never() -> str:
        started.append(2)
        return "never"

    try:
        with pytest.raises(RuntimeError, match="boom"):
            run_all([hangs, fails, never], 2, "memagent-test")  # returns while `hangs` still runs
        assert sorted(started) == [0, 1]  # the third call never started
        assert not release.is_set()
    finally:
        release.set()
