"""Any OpenAI-compatible chat server: vLLM, SGLang, llama.cpp, Ollama, `transformers serve`, hosted.

Concurrency model: one synchronous `httpx.Client` (thread-safe, one connection pool of
`max_concurrency` connections) and memagent's one thread model, `memagent.inflight`. Under the
scheduler (continuous mode) `generate` gets one request at a time and sends it on the scheduler's
thread: the scheduler owns concurrency there. A batch given to `generate` directly (eval's context
baselines, the closed-book filter, library code) is sent by `inflight.run_all`, at most
`max_concurrency` requests in flight. The callers are synchronous, the work is I/O-bound, and
threads keep working when the caller already runs inside an event loop (notebooks, async apps),
where `asyncio.run` would fail.

Each request goes through `retries.with_retries` (what is retried, backoff, `max_wait`,
`on_retry`); bodies and answers are `wire`'s. Every low-level failure leaves this module as a
`BackendError` subclass whose message names the URL and what to do.

A 200 answer without usable text (`"content": null`, no choices, a refusal, a content filter)
is an `EmptyCompletion`: retried like a 5xx, then a `BackendError`, never an empty memory or answer.
An empty string is a real (empty) generation and is returned as one. `usage` missing -> token
counts from `tokenizer` if one was given, else 0 (with a warning).

Credentials in the URL (`http://user:KEY@host/v1`) are sent as HTTP basic auth, as httpx does, but
never kept in `base_url`, `name` or any message: those carry the URL without its userinfo.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import httpx

from memagent.errors import BackendError, InputError, ModelNotFound
from memagent.inflight import run_all
from memagent.llm.openai_compat.retries import Backoff, RetryPolicy, with_retries
from memagent.llm.openai_compat.wire import (
    MODEL_MISSING_HINTS,
    chat_body,
    check_api_key,
    error_text,
    names_list,
    normalize_base_url,
    parse_choice,
    userinfo_auth,
)
from memagent.types import ChatRequest, Completion, SamplingParams, Scheduling, Tokenizer
from memagent.urls import add_secret, strip_credentials, url_secrets

log = logging.getLogger(__name__)


class OpenAICompatLLM:
    """A batched `LLM` over `/v1/chat/completions`; requests of a batch run concurrently
    (`memagent.inflight.run_all`, at most `max_concurrency` in flight).

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
        if not timeout > 0:  # NaN too: it fails every comparison
            raise InputError(f"timeout must be > 0 seconds, got {timeout}")
        if max_wait is not None and not max_wait > 0:
            raise InputError(f"max_wait must be > 0 seconds, got {max_wait}")
        full_url = normalize_base_url(base_url)
        url_secrets(full_url)  # its password, like the key, is hidden in every message (redact)
        if api_key:
            add_secret(api_key)
            check_api_key(api_key)
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
            auth=userinfo_auth(full_url),
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
                f"{error_text(response)}; pass the model name explicitly"
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
                        f"{self.base_url} serves {len(names)} models ({names_list(names)}); "
                        "choose one with --model"
                    )
                self.model = names[0]
                self.name = f"openai:{self.model}@{self.base_url}"
            return self.model

    def _model_not_found(self, server_message: str) -> ModelNotFound:
        try:
            available = f"available: {names_list(self.list_models())}"
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
        bodies = [chat_body(model, r, sampling, self.extra_body) for r in requests]
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
        if len(bodies) == 1:  # the scheduler's case: this thread is already the request's own
            return [self._complete(requests[0], bodies[0], abort)]
        calls = [partial(self._complete, r, b, abort) for r, b in zip(requests, bodies, strict=True)]
        try:
            return run_all(calls, self.max_concurrency, "memagent-http")
        except BaseException:  # a failure or Ctrl-C: the requests still in flight stop retrying
            abort.set()
            raise

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
        message = error_text(response)
        code = response.status_code
        lowered = message.lower()
        named = self.model is not None and self.model.lower() in lowered
        missing = named and any(h in lowered for h in MODEL_MISSING_HINTS)
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
        policy = RetryPolicy(self.max_retries, self.backoff, self.timeout, self.max_wait,
                             self.on_retry)
        return with_retries(self._client, method, self.base_url + path, body, policy, abort, read)
