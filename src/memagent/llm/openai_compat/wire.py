"""The OpenAI chat wire format: base URLs, request bodies, answers and the servers' error texts.

Pure functions over URLs, dicts and `httpx.Response`s; no I/O. Servers differ in what they return
and `parse_choice` degrades gracefully:
- `usage` missing -> None counts (the client counts with its tokenizer, else 0);
- `logprobs` ignored by the server (e.g. `transformers serve`) -> None;
- token ids are read when the server returns them (vLLM with `extra_body={"return_token_ids": True}`
  puts `prompt_token_ids` at the top level and `token_ids` on each choice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from memagent.errors import InputError
from memagent.types import ChatRequest, SamplingParams
from memagent.urls import check_server_url, redact, strip_credentials

MODEL_MISSING_HINTS = ("not found", "does not exist", "not exist", "unknown model", "requested",
                       "not served", "no such model", "invalid model")


def normalize_base_url(base_url: str) -> str:
    """'http://host:8000', '.../v1' and '.../v1/' all become 'http://host:8000/v1'.

    Userinfo (`user:key@`) is kept here; `strip_credentials` removes it for display. A scheme other
    than http(s), no host, a port outside 1-65535, a query or a fragment are InputErrors
    (`check_server_url`), before any request."""
    url = check_server_url(base_url).rstrip("/")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:  # its text may quote the URL: not shown, it may hold a key
        raise InputError(f"base_url {strip_credentials(base_url)!r} is not a valid URL") from exc
    if not parsed.host:
        raise InputError(f"base_url {strip_credentials(base_url)!r} names no host")
    return url if url.endswith("/v1") else url + "/v1"


def check_api_key(api_key: str) -> None:
    """An API key goes in an HTTP header as `Bearer KEY`: printable ASCII only. Anything else (a
    non-ASCII letter, a newline from a pasted file) is an InputError that does not quote the key."""
    for i, ch in enumerate(api_key, 1):
        if not " " <= ch <= "~":
            kind = "a non-ASCII character" if ord(ch) > 127 else f"a control character ({ch!r})"
            raise InputError(
                f"the API key (--api-key or $MEMAGENT_API_KEY/$OPENAI_API_KEY) holds {kind} at "
                f"position {i} of {len(api_key)}, which an HTTP header cannot carry: check the "
                "key (a trailing newline from a file?)"
            )


def userinfo_auth(url: str) -> httpx.BasicAuth | None:
    """Basic auth from a URL's `user:password@`, as httpx would derive it from the URL itself."""
    parsed = httpx.URL(url)
    if not (parsed.username or parsed.password):
        return None
    return httpx.BasicAuth(parsed.username, parsed.password)


def chat_body(
    model: str, request: ChatRequest, sampling: SamplingParams, extra_body: dict[str, Any]
) -> dict[str, Any]:
    """The `/v1/chat/completions` body for one request; `extra_body` is merged in last."""
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
    body.update(extra_body)
    return body


def error_text(response: httpx.Response) -> str:
    """The server's message: OpenAI-style {"error": {"message"}} or FastAPI's {"detail"}, redacted
    (a server may quote the key it refused; the message goes into errors, eval records, --json)."""
    return redact(_server_words(response))


def _server_words(response: httpx.Response) -> str:
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


def names_list(names: Sequence[str], limit: int = 20) -> str:
    """'a', 'b' and 3 more: model names for a message."""
    if not names:
        return "none"
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
