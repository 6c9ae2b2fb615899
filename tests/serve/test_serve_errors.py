"""Auth, caps and bad input: every error is JSON in OpenAI's shape with its documented code."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from serve_helpers import SMALL, start

from fault_server import keyed_doc
from memagent.loop.agent import MemAgent
from scripted import ScriptedLLM
from server import free_port

openai = pytest.importorskip("openai")

CHAT = "/v1/chat/completions"


def error(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == code and set(body) == {"message", "type", "param", "code"}
    assert "Traceback" not in r.text
    return str(body["message"])


def ask(doc: str = "", q: str = "q?") -> dict:
    messages = ([{"role": "user", "content": doc}] if doc else []) + [{"role": "user", "content": q}]
    return {"model": "memagent", "messages": messages}


def test_bad_requests_get_openai_shaped_4xx(serve, tokenizer):
    run = serve(max_request_bytes=20_000, max_upload_bytes=3000, max_document_tokens=500)
    v1 = run.v1
    error(httpx.post(run.url + CHAT, content=b"{not json"), 400, "invalid_json")
    assert "messages" in error(httpx.post(run.url + CHAT, json={"model": "memagent"}), 400,
                               "missing_field")
    error(httpx.post(run.url + CHAT, json={"messages": []}), 400, "invalid_value")
    error(httpx.post(run.url + CHAT, json={**ask(), "model": "gpt-9"}), 404, "model_not_found")
    error(httpx.post(run.url + CHAT, json={"messages": [{"role": "assistant", "content": "x"}]}),
          400, "invalid_messages")
    error(httpx.post(run.url + CHAT, json={**ask(), "document_id": "doc-../../etc/passwd"}),
          404, "document_not_found")
    error(httpx.post(run.url + CHAT, content=b"x" * 30_000), 413, "request_too_large")
    error(httpx.post(run.url + CHAT, json=ask(keyed_doc(tokenizer), "why? " * 100)), 400,
          "context_length_exceeded")  # the question is over the query budget
    error(httpx.post(run.url + CHAT, json=ask("", "long " * 500)), 400, "context_length_exceeded")
    error(httpx.get(v1 + "/jobs/job-0123"), 404, "job_not_found")
    error(httpx.get(v1 + "/jobs/..%2F..%2Fmemagent.db"), 404, "not_found")
    error(httpx.delete(v1 + "/jobs/job-" + "0" * 24), 404, "job_not_found")
    error(httpx.post(v1 + "/jobs", json={"document_id": "doc-" + "0" * 24, "questions": ["q"]}),
          404, "document_not_found")
    error(httpx.post(v1 + "/jobs", json={"document_id": "doc-x"}), 400, "missing_field")
    error(httpx.post(v1 + "/jobs", json={"document_id": "d", "questions": [], "x": 1}), 400,
          "invalid_value")
    error(httpx.post(v1 + "/documents", content=b"a" * 4000), 413, "document_too_large")
    error(httpx.post(v1 + "/documents", content=b"word " * 590), 413, "document_too_large")
    error(httpx.post(v1 + "/documents", content=b""), 400, "empty_document")
    error(httpx.post(v1 + "/documents", content=b"\x00\xff\xfe binary"), 400, "invalid_document")
    error(httpx.get(run.url + "/v1/nothing"), 404, "not_found")
    error(httpx.put(run.url + CHAT), 405, "method_not_allowed")
    assert list((run.service.settings.data_dir / "uploads").iterdir()) == []  # nothing left


def test_a_full_queue_answers_429_with_retry_after(serve, tokenizer):
    gate = threading.Event()
    run = serve(max_queue=1, llm=ScriptedLLM(tokenizer, hook=lambda n: gate.wait(30)))
    first: list[httpx.Response] = []
    t = threading.Thread(target=lambda: first.append(
        httpx.post(run.url + CHAT, json=ask(keyed_doc(tokenizer)), timeout=30)))
    t.start()
    while run.service.runner.load() < 1:
        time.sleep(0.01)
    with pytest.raises(openai.RateLimitError) as caught:
        openai.OpenAI(base_url=run.v1, api_key="x", max_retries=0).chat.completions.create(
            **ask(keyed_doc(tokenizer)))
    assert caught.value.response.headers["retry-after"] == "5"
    assert caught.value.code == "queue_full"
    gate.set()
    t.join(30)
    assert first[0].status_code == 200


def test_the_server_key_guards_every_api_route(serve):
    run = serve(api_key="s3cret")
    with pytest.raises(openai.AuthenticationError) as caught:
        openai.OpenAI(base_url=run.v1, api_key="wrong", max_retries=0).models.list()
    assert caught.value.code == "invalid_api_key"
    assert "missing" in error(httpx.get(run.v1 + "/models"), 401, "invalid_api_key")
    error(httpx.post(run.v1 + "/documents", content=b"text"), 401, "invalid_api_key")
    ok = openai.OpenAI(base_url=run.v1, api_key="s3cret", max_retries=0)
    assert ok.models.list().data[0].id == "memagent"
    assert httpx.get(run.url + "/").status_code == 200  # the page holds no data; its calls send the key


def test_serve_refuses_a_public_address_without_a_key(capsys):
    from memagent.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["serve", "--host", "0.0.0.0"])
    assert caught.value.code == 3
    err = capsys.readouterr().err
    assert "refusing to bind 0.0.0.0 without a key" in err and "Traceback" not in err


@pytest.mark.parametrize(("fault", "status", "code"), [("500", 502, "backend_error"),
                                                       ("timeout", 504, "backend_timeout")])
def test_a_failing_backend_is_a_502_or_504_naming_it(fault_server, embedded_model_dir, tmp_path,
                                                     tokenizer, fault, status, code):
    from memagent.llm import BackendOptions, load_llm
    from memagent.serve.service import ServeSettings, Service

    backend = fault_server(rule=lambda n, body: fault, hang=3.0)
    llm = load_llm(BackendOptions(base_url=backend.url, model="m", tokenizer=str(embedded_model_dir),
                                  max_retries=0, timeout=0.5))
    url, stop = start(Service(MemAgent(llm, SMALL), ServeSettings(tmp_path / "d")))
    try:
        for body in (ask(), ask(keyed_doc(tokenizer))):  # passthrough, then the memory path
            message = error(httpx.post(url + CHAT, json=body, timeout=30), status, code)
            assert message.startswith(f"backend {llm.name} failed")
    finally:
        stop()


def test_serve_refuses_a_busy_port_and_an_unwritable_data_dir_before_loading(capsys, tmp_path):
    import socket

    from memagent.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as caught:
            main(["serve", "--port", str(port), "--data-dir", str(tmp_path / "d")])
    assert caught.value.code == 3
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "file" / "sub")])
    assert caught.value.code == 3
    err = capsys.readouterr().err
    assert "is not a writable directory" in err and "Traceback" not in err


def test_serve_takes_every_shared_model_flag():
    """serve's model flags are ask's (cli/options.ModelArgs): none missing as options grow."""
    import inspect
    from dataclasses import fields

    from memagent.cli.options import ModelArgs
    from memagent.cli.serve import serve_command

    params = inspect.signature(serve_command).parameters
    assert {f.name for f in fields(ModelArgs)} <= set(params)
