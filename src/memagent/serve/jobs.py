"""The document and job API (docs/serve.md): upload once, ask many questions, watch, cancel.

POST /v1/documents      the request body is the document (UTF-8 text), streamed to disk;
                        `?name=` names it. 413 over the upload or token cap.
POST /v1/jobs           {"document_id", "questions": [...]} -> the job (status "queued").
GET  /v1/jobs/{id}      status, progress (memory steps done per question) and answers.
GET  /v1/jobs/{id}/events  server-sent events: `step` (the memory after each chunk), then `done`.
DELETE /v1/jobs/{id}    cancels (a running job stops after the step in flight).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from memagent.chunking import iter_chunks
from memagent.errors import MemAgentError
from memagent.loop.agent import trace_paths
from memagent.loop.trace import read_trace
from memagent.serve.service import Service, step_event
from memagent.serve.shapes import ApiError, JobBody, capped_chunks, parse, read_body
from memagent.serve.store import JobRow
from memagent.sources import DocumentSource


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1")
    store = service.store

    @api.post("/documents")
    async def upload(request: Request, name: str = "document.txt") -> dict[str, Any]:
        part = store.upload_path()
        try:
            size = await _spool(request, part, service.settings.max_upload_bytes)
            tokens = await asyncio.to_thread(_count_tokens, service, part)
            doc_id = service.new_key("doc")
            os.replace(part, store.document_path(doc_id))
        finally:
            part.unlink(missing_ok=True)
        store.add_document(doc_id, name[:200], size, tokens)
        return _document(service, doc_id)

    @api.get("/documents/{doc_id}")
    async def document(doc_id: str) -> dict[str, Any]:
        return _document(service, doc_id)

    @api.post("/jobs")
    async def create(request: Request) -> dict[str, Any]:
        body: JobBody = parse(JobBody, await read_body(request, 1024 * 1024))
        doc = store.document(body.document_id)
        if doc is None:
            raise ApiError(404, f"no document {body.document_id!r}", "document_not_found",
                           param="document_id")
        limit = service.agent.budgets.query
        for i, q in enumerate(body.questions, 1):
            n = len(service.agent.tokenizer.encode(q))
            if not q.strip() or n > limit:
                why = "is empty" if not q.strip() else f"is {n} tokens, over the query budget {limit}"
                raise ApiError(400, f"question {i} {why}", "invalid_question", param="questions")
        job_id = service.new_key("job")
        store.add_job(job_id, body.document_id, body.questions)
        row = store.job(job_id)
        assert row is not None
        try:
            service.submit(service.job_task(row), service.chunks_of(doc["tokens"]))
        except ApiError:
            store.delete_job(job_id)
            raise
        return job_json(service, row)

    @api.get("/jobs/{job_id}")
    async def get(job_id: str) -> dict[str, Any]:
        return job_json(service, _row(service, job_id))

    @api.delete("/jobs/{job_id}")
    async def cancel(job_id: str) -> dict[str, Any]:
        row = _row(service, job_id)
        if row.status in ("queued", "running"):
            service.runner.cancel(job_id)
            store.finish(job_id, "cancelled", None, "cancelled")
        return job_json(service, _row(service, job_id))

    @api.get("/jobs/{job_id}/events")
    async def events(job_id: str) -> StreamingResponse:
        _row(service, job_id)
        return StreamingResponse(_events(service, job_id), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    return api


async def _spool(request: Request, part: Path, limit: int) -> int:
    """Write the body to `part` as it arrives; 413 as soon as it passes `limit` bytes."""
    size = 0
    with part.open("wb") as out:
        async for chunk in capped_chunks(request, limit, "the document", "the upload limit",
                                         "document_too_large"):
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if size == 0:
        raise ApiError(400, "the document is empty: send its text as the request body",
                       "empty_document")
    return size


def _count_tokens(service: Service, path: Path) -> int:
    """The document's tokens, read as a job will read it (checks it is text), within the cap."""
    cap = service.settings.max_document_tokens
    tokens = 0
    try:
        source = DocumentSource.from_args([str(path)])
        for chunk in iter_chunks(source, service.agent.tokenizer, service.agent.budgets.chunk):
            tokens += chunk.n_tokens
            if tokens > cap:
                raise ApiError(413, f"the document is over the limit of {cap} tokens",
                               "document_too_large")
    except MemAgentError as exc:
        raise ApiError(400, str(exc).replace(str(path), "the document"), "invalid_document") from None
    return tokens


def _document(service: Service, doc_id: str) -> dict[str, Any]:
    doc = service.store.document(doc_id)
    if doc is None:
        raise ApiError(404, f"no document {doc_id!r}", "document_not_found")
    doc["chunks"] = service.chunks_of(doc["tokens"])
    return doc


def _row(service: Service, job_id: str) -> JobRow:
    row = service.store.job(job_id)
    if row is None:
        raise ApiError(404, f"no job {job_id!r}", "job_not_found")
    return row


def job_json(service: Service, row: JobRow) -> dict[str, Any]:
    task = service.runner.find(row.id)
    status = row.status
    if task is not None and status == "queued" and task in service.runner.running:
        status = "running"
    steps = task.steps if task is not None else {}
    progress = [{"question": i, "chunks_done": steps.get(i, 0),
                 "chunks": service.totals.get(row.id, 0)} for i in range(len(row.questions))]
    return {"id": row.id, "object": "job", "document_id": row.document_id,
            "questions": row.questions, "status": status, "error": row.error,
            "answers": row.answers, "progress": progress, "created": int(row.created),
            "created_at": round(row.created, 3),
            "finished": int(row.finished) if row.finished else None}


async def _events(service: Service, job_id: str) -> AsyncIterator[str]:
    """Every memory step so far (from the job's traces), then each new one live, then `done`."""
    sub = service.subscribe(job_id)  # first, so no step falls between the replay and the live
    sent: dict[int, int] = {}  # question -> last chunk index sent

    def step(event: dict[str, Any]) -> str | None:
        if event["chunk"] <= sent.get(event["question"], -1):
            return None
        sent[event["question"]] = event["chunk"]
        return f"event: step\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"

    try:
        for event in await asyncio.to_thread(_recorded, service, job_id):
            if (line := step(event)) is not None:
                yield line
        while True:
            row = service.store.job(job_id)
            if row is None or row.status not in ("queued", "running"):
                break
            try:
                event = await asyncio.wait_for(sub.get(), timeout=15)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if event["type"] == "done":
                break
            if (line := step(event)) is not None:
                yield line
        row = service.store.job(job_id)
        if row is not None:
            yield f"event: done\ndata: {json.dumps(job_json(service, row), ensure_ascii=False)}\n\n"
    finally:
        sub.close()


def _recorded(service: Service, job_id: str) -> list[dict[str, Any]]:
    """The memory steps the job's traces hold (a trace being written: its complete lines)."""
    row = service.store.job(job_id)
    if row is None:
        return []
    doc = service.store.document(row.document_id)
    chunks = service.chunks_of(doc["tokens"]) if doc else 0
    paths = trace_paths(service.store.trace_base(job_id), len(row.questions))
    events = []
    for i, path in enumerate(paths):
        try:
            _, steps, _ = read_trace(path)
        except (MemAgentError, OSError):
            continue
        events += [step_event(i, s, chunks) for s in steps]
    return events
