"""Any OpenAI-compatible chat server: vLLM, SGLang, llama.cpp, Ollama, `transformers serve`, hosted.

Concurrency model: one synchronous `httpx.Client` (thread-safe, one connection pool) driven by a
thread pool of `max_concurrency` workers per `generate` call. The callers are synchronous, the work
is I/O-bound, and a thread pool keeps working when the caller already runs inside an event loop
(notebooks, async apps), where `asyncio.run` would fail.

Retries: 429, any 5xx, connection errors, timeouts and dropped connections are retried with
exponential backoff and full jitter; a `Retry-After` header overrides the computed wait (capped).
Other 4xx answers are not retried. Every low-level failure leaves this module as a
`BackendError` subclass whose message names the URL and what to do. `max_wait` bounds one
request's attempts and waits together (a hung server otherwise costs `timeout` per attempt), and
`on_retry` hears one line per retry, so a slow failure is never silent.

A 200 answer without usable text (`"content": null`, no choices, a refusal, a content filter)
is an `EmptyCompletion`: retried like a 5xx, then a `BackendError`, never an empty memory or answer.
An empty string is a real (empty) generation and is returned as one.

Credentials in the URL (`http://user:KEY@host/v1`) are sent as HTTP basic auth, as httpx does, but
never kept in `base_url`, `name` or any message: those carry the URL without its userinfo.

Servers differ in what they return; we degrade gracefully:
- `usage` missing -> token counts from `tokenizer` if one was given, else 0 (with a warning);
- `logprobs` ignored by the server (e.g. `transformers serve`) -> `Completion.logprobs` is None;
- token ids are read when the server returns them (vLLM with `extra_body={"return_token_ids": True}`
  puts `prompt_token_ids` at the top level and `token_ids` on each choice).
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import httpx

from memagent.errors import BackendError, BackendUnreachable, InputError, ModelNotFound
from memagent.types import ChatRequest, Completion, SamplingParams, Scheduling, Tokenizer
from memagent.urls import strip_credentials

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 429})  # plus every 5xx
_ABANDONED = "another request of its batch failed, or the run stopped"
_MODEL_MISSING_HINTS = ("not found", "does not exist", "not exist", "unknown model", "requested",
                        "not served", "no such model", "invalid model")


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


class _Retryable(Exception):
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


def normalize_base_url(base_url: str) -> str:
    """'http://host:8000', '.../v1' and '.../v1/' all become 'http://host:8000/v1'.

    Userinfo (`user:key@`) is kept here; `strip_credentials` removes it for display."""
    url = base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        shown = strip_credentials(base_url)
        raise InputError(f"base_url must start with http:// or https://, got {shown!r}")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:  # its text may quote the URL: not shown, it may hold a key
        raise InputError(f"base_url {strip_credentials(base_url)!r} is not a valid URL") from exc
    if not parsed.host:
        raise InputError(f"base_url {strip_credentials(base_url)!r} names no host")
    return url if url.endswith("/v1") else url + "/v1"


def _userinfo_auth(url: str) -> httpx.BasicAuth | None:
    """Basic auth from a URL's `user:password@`, as httpx would derive it from the URL itself."""
    parsed = httpx.URL(url)
    if not (parsed.username or parsed.password):
        return None
    return httpx.BasicAuth(parsed.username, parsed.password)


