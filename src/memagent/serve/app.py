"""The routes: /v1/models, /v1/chat/completions (docs/serve.md), the job API (jobs.py), the page.

Where the document and the question are: the last message is the question (a user message); the
contents of the earlier messages, joined by blank lines, are the document, unless the request
names an uploaded one with `document_id` (the openai client's `extra_body`). A request whose
messages and max_tokens fit the backend's window in one piece goes to the backend unchanged
("passthrough"); otherwise the memory loop reads the document ("memory"). The path taken is in the
response's `memagent` field and its `X-Memagent-Path` header. Streamed memory-path responses carry
progress as SSE comment lines, `: memagent {...}`, which OpenAI clients skip.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from memagent.errors import MemAgentError
from memagent.serve import jobs
from memagent.serve.runner import Task
from memagent.serve.service import Service, api_error
from memagent.serve.shapes import (
    ApiError,
    ChatRequestBody,
    chat_chunk,
    chat_completion,
    completion_id,
    error_body,
    parse,
    read_body,
    usage_json,
)
from memagent.sources import DocumentSource
from memagent.types import ChatRequest, SamplingParams

# The chat reply when answer grounding dropped every part of the model's answer: the memory holds
# nothing that answers (the model's own words stay in memagent.raw_answer).
NO_ANSWER = "No answer: the memory kept nothing that answers the question."


@dataclass
class Plan:
    """Where one chat request goes: its question, its document, and whether it passes through."""

    question: str
    document: str | DocumentSource
    tokens: int
    passthrough: bool
    max_tokens: int


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="memagent", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service
    _errors(app)
    _auth(app, service)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [_model(service)]}

    @app.get("/v1/models/{model_id}")
    async def model(model_id: str) -> dict[str, Any]:
        _check_model(service, model_id)
        return _model(service)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = parse(ChatRequestBody, await read_body(request, service.settings.max_request_bytes))
        if body.model is not None:
            _check_model(service, body.model)
        plan = await asyncio.to_thread(_plan, service, body)
        if plan.passthrough:
            return await _passthrough(service, body, plan)
        return await _memory(service, body, plan)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        html = resources.files("memagent.serve").joinpath("static/index.html").read_text("utf-8")
        return HTMLResponse(html)

    app.include_router(jobs.router(service))
    return app


# -- shared helpers ----------------------------------------------------------------------------
def _model(service: Service) -> dict[str, Any]:
    b = service.agent.budgets
    return {"id": service.settings.model_id, "object": "model", "created": 0,
            "owned_by": "memagent",
            "memagent": {"backend": service.backend, "window": b.window, "chunk": b.chunk,
                         "memory": b.memory, "output": b.output}}


def _check_model(service: Service, name: str) -> None:
    if name not in (service.settings.model_id, service.backend):
        raise ApiError(404, f"model {name!r} is not served here; use "
                       f"{service.settings.model_id!r} (GET /v1/models)", "model_not_found",
                       param="model")


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error_handler(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(str(exc.detail), code), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        import logging

        logging.getLogger("memagent.serve").exception("serve: %s failed", request.url.path)
        return JSONResponse(error_body("internal error (see the server log)", "internal_error",
                                       "api_error"), status_code=500)


def _auth(app: FastAPI, service: Service) -> None:
    key = service.settings.api_key
    if key is None:
        return

    @app.middleware("http")
    async def bearer(request: Request, call_next: Any) -> Response:
        if request.url.path.startswith("/v1/"):
            given = request.headers.get("authorization", "")
            if not secrets.compare_digest(given.encode(), f"Bearer {key}".encode()):
                why = "missing" if not given else "wrong"
                return JSONResponse(
                    error_body(f"{why} API key: send Authorization: Bearer <key>",
                               "invalid_api_key"), status_code=401,
                    headers={"WWW-Authenticate": "Bearer"})
        response: Response = await call_next(request)
        return response


# -- chat completions --------------------------------------------------------------------------
def _plan(service: Service, body: ChatRequestBody) -> Plan:
    agent = service.agent
    last = body.messages[-1]
    if last.role != "user":
        raise ApiError(400, "the last message must be the user's question", "invalid_messages",
                       param="messages")
    question = last.text()
    max_tokens = body.max_completion_tokens or body.max_tokens or agent.budgets.output
    if body.document_id is not None:
        doc = service.store.document(body.document_id)
        if doc is None:
            raise ApiError(404, f"no document {body.document_id!r}", "document_not_found",
                           param="document_id")
        path = service.store.document_path(body.document_id)
        return Plan(question, DocumentSource.from_args([str(path)]), doc["tokens"], False,
                    max_tokens)
    messages = [{"role": m.role, "content": m.text()} for m in body.messages]
    prompt = agent.tokenizer.chat_token_count(messages)
    if prompt + max_tokens <= agent.budgets.window:
        return Plan(question, "", prompt, True, max_tokens)
    if len(body.messages) == 1:
        raise ApiError(400, f"the request is {prompt} tokens with max_tokens {max_tokens}, over "
                       f"the window of {agent.budgets.window}, and has no document: put the "
                       "document in earlier messages and the question last",
                       "context_length_exceeded", param="messages")
    document = "\n\n".join(m.text() for m in body.messages[:-1])
    tokens = len(agent.tokenizer.encode(document))
    if tokens > service.settings.max_document_tokens:
        raise ApiError(413, f"the document is {tokens} tokens, over the limit of "
                       f"{service.settings.max_document_tokens}", "document_too_large")
    return Plan(question, document, tokens, False, max_tokens)


async def _passthrough(service: Service, body: ChatRequestBody, plan: Plan) -> Response:
    agent = service.agent
    base = agent.config.sampling
    sampling = SamplingParams(
        temperature=base.temperature if body.temperature is None else body.temperature,
        top_p=base.top_p if body.top_p is None else body.top_p)
    messages = tuple({"role": m.role, "content": m.text()} for m in body.messages)
    request = ChatRequest(messages, plan.max_tokens, seed=body.seed)
    try:
        done = await asyncio.to_thread(service.runner.passthrough, request, sampling)
    except MemAgentError as exc:
        raise api_error(exc, service.backend) from None
    usage = usage_json(done.prompt_tokens, done.completion_tokens, done.cached_tokens)
    extra = {"path": "passthrough", "backend": service.backend}
    cid, model = completion_id(), service.settings.model_id
    headers = {"X-Memagent-Path": "passthrough"}
    if not body.stream:
        return JSONResponse(chat_completion(cid, model, done.text, done.finish_reason, usage,
                                            extra), headers=headers)

    async def events() -> AsyncIterator[str]:
        yield sse(chat_chunk(cid, model, {"role": "assistant", "content": done.text}))
        yield sse(chat_chunk(cid, model, {}, done.finish_reason))
        if body.stream_options is not None and body.stream_options.include_usage:
            yield sse(chat_chunk(cid, model, {}, usage=usage))
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def comment(event: dict[str, Any]) -> str:
    return f": memagent {json.dumps(event, ensure_ascii=False)}\n\n"


async def _memory(service: Service, body: ChatRequestBody, plan: Plan) -> Response:
    task = Task(service.new_key("chat"), plan.document, [plan.question])
    sub = service.subscribe(task.key)
    try:
        service.submit(task, service.chunks_of(plan.tokens))
    except ApiError:
        sub.close()
        raise
    cid, model, t0 = completion_id(), service.settings.model_id, time.perf_counter()
    headers = {"X-Memagent-Path": "memory"}
    if not body.stream:
        try:
            while (await sub.get())["type"] != "done":
                pass
        finally:
            sub.close()
            service.runner.cancel(task.key)  # a client gone mid-run stops its task
        text, usage, extra = _outcome(service, task, t0)
        return JSONResponse(chat_completion(cid, model, text, "stop", usage, extra),
                            headers=headers)

    async def events() -> AsyncIterator[str]:
        try:
            yield sse(chat_chunk(cid, model, {"role": "assistant", "content": ""}))
            while (event := await sub.get())["type"] != "done":
                yield comment(event)
            try:
                text, usage, extra = _outcome(service, task, t0)
            except ApiError as exc:
                yield sse(exc.body())
                return
            yield comment({"type": "done", **extra})
            yield sse(chat_chunk(cid, model, {"content": text}))
            yield sse(chat_chunk(cid, model, {}, "stop"))
            if body.stream_options is not None and body.stream_options.include_usage:
                yield sse(chat_chunk(cid, model, {}, usage=usage))
            yield "data: [DONE]\n\n"
        finally:
            sub.close()
            service.runner.cancel(task.key)

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _outcome(service: Service, task: Task, t0: float) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A finished chat task's answer text, usage and `memagent` field; its error as an ApiError."""
    error = task.error or (task.outcomes[0].error if task.outcomes else None)
    result = task.outcomes[0].result if task.outcomes else None
    if error is not None or result is None:
        raise api_error(error or MemAgentError("the task ended without an answer"),
                        service.backend)
    text = result.answer if result.answer is not None else result.raw_answer
    if result.answer is None and result.grounding_note:  # grounding left nothing: say so
        text = NO_ANSWER
    extra = {"path": "memory", "backend": service.backend, "chunks": result.chunks,
             "document_tokens": result.document_tokens, "answer_rule": result.rule.value,
             "raw_answer": result.raw_answer, "memory": result.memory,
             "requests": result.usage.requests, "seconds": round(time.perf_counter() - t0, 3)}
    if result.grounding_note:
        extra["answer_grounding"] = result.grounding_note
    return text, usage_json(result.usage.prompt_tokens, result.usage.completion_tokens,
                            result.usage.cached_tokens), extra

