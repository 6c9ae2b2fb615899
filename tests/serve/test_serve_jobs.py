"""The document and job API: upload, jobs, server-sent events, cancel, and kill -9 + resume."""

from __future__ import annotations

import threading
import time

import httpx
from serve_helpers import SMALL, sse_events

from fault_server import keyed_doc, question
from memagent.loop.agent import MemAgent
from scripted import ScriptedLLM

BUDGETS = ["--window", "400", "--query", "64", "--chunk", "64", "--memory", "48", "--output", "32"]


def upload(url: str, text: str, **headers: str) -> dict:
    r = httpx.post(url + "/v1/documents", content=text.encode(), params={"name": "doc.txt"},
                   headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def wait_job(url: str, job_id: str, **headers: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        job = httpx.get(f"{url}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
        if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_a_job_streams_every_memory_and_ends_with_ask_answers(serve, tokenizer):
    gate = threading.Event()
    run = serve(llm=ScriptedLLM(tokenizer, hook=lambda n: gate.wait(30) if n == 1 else None))
    text = keyed_doc(tokenizer)
    doc = upload(run.url, text)
    assert doc["id"].startswith("doc-") and doc["tokens"] > 400 and doc["chunks"] > 3
    questions = [question("alpha"), question("echo")]
    job = httpx.post(run.v1 + "/jobs", json={"document_id": doc["id"], "questions": questions}).json()
    assert job["status"] == "queued"
    with httpx.stream("GET", f"{run.v1}/jobs/{job['id']}/events", timeout=30) as r:
        while not run.service.listeners(job["id"]):
            time.sleep(0.01)
        gate.set()  # the first step waited for the listener
        events = sse_events(r.iter_lines())
    agent = MemAgent(ScriptedLLM(tokenizer), SMALL)
    expected = [agent.ask(text, q) for q in questions]
    name, final = events[-1]
    assert name == "done" and final["status"] == "completed"
    assert [a["answer"] for a in final["answers"]] == [e.answer for e in expected]
    steps = [d for n, d in events if n == "step" and d["question"] == 1]
    assert [s["chunk"] for s in steps] == list(range(doc["chunks"] + 1))
    assert steps[-1]["kind"] == "final" and steps[-1]["memory"] == expected[1].memory
    assert all(s["chunks"] == doc["chunks"] for s in steps)
    got = httpx.get(f"{run.v1}/jobs/{job['id']}").json()
    assert got["answers"] == final["answers"]
    assert got["answers"][0]["usage"]["prompt_tokens"] == expected[0].usage.prompt_tokens


def test_twenty_concurrent_jobs_answer_as_twenty_sequential_runs(serve, tokenizer):
    keys = ("alpha", "bravo", "charlie", "delta", "echo", "fox", "golf", "hotel", "india")
    texts = [keyed_doc(tokenizer, keys=keys[: 5 + i % 5]) for i in range(20)]
    expected = [MemAgent(ScriptedLLM(tokenizer), SMALL).ask(t, "q?").answer for t in texts]
    run = serve()
    docs = [upload(run.url, t)["id"] for t in texts]
    jobs = [httpx.post(run.v1 + "/jobs", json={"document_id": d, "questions": ["q?"]}).json()["id"]
            for d in docs]
    done = [wait_job(run.url, j) for j in jobs]
    assert [j["answers"][0]["answer"] for j in done] == expected


def test_cancel_stops_a_running_job(serve, tokenizer):
    gate = threading.Event()
    run = serve(llm=ScriptedLLM(tokenizer, hook=lambda n: gate.wait(30) if n == 2 else None))
    doc = upload(run.url, keyed_doc(tokenizer))
    job = httpx.post(run.v1 + "/jobs", json={"document_id": doc["id"], "questions": ["q?"]}).json()
    while run.llm.calls < 2:
        time.sleep(0.02)
    cancelled = httpx.delete(f"{run.v1}/jobs/{job['id']}").json()
    gate.set()
    assert cancelled["status"] == "cancelled"
    assert wait_job(run.url, job["id"])["status"] == "cancelled"
    while run.service.runner.load():
        time.sleep(0.02)
    assert run.llm.calls <= 3  # stopped after the step in flight, not run to the end


def test_kill_9_mid_job_then_restart_resumes_with_the_same_answers(
        spawn, fault_server, tokenizer, embedded_model_dir, tmp_path, capsys):
    from memagent.cli import main

    gate = threading.Event()
    backend = fault_server(rule=lambda n, body: gate.wait(60) and None if n > 4 else None)
    args = ["--base-url", backend.url, "--model", "m", "--tokenizer", str(embedded_model_dir),
            "--data-dir", str(tmp_path / "data"), *BUDGETS]
    text = keyed_doc(tokenizer)
    questions = [question("bravo"), question("charlie")]
    server = spawn(args)
    doc = upload(server.url, text)
    job = httpx.post(server.url + "/v1/jobs",
                     json={"document_id": doc["id"], "questions": questions}).json()
    deadline = time.monotonic() + 60
    while sum(p["chunks_done"] for p in httpx.get(
            f"{server.url}/v1/jobs/{job['id']}").json()["progress"]) < 4:
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.05)
    server.kill9()  # two steps of each question are in its trace; the rest were in flight
    gate.set()
    before = backend.posts
    server = spawn(args)
    done = wait_job(server.url, job["id"])
    assert done["status"] == "completed", done
    steps = 2 * (doc["chunks"] + 1)
    assert backend.distinct_since(before) == steps - 4  # the four recorded steps are not re-run
    (tmp_path / "doc.txt").write_text(text)
    try:
        main(["ask", str(tmp_path / "doc.txt"), "-q", questions[0], "-q", questions[1],
              "--base-url", backend.url, "--model", "m", "--tokenizer", str(embedded_model_dir),
              *BUDGETS])
    except SystemExit as exc:
        assert exc.code == 0
    answers = capsys.readouterr().out.splitlines()
    assert [a["answer"] for a in done["answers"]] == answers == ["2222222", "3333333"]
