"""One HTTP request with retries: which failures are retried, how long to wait, when to stop.

429, 408, any 5xx, connection errors, timeouts and dropped connections are retried with exponential
backoff and full jitter; a `Retry-After` header overrides the computed wait (capped). Other 4xx
answers are not retried. `RetryPolicy.max_wait` bounds one request's attempts and waits together
(a hung server otherwise costs `timeout` per attempt), and `on_retry` hears one line per retry, so
a slow failure is never silent. An `EmptyCompletion` raised by `read` on a 200 answer is retried
like a 5xx. When the retries are spent the request ends as a `BackendError` (`BackendUnreachable`
when the server was never reached) whose message names the URL and what to do.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from memagent.errors import BackendError, BackendUnreachable, InputError
from memagent.llm.openai_compat.wire import EmptyCompletion, error_text

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 429})  # plus every 5xx
ABANDONED = "another request of its batch failed, or the run stopped"


@dataclass(frozen=True)
class Backoff:
    """Wait before retry `attempt` (0-based): uniform in [0, min(cap, base * 2**attempt)]."""

    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 60.0  # a server's Retry-After is honoured up to this many seconds

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0 or self.max_retry_after < 0:
            raise InputError("Backoff base, cap and max_retry_after must be >= 0")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return random.uniform(0.0, min(self.cap, self.base * 2.0**attempt))


@dataclass(frozen=True)
class RetryPolicy:
    """How one request is retried: `max_retries` after the first attempt, `timeout` seconds per
    attempt, `max_wait` seconds in all (None: unbounded), `on_retry` told before each retry."""

    max_retries: int
    backoff: Backoff
    timeout: float
    max_wait: float | None = None
    on_retry: Callable[[str], None] | None = None


class Retryable(Exception):
    """An attempt failed in a way worth retrying; `retry_after` comes from the server if it said."""

    def __init__(self, reason: str, retry_after: float | None = None, unreachable: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.unreachable = unreachable


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date; None when absent or unparsable."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def attempt(
    client: httpx.Client, method: str, url: str, body: dict[str, Any] | None, timeout: float
) -> httpx.Response:
    """One HTTP attempt; `Retryable` for a failure worth retrying, else the response."""
    try:
        response = client.request(
            method, url, json=body, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0))
        )
    except httpx.TimeoutException as exc:
        raise Retryable(f"timed out: {type(exc).__name__}", unreachable=True) from exc
    except httpx.TransportError as exc:  # connection refused/reset, DNS, protocol errors
        raise Retryable(f"{type(exc).__name__}: {exc}", unreachable=True) from exc
    code = response.status_code
    if code in RETRY_STATUS or code >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        raise Retryable(f"HTTP {code}: {error_text(response)}", retry_after)
    return response


def with_retries(
    client: httpx.Client,
    method: str,
    url: str,
    body: dict[str, Any] | None,
    policy: RetryPolicy,
    abort: threading.Event,
    read: Callable[[httpx.Response], Any] | None = None,
) -> tuple[httpx.Response, Any]:
    """The first non-retryable response, and `read(response)` for a 200 one (an
    EmptyCompletion from `read` is retried); raises after `max_retries` retries are spent.
    `abort` set (by a failed sibling request or `cancel_pending`) ends the waits at once."""
    last: Retryable | None = None
    started = time.monotonic()
    deadline = None if policy.max_wait is None else started + policy.max_wait
    tries = 0
    out_of_time = False
    for number in range(policy.max_retries + 1):
        if abort.is_set():
            raise BackendError(f"request to {url} abandoned: {ABANDONED}")
        if number:
            assert last is not None
            pause = policy.backoff.delay(number - 1, last.retry_after)
            if deadline is not None and time.monotonic() + pause >= deadline:
                out_of_time = True
                break
            if policy.on_retry is not None:
                policy.on_retry(
                    f"{method} {url} failed ({last}); retry {number} of {policy.max_retries} "
                    f"in {pause:.1f} s"
                )
            if abort.wait(pause):
                raise BackendError(f"request to {url} abandoned: {ABANDONED}")
        timeout = policy.timeout
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                out_of_time = True
                break
        tries += 1
        try:
            response = attempt(client, method, url, body, timeout)
            if read is None or response.status_code != 200:
                return response, None
            try:
                return response, read(response)
            except EmptyCompletion as exc:
                raise Retryable(f"empty completion: {exc}") from exc
        except Retryable as exc:
            last = exc
            log.info("%s %s attempt %d failed: %s", method, url, number + 1, exc)
    assert last is not None
    raise _gave_up(url, last, tries, time.monotonic() - started if out_of_time else None,
                   policy.max_wait)


def _gave_up(
    url: str, last: Retryable, tries: int, spent: float | None, max_wait: float | None
) -> BackendError:
    attempts = f"{tries} attempt{'s' if tries != 1 else ''}"
    if spent is not None:
        attempts += f" in {spent:.0f} s (the --max-wait limit of {max_wait:g} s)"
    if last.unreachable:
        return BackendUnreachable(
            f"cannot reach {url} after {attempts} ({last}); "
            "is the server running and is --base-url right?"
        )
    return BackendError(f"{url} kept failing after {attempts} ({last}); try again later")
