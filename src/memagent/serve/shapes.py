"""OpenAI's shapes for chat completions, models and errors, plus the job API's own."""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request


class ApiError(Exception):
    """An error answered in OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, code: str, kind: str = "invalid_request_error",
                 param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.kind = status, message, code, kind
        self.param, self.headers = param, headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.code, self.kind, self.param)


def error_body(message: str, code: str, kind: str = "invalid_request_error",
               param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


async def capped_chunks(request: Request, limit: int, what: str, limit_name: str,
                        code: str) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive, refused with 413 (`code`) once `what` passes `limit`
    bytes: at once from its declared length, else as soon as the bytes read pass it."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit:
        raise ApiError(413, f"{what} is {declared} bytes, over {limit_name} of {limit}", code)
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise ApiError(413, f"{what} is over {limit_name} of {limit} bytes", code)
        yield chunk


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 once it passes `limit` bytes (never read further)."""
    chunks = [chunk async for chunk in capped_chunks(request, limit, "the request body",
                                                      "the limit", "request_too_large")]
    return b"".join(chunks)


def parse(model: type[Any], raw: bytes) -> Any:
    """A JSON body checked against `model`: 400 naming the first problem."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", "invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object", "invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        code = "missing_field" if first["type"] == "missing" else "invalid_value"
        raise ApiError(400, f"{where}: {first['msg']}", code, param=where) from None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text; content parts other than text are refused."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ApiError(400, "only text content parts are supported", "unsupported_content",
                               param="messages")
            parts.append(part["text"])
        return "".join(parts)


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequestBody(BaseModel):
    """The fields memagent reads; others an OpenAI client sends are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    document_id: str | None = None  # extra_body={"document_id": ...}: an uploaded document


class JobBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document_id: str
    questions: list[str] = Field(min_length=1, max_length=64)


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def usage_json(prompt: int, completion: int, cached: int = 0) -> dict[str, Any]:
    """OpenAI's usage object; `cached`: prompt tokens served from the backend's prefix cache."""
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}


def chat_completion(cid: str, model: str, text: str, finish: str, usage: dict[str, Any],
                    extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                     "message": {"role": "assistant", "content": text}}],
        "usage": usage, "memagent": extra,
    }


def chat_chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None,
               usage: dict[str, Any] | None = None) -> dict[str, Any]:
    choices = [] if usage is not None else [
        {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
    body: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk",
                            "created": int(time.time()), "model": model, "choices": choices}
    if usage is not None:
        body["usage"] = usage
    return body