def _error_text(response: httpx.Response) -> str:
    """The server's message: OpenAI-style {"error": {"message"}} or FastAPI's {"detail"}."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return str(err)[:300]
    return str(body)[:300]


class EmptyCompletion(ValueError):
    """A 200 answer with no usable text: no choice, `content` null or missing, a refusal."""


def parse_choice(body: dict[str, Any]) -> dict[str, Any]:
    """Pull text, finish reason, usage, logprobs and token ids out of a chat.completion body.

    Raises EmptyCompletion when the answer holds no text to use (an empty string is text)."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        raise EmptyCompletion("the answer has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    refusal = message.get("refusal")
    if refusal or choice.get("finish_reason") == "content_filter":
        reason = f"refusal: {str(refusal)[:100]}" if refusal else "finish_reason content_filter"
        raise EmptyCompletion(f"the model refused ({reason})")
    content = message.get("content")
    if not isinstance(content, str):
        what = "missing" if "content" not in message else "null" if content is None else "not text"
        raise EmptyCompletion(f"the answer's content is {what}")
    usage = body.get("usage") or {}
    logprobs: list[float] | None = None
    ids_from_tokens: list[int] | None = None
    items = (choice.get("logprobs") or {}).get("content")
    if isinstance(items, list) and items:
        logprobs = [float(item["logprob"]) for item in items]
        # vLLM's return_tokens_as_token_ids renders each token as "token_id:<n>"
        tokens = [str(item.get("token", "")) for item in items]
        if all(t.startswith("token_id:") for t in tokens):
            ids_from_tokens = [int(t.removeprefix("token_id:")) for t in tokens]
    prompt_ids = body.get("prompt_token_ids") or choice.get("prompt_token_ids")
    completion_ids = choice.get("token_ids") or ids_from_tokens
    return {
        "text": content,
        "finish_reason": choice.get("finish_reason") or "stop",
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "logprobs": logprobs,
        "prompt_token_ids": list(prompt_ids) if prompt_ids else None,
        "completion_token_ids": list(completion_ids) if completion_ids else None,
    }


