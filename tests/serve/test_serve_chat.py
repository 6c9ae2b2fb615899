"""/v1/models and /v1/chat/completions through the official openai client, against a real server."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from serve_helpers import SMALL

from fault_server import keyed_doc, question
from memagent.loop.agent import MemAgent
from scripted import ScriptedLLM

openai = pytest.importorskip("openai")


def client(url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)


def test_models_lists_the_served_agent(serve):
    run = serve()
    models = client(run.url).models.list()
    assert [m.id for m in models.data] == ["memagent"]
    assert models.data[0].model_extra["memagent"]["window"] == 400


def test_long_document_takes_the_memory_path_and_answers_as_ask(serve, tokenizer):
    run = serve()
    doc = keyed_doc(tokenizer)
    expected = MemAgent(ScriptedLLM(tokenizer), SMALL).ask(doc, question("bravo"))
    raw = client(run.url).chat.completions.with_raw_response.create(
        model="memagent",
        messages=[{"role": "user", "content": doc}, {"role": "user", "content": question("bravo")}])
    reply = raw.parse()
    assert raw.headers["x-memagent-path"] == "memory"
    assert reply.choices[0].message.content == expected.answer
    extra = reply.model_extra["memagent"]
    assert extra["path"] == "memory"
    assert extra["chunks"] == expected.chunks > 3
    assert extra["memory"] == expected.memory
    assert reply.usage.prompt_tokens == expected.usage.prompt_tokens
    assert reply.usage.completion_tokens == expected.usage.completion_tokens


def test_a_request_that_fits_the_window_passes_through_unchanged(serve):
    run = serve()
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    reply = client(run.url).chat.completions.create(model="memagent", messages=messages,
                                                    max_tokens=16)
    assert reply.model_extra["memagent"]["path"] == "passthrough"
    assert reply.choices[0].message.content == "The answer is \\boxed{unknown}."
    sent = run.llm.requests[-1]
    assert list(sent.messages) == messages and sent.max_tokens == 16
    assert reply.usage.completion_tokens > 0


def test_stream_gives_the_same_answer_and_progress_as_comments(serve, tokenizer):
    run = serve()
    doc = keyed_doc(tokenizer)
    messages = [{"role": "user", "content": doc}, {"role": "user", "content": question("alpha")}]
    whole = client(run.url).chat.completions.create(model="memagent", messages=messages)
    stream = client(run.url).chat.completions.create(
        model="memagent", messages=messages, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage.total_tokens == whole.usage.total_tokens
    with httpx.stream("POST", run.v1 + "/chat/completions", timeout=30,
                      json={"model": "memagent", "messages": messages, "stream": True}) as r:
        lines = list(r.iter_lines())
    progress = [json.loads(ln[len(": memagent "):]) for ln in lines if ln.startswith(": memagent ")]
    steps = [p for p in progress if p["type"] == "step"]
    n = whole.model_extra["memagent"]["chunks"]
    assert [s["chunk"] for s in steps] == [*range(n), n]  # every chunk, then the final step
    assert steps[0]["chunks"] == n
    assert steps[-2]["memory"] == whole.model_extra["memagent"]["memory"]
    assert progress[-1]["type"] == "done" and [ln for ln in lines if ln][-1] == "data: [DONE]"


def test_concurrent_requests_are_batched_and_answer_as_sequential_runs(serve, tokenizer):
    keys = ("alpha", "bravo", "charlie", "delta", "echo", "fox", "golf", "hotel", "india")
    docs = [keyed_doc(tokenizer, keys=keys[: 5 + i % 5]) for i in range(20)]
    alone = ScriptedLLM(tokenizer)
    expected = [MemAgent(alone, SMALL).ask(d, "q?").answer for d in docs]
    sequential_calls = alone.calls
    gate = threading.Event()
    run = serve(llm=ScriptedLLM(tokenizer, hook=lambda n: gate.wait(30) if n == 1 else None))
    answers: list[str | None] = [None] * 20

    def one(i: int) -> None:
        reply = client(run.url).chat.completions.create(
            model="memagent", messages=[{"role": "user", "content": docs[i]},
                                        {"role": "user", "content": "q?"}])
        answers[i] = reply.choices[0].message.content

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    while run.service.runner.load() < 20 and any(t.is_alive() for t in threads):
        threading.Event().wait(0.02)
    gate.set()  # the first batch held the first request; the other 19 wait as one batch
    for t in threads:
        t.join(60)
    assert answers == expected
    assert run.llm.calls < sequential_calls / 4


def test_a_request_joins_a_run_in_progress_and_is_answered_before_it_ends(serve, tokenizer):
    gate, later = threading.Event(), threading.Event()
    gates = {3: gate, 30: later}  # the job's 3rd and 30th rounds wait for the test
    run = serve(llm=ScriptedLLM(tokenizer, hook=lambda n: gates[n].wait(30) if n in gates else None))
    long_doc = keyed_doc(tokenizer) * 8  # ~56 chunks
    doc = httpx.post(run.v1 + "/documents", content=long_doc.encode()).json()
    job = httpx.post(run.v1 + "/jobs", json={"document_id": doc["id"], "questions": ["q?"]}).json()
    while run.llm.calls < 3:  # the job's run is in its third round, held there
        threading.Event().wait(0.01)
    reply: list[object] = []
    t = threading.Thread(target=lambda: reply.append(client(run.url).chat.completions.create(
        model="memagent", messages=[{"role": "user", "content": keyed_doc(tokenizer)},
                                    {"role": "user", "content": "q?"}])))
    t.start()
    while run.service.runner.load() < 2:
        threading.Event().wait(0.01)
    gate.set()
    t.join(60)
    state = httpx.get(f"{run.v1}/jobs/{job['id']}").json()
    later.set()
    expected = MemAgent(ScriptedLLM(tokenizer), SMALL).ask(keyed_doc(tokenizer), "q?").answer
    assert reply[0].choices[0].message.content == expected  # answered within the job's first 29 rounds
    assert state["status"] == "running" and state["progress"][0]["chunks_done"] < 30


def test_an_uploaded_document_named_by_id_answers_as_ask(serve, tokenizer):
    run = serve()
    text = keyed_doc(tokenizer)
    doc = httpx.post(run.v1 + "/documents", content=text.encode()).json()
    reply = client(run.url).chat.completions.create(
        model="memagent", messages=[{"role": "user", "content": question("charlie")}],
        extra_body={"document_id": doc["id"]})
    expected = MemAgent(ScriptedLLM(tokenizer), SMALL).ask(text, question("charlie"))
    assert reply.choices[0].message.content == expected.answer
    assert reply.model_extra["memagent"]["path"] == "memory"
    assert reply.model_extra["memagent"]["chunks"] == doc["chunks"]