class OpenAICompatLLM:
    """A batched `LLM` over `/v1/chat/completions`; requests of a batch run concurrently.

    base_url: server root, with or without the trailing `/v1`.
    model: the served model name; None picks the only model listed by `/v1/models`.
    api_key: sent as a Bearer token when given.
    max_concurrency: requests in flight at once per `generate` call.
    timeout: seconds per HTTP attempt (connect is capped at 10 s).
    max_retries: retries after the first attempt, so at most `max_retries + 1` attempts per request.
    backoff: waiting policy between attempts.
    tokenizer: counts tokens when the server returns no `usage`.
    extra_body: merged into every request body, for server-specific options such as vLLM's
        `{"return_token_ids": True}`. Not sent by default: strict servers reject unknown fields.
    max_wait: seconds one request may take in all, attempts and waits between them together (an
        attempt's timeout is cut to what is left); None: only `timeout` and `max_retries` bound it.
    on_retry: called with a one-line notice before each retry (what failed, which retry, the wait).
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        max_concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: Backoff | None = None,
        tokenizer: Tokenizer | None = None,
        extra_body: dict[str, Any] | None = None,
        max_wait: float | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise InputError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_retries < 0:
            raise InputError(f"max_retries must be >= 0, got {max_retries}")
        if timeout <= 0:
            raise InputError(f"timeout must be > 0 seconds, got {timeout}")
        if max_wait is not None and max_wait <= 0:
            raise InputError(f"max_wait must be > 0 seconds, got {max_wait}")
        full_url = normalize_base_url(base_url)
        self.base_url = strip_credentials(full_url)  # shown in names, logs and errors
        self.model = model
        self.scheduling: Scheduling = "continuous"  # run_jobs keeps up to max_concurrency
        self.max_concurrency = max_concurrency  # single requests in flight
        self.dtype = "server"
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        self.tokenizer = tokenizer
        self.extra_body = dict(extra_body or {})
        self.timeout = timeout
        self.max_wait = max_wait
        self.on_retry = on_retry
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            auth=_userinfo_auth(full_url),
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=max_concurrency),
        )
        self._lock = threading.Lock()
        self._aborts: set[threading.Event] = set()  # one per generate() call in progress
        self._warned_usage = False
        self.name = f"openai:{model or '?'}@{self.base_url}"

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        self._client.close()

    def cancel_pending(self) -> None:
        """Stop the retries and backoff waits of every request in progress now (an attempt already
        sent still runs to its timeout); later requests are not affected. Schedulers call this
        when a run stops early (Ctrl-C, an error), so no thread keeps retrying behind it."""
        with self._lock:
            aborts = list(self._aborts)
        for abort in aborts:
            abort.set()

    def __enter__(self) -> OpenAICompatLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- model discovery ------------------------------------------------------------------------
    def list_models(self) -> list[str]:
        """Names served at `/v1/models` (retried); BackendError if the server has no listing."""
        response, _ = self._with_retries("GET", "/models", None, threading.Event())
        if response.status_code != 200:
            raise BackendError(
                f"{self.base_url}/models answered HTTP {response.status_code}: "
                f"{_error_text(response)}; pass the model name explicitly"
            )
        try:
            data = response.json()["data"]
            return [str(item["id"]) for item in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"{self.base_url}/models returned an unexpected body; "
                               "pass the model name explicitly") from exc

    def resolve_model(self) -> str:
        """The model to ask for; with none given, the single model the server lists."""
        with self._lock:
            if self.model is None:
                names = self.list_models()
                if len(names) != 1:
                    raise ModelNotFound(
                        f"{self.base_url} serves {len(names)} models ({_names(names)}); "
                        "choose one with --model"
                    )
                self.model = names[0]
                self.name = f"openai:{self.model}@{self.base_url}"
            return self.model

    def _model_not_found(self, server_message: str) -> ModelNotFound:
        try:
            available = f"available: {_names(self.list_models())}"
        except BackendError:
            available = "the server did not list its models"
        return ModelNotFound(
            f"model {self.model!r} is not served at {self.base_url} ({server_message}); {available}"
        )

    # -- generation -----------------------------------------------------------------------------
    def generate(
        self, requests: Sequence[ChatRequest], sampling: SamplingParams
    ) -> list[Completion]:
        """Complete every request, in order, each with its own seed (`ChatRequest.seed`)."""
        if not requests:
            return []
        model = self.resolve_model()
        bodies = [self._body(model, r, sampling) for r in requests]
        abort = threading.Event()  # set on the first hard failure so the others stop retrying
        with self._lock:
            self._aborts.add(abort)
        try:
            return self._generate(requests, bodies, abort)
        finally:
            with self._lock:
                self._aborts.discard(abort)

    def _generate(
        self, requests: Sequence[ChatRequest], bodies: list[dict[str, Any]], abort: threading.Event
    ) -> list[Completion]:
        if len(bodies) == 1:
            return [self._complete(requests[0], bodies[0], abort)]
        workers = min(self.max_concurrency, len(bodies))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="memagent-http") as pool:
            futures = [pool.submit(self._complete, r, b, abort)
                       for r, b in zip(requests, bodies, strict=True)]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f in done and f.exception() is not None]
            if failed:
                abort.set()
                for f in futures:
                    f.cancel()
                error = failed[0].exception()
                assert error is not None
                raise error
            return [f.result() for f in futures]

    def _body(
        self, model: str, request: ChatRequest, sampling: SamplingParams
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [dict(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.want_logprobs:
            body["logprobs"] = True
        body.update(self.extra_body)
        return body

    def _complete(
        self, request: ChatRequest, body: dict[str, Any], abort: threading.Event
    ) -> Completion:
        started = time.perf_counter()
        try:
            response, parsed = self._with_retries(
                "POST", "/chat/completions", body, abort, read=lambda r: parse_choice(r.json())
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackendError(
                f"{self.base_url}/chat/completions returned an unreadable answer ({exc}); "
                "is this an OpenAI-compatible server?"
            ) from exc
        seconds = time.perf_counter() - started
        if response.status_code != 200:
            self._raise_for_status(response)
        prompt_tokens, completion_tokens = self._usage(request, parsed)
        return Completion(
            text=parsed["text"],
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=parsed["finish_reason"],
            seconds=seconds,
            prompt_token_ids=parsed["prompt_token_ids"],
            completion_token_ids=parsed["completion_token_ids"],
            logprobs=parsed["logprobs"] if request.want_logprobs else None,
        )

    def _usage(self, request: ChatRequest, parsed: dict[str, Any]) -> tuple[int, int]:
        prompt, completion = parsed["prompt_tokens"], parsed["completion_tokens"]
        if prompt is not None and completion is not None:
            return int(prompt), int(completion)
        if self.tokenizer is not None:
            if prompt is None:
                prompt = self.tokenizer.chat_token_count(request.messages)
            if completion is None:
                completion = len(self.tokenizer.encode(parsed["text"]))
            return int(prompt), int(completion)
        if not self._warned_usage:
            self._warned_usage = True
            log.warning("%s returns no token usage and no tokenizer was given; counting 0 tokens",
                        self.base_url)
        return int(prompt or 0), int(completion or 0)

    def _raise_for_status(self, response: httpx.Response) -> None:
        message = _error_text(response)
        code = response.status_code
        lowered = message.lower()
        named = self.model is not None and self.model.lower() in lowered
        missing = named and any(h in lowered for h in _MODEL_MISSING_HINTS)
        if code == 404 or (code in (400, 422) and missing):
            if code == 404 and not ("model" in lowered or named):
                raise BackendError(f"{response.request.url} not found (HTTP 404: {message}); "
                                   "check the base URL (it should point at the server's /v1)")
            raise self._model_not_found(message)
        if code in (401, 403):
            raise BackendError(f"{self.base_url} refused the request (HTTP {code}: {message}); "
                               "check the API key")
        raise BackendError(f"{response.request.url} answered HTTP {code}: {message}")

    # -- one request with retries ---------------------------------------------------------------
    def _with_retries(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        abort: threading.Event,
        read: Callable[[httpx.Response], Any] | None = None,
    ) -> tuple[httpx.Response, Any]:
        """The first non-retryable response, and `read(response)` for a 200 one (an
        EmptyCompletion from `read` is retried); raises after `max_retries` retries are spent."""
        url = self.base_url + path
        last: _Retryable | None = None
        started = time.monotonic()
        deadline = None if self.max_wait is None else started + self.max_wait
        tries = 0
        out_of_time = False
        for attempt in range(self.max_retries + 1):
            if abort.is_set():
                raise BackendError(f"request to {url} abandoned: {_ABANDONED}")
            if attempt:
                assert last is not None
                pause = self.backoff.delay(attempt - 1, last.retry_after)
                if deadline is not None and time.monotonic() + pause >= deadline:
                    out_of_time = True
                    break
                if self.on_retry is not None:
                    self.on_retry(
                        f"{method} {url} failed ({last}); retry {attempt} of {self.max_retries} "
                        f"in {pause:.1f} s"
                    )
                if abort.wait(pause):
                    raise BackendError(f"request to {url} abandoned: {_ABANDONED}")
            timeout = self.timeout
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    out_of_time = True
                    break
            tries += 1
            try:
                response = self._attempt(method, url, body, timeout)
                if read is None or response.status_code != 200:
                    return response, None
                try:
                    return response, read(response)
                except EmptyCompletion as exc:
                    raise _Retryable(f"empty completion: {exc}") from exc
            except _Retryable as exc:
                last = exc
                log.info("%s %s attempt %d failed: %s", method, url, attempt + 1, exc)
        assert last is not None
        attempts = f"{tries} attempt{'s' if tries != 1 else ''}"
        if out_of_time:
            spent = time.monotonic() - started
            attempts += f" in {spent:.0f} s (the --max-wait limit of {self.max_wait:g} s)"
        if last.unreachable:
            raise BackendUnreachable(
                f"cannot reach {url} after {attempts} ({last}); "
                "is the server running and is --base-url right?"
            )
        raise BackendError(f"{url} kept failing after {attempts} ({last}); try again later")

    def _attempt(
        self, method: str, url: str, body: dict[str, Any] | None, timeout: float | None = None
    ) -> httpx.Response:
        limit = self.timeout if timeout is None else timeout
        try:
            response = self._client.request(
                method, url, json=body, timeout=httpx.Timeout(limit, connect=min(limit, 10.0))
            )
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out: {type(exc).__name__}", unreachable=True) from exc
        except httpx.TransportError as exc:  # connection refused/reset, DNS, protocol errors
            raise _Retryable(f"{type(exc).__name__}: {exc}", unreachable=True) from exc
        code = response.status_code
        if code in RETRY_STATUS or code >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            raise _Retryable(f"HTTP {code}: {_error_text(response)}", retry_after)
        return response


def _names(names: Sequence[str], limit: int = 20) -> str:
    if not names:
        return "none"
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


__all__ = [
    "Backoff",
    "EmptyCompletion",
    "OpenAICompatLLM",
    "normalize_base_url",
    "parse_choice",
    "parse_retry_after",
]
