"""OpenAICompatLLM against real HTTP servers: a scripted one in-process, and `transformers serve`.

The scripted server is a real `http.server` on 127.0.0.1 that answers from a list of canned
responses, so retries, backoff and error mapping are exercised through httpx's real transport.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from memagent.errors import BackendError, BackendUnreachable, ModelNotFound
from memagent.llm.openai_compat import (
    Backoff,
    OpenAICompatLLM,
    normalize_base_url,
    parse_choice,
    parse_retry_after,
)
from memagent.types import ChatRequest, SamplingParams
from scripted_server import Scripted, null_body, ok_body

FAST = Backoff(base=0.01, cap=0.05)
GREEDY = SamplingParams(temperature=0.0)


@pytest.fixture
def scripted() -> Iterator[Any]:
    servers: list[Scripted] = []

    def make(script: list[tuple[int, dict[str, str], Any]], **kw: Any) -> Scripted:
        servers.append(Scripted(script, **kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def ask(text: str = "hi", max_tokens: int = 8, logprobs: bool = False) -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": text},), max_tokens=max_tokens,
                       want_logprobs=logprobs)


# ---- pure helpers ------------------------------------------------------------------------------
def test_normalize_base_url() -> None:
    assert normalize_base_url("http://h:1") == "http://h:1/v1"
    assert normalize_base_url("http://h:1/v1/") == "http://h:1/v1"
    with pytest.raises(ValueError, match="http"):
        normalize_base_url("h:1")
    for bad in ("http://[::1", "http://u:sk-9z@[::1", "http://:80"):
        with pytest.raises(ValueError, match=r"not a valid URL|names no host") as info:
            normalize_base_url(bad)
        assert "sk-9z" not in str(info.value)


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert 0.0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # type: ignore[operator]


def test_backoff_bounds() -> None:
    b = Backoff(base=1.0, cap=4.0, max_retry_after=10.0)
    assert all(0.0 <= b.delay(a) <= min(4.0, 2.0**a) for a in range(6) for _ in range(20))
    assert b.delay(0, retry_after=30.0) == 10.0


def test_parse_choice_reads_logprobs_and_token_ids() -> None:
    body = ok_body("ab", prompt_token_ids=[1, 2, 3])
    body["choices"][0]["token_ids"] = [7, 8]
    body["choices"][0]["logprobs"] = {"content": [{"token": "a", "logprob": -0.5},
                                                  {"token": "b", "logprob": -1.0}]}
    parsed = parse_choice(body)
    assert parsed["logprobs"] == [-0.5, -1.0]
    assert parsed["prompt_token_ids"] == [1, 2, 3]
    assert parsed["completion_token_ids"] == [7, 8]
    body["choices"][0]["logprobs"]["content"][0]["token"] = "token_id:7"
    body["choices"][0]["logprobs"]["content"][1]["token"] = "token_id:9"
    del body["choices"][0]["token_ids"]
    assert parse_choice(body)["completion_token_ids"] == [7, 9]


# ---- retries and errors against the scripted server --------------------------------------------
def test_retries_503_and_429_then_succeeds(scripted: Any) -> None:
    srv = scripted([(503, {}, {"error": "busy"}), (429, {"Retry-After": "0"}, {"error": "slow"}),
                    (200, {}, ok_body("done"))])
    llm = OpenAICompatLLM(srv.url, model="m", max_retries=3, backoff=FAST)
    [c] = llm.generate([ask()], GREEDY)
    assert (c.text, c.prompt_tokens, c.completion_tokens, srv.hits) == ("done", 11, 2, 3)
    assert c.seconds > 0


def test_retry_after_is_respected(scripted: Any) -> None:
    srv = scripted([(429, {"Retry-After": "1"}, {"error": "slow down"}), (200, {}, ok_body())])
    started = time.monotonic()
    OpenAICompatLLM(srv.url, model="m", max_retries=2, backoff=FAST).generate([ask()], GREEDY)
    assert time.monotonic() - started >= 0.9 and srv.hits == 2


def test_always_500_gives_backend_error_after_n_tries(scripted: Any) -> None:
    srv = scripted([(500, {}, {"error": {"message": "boom"}})])
    llm = OpenAICompatLLM(srv.url, model="m", max_retries=3, backoff=FAST)
    with pytest.raises(BackendError, match=r"4 attempts.*boom") as info:
        llm.generate([ask()], GREEDY)
    assert not isinstance(info.value, BackendUnreachable)
    assert srv.hits == 4


def test_each_retry_is_announced_in_one_line(scripted: Any) -> None:
    srv = scripted([(500, {}, {"error": {"message": "boom"}}),
                    (429, {"Retry-After": "0"}, {"error": "slow"}), (200, {}, ok_body("done"))])
    notices: list[str] = []
    llm = OpenAICompatLLM(srv.url, model="m", max_retries=3, backoff=FAST, on_retry=notices.append)
    assert llm.generate([ask()], GREEDY)[0].text == "done"
    assert len(notices) == 2 and all("\n" not in n for n in notices)
    assert notices[0].startswith(f"POST {srv.url}/v1/chat/completions failed (HTTP 500: boom); "
                                 "retry 1 of 3 in ")
    assert "(HTTP 429: slow); retry 2 of 3 in 0.0 s" in notices[1]


def test_a_hung_server_costs_at_most_max_wait(scripted: Any) -> None:
    srv = scripted([(200, {}, ok_body())], delay=3.0)  # answers after 3 s: every attempt times out
    notices: list[str] = []
    llm = OpenAICompatLLM(srv.url, model="m", timeout=0.5, max_retries=5, max_wait=1.5,
                          backoff=FAST, on_retry=notices.append)
    with pytest.raises(BackendUnreachable, match=r"after \d attempts in \d s \(the --max-wait "
                       r"limit of 1.5 s\) \(timed out: ReadTimeout\)"):
        llm.generate([ask()], GREEDY)
    # 1.5 s of 0.5 s attempts leaves room for 3 at most, not the 6 that --max-retries allows
    assert 1 <= len(notices) <= srv.hits <= 3, (srv.hits, notices)
    assert all("timed out" in n for n in notices)
    with pytest.raises(ValueError, match="max_wait"):
        OpenAICompatLLM(srv.url, max_wait=0)


def test_cancel_pending_stops_retries_in_progress(scripted: Any) -> None:

    srv = scripted([(500, {}, {"error": {"message": "boom"}})])
    llm = OpenAICompatLLM(srv.url, model="m", max_retries=50, backoff=Backoff(base=2.0, cap=2.0))
    errors: list[Exception] = []

    def run() -> None:
        try:
            llm.generate([ask()], GREEDY)
        except BackendError as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    while srv.hits < 1:
        time.sleep(0.01)
    llm.cancel_pending()
    worker.join(60)  # without the cancel: 50 retries, 2 s apart
    assert not worker.is_alive() and "abandoned" in str(errors[0]) and srv.hits <= 2
    assert llm._aborts == set()  # the finished call is forgotten
    srv.script[:] = [(200, {}, ok_body("later"))]  # a later request is not affected
    assert llm.generate([ask()], GREEDY)[0].text == "later"


def test_bad_request_is_not_retried(scripted: Any) -> None:
    srv = scripted([(400, {}, {"error": {"message": "max_tokens too large"}})])
    with pytest.raises(BackendError, match="HTTP 400: max_tokens too large"):
        OpenAICompatLLM(srv.url, model="m", backoff=FAST).generate([ask()], GREEDY)
    assert srv.hits == 1


def test_unknown_model_404_lists_available(scripted: Any) -> None:
    srv = scripted([(404, {}, {"error": {"message": "The model `x` does not exist."}})],
                   models=["alpha", "beta"])
    with pytest.raises(ModelNotFound, match=r"'x'.*available: 'alpha', 'beta'"):
        OpenAICompatLLM(srv.url, model="x", backoff=FAST).generate([ask()], GREEDY)


def test_model_picked_when_exactly_one_is_served(scripted: Any) -> None:
    srv = scripted([(200, {}, ok_body())], models=["only-one"])
    llm = OpenAICompatLLM(srv.url)
    llm.generate([ask()], GREEDY)
    assert srv.bodies[0]["model"] == "only-one" and "only-one" in llm.name


def test_no_model_and_many_served_is_a_clear_error(scripted: Any) -> None:
    srv = scripted([(200, {}, ok_body())], models=["a", "b"])
    with pytest.raises(ModelNotFound, match=r"2 models.*'a', 'b'.*--model"):
        OpenAICompatLLM(srv.url).generate([ask()], GREEDY)


def test_concurrency_limit_order_and_per_request_seeds(scripted: Any) -> None:
    srv = scripted([(200, {}, "echo")], delay=0.15)
    llm = OpenAICompatLLM(srv.url, model="m", max_concurrency=2)
    texts = [f"q{i}" for i in range(6)]
    sampling = SamplingParams(temperature=0.7, top_p=0.9, seed=7)
    requests = [replace(ask(t), seed=sampling.request_seed(i, 0)) for i, t in enumerate(texts)]
    out = llm.generate(requests, sampling)
    assert [c.text for c in out] == texts
    assert srv.max_in_flight == 2
    sent = sorted((b["messages"][0]["content"], b["seed"]) for b in srv.bodies)
    assert sent == [(f"q{i}", 7 + i * 100_003) for i in range(6)]  # each request's own seed
    assert all(b["temperature"] == 0.7 and b["top_p"] == 0.9 and b["max_tokens"] == 8
               and "logprobs" not in b for b in srv.bodies)


def test_a_failed_batch_raises_at_once_and_stops_the_others_retries(scripted: Any) -> None:
    """A batch given to generate directly (no scheduler above it): the first hard failure is
    raised without waiting, and the request still retrying behind it stops (no third hit)."""
    srv = scripted([(500, {}, {"error": {"message": "busy"}}),
                    (400, {}, {"error": {"message": "max_tokens too large"}})])
    llm = OpenAICompatLLM(srv.url, model="m", max_retries=50, backoff=Backoff(base=2.0, cap=2.0))
    with pytest.raises(BackendError, match="HTTP 400: max_tokens too large"):
        llm.generate([ask("a"), ask("b")], GREEDY)
    for _ in range(3000):  # the 500's request leaves its backoff wait ("abandoned") and ends
        if not any(t.name == "memagent-http" for t in threading.enumerate()):
            break
        time.sleep(0.01)
    assert srv.hits == 2 and llm._aborts == set()
    assert not any(t.name == "memagent-http" for t in threading.enumerate())


def test_logprobs_requested_and_usage_counted_by_tokenizer(scripted: Any, tokenizer: Any) -> None:
    body = ok_body("Paris is the capital.")
    del body["usage"]
    body["choices"][0]["logprobs"] = {"content": [{"token": "Paris", "logprob": -0.1}]}
    srv = scripted([(200, {}, body)])
    llm = OpenAICompatLLM(srv.url, model="m", tokenizer=tokenizer)
    request = ask("Capital of France?", logprobs=True)
    [c] = llm.generate([request], GREEDY)
    assert srv.bodies[0]["logprobs"] is True
    assert c.logprobs == [-0.1]
    assert c.prompt_tokens == tokenizer.chat_token_count(request.messages)
    assert c.completion_tokens == len(tokenizer.encode("Paris is the capital."))


def test_unreachable_port_is_backend_unreachable_quickly() -> None:
    import socket

    with socket.socket() as s:  # bound but never listening: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        llm = OpenAICompatLLM(f"http://127.0.0.1:{port}", model="m", max_retries=2, backoff=FAST)
        with pytest.raises(BackendUnreachable, match=f"127.0.0.1:{port}/v1/chat/completions"):
            llm.generate([ask()], GREEDY)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (null_body(), "content is null"),
        ({"object": "chat.completion", "choices": []}, "no choices"),
        (null_body(refusal="I can't help with that."), "refused"),
        ({"choices": [{"message": {"role": "assistant"}, "finish_reason": "stop"}]}, "missing"),
    ],
)
def test_null_or_refused_completion_is_retried_then_a_backend_error(
    scripted: Any, payload: Any, reason: str
) -> None:
    srv = scripted([(200, {}, payload)])
    llm = OpenAICompatLLM(srv.url, model="m", max_retries=2, backoff=FAST)
    with pytest.raises(BackendError, match=rf"3 attempts \(empty completion: .*{reason}"):
        llm.generate([ask()], GREEDY)
    assert srv.hits == 3
    srv = scripted([(200, {}, payload), (200, {}, ok_body("second try"))])
    llm = OpenAICompatLLM(srv.url, model="m", max_retries=2, backoff=FAST)
    assert [c.text for c in llm.generate([ask()], GREEDY)] == ["second try"]
    assert srv.hits == 2


def test_an_empty_string_is_a_real_empty_generation(scripted: Any) -> None:
    srv = scripted([(200, {}, ok_body(""))])
    [c] = OpenAICompatLLM(srv.url, model="m", backoff=FAST).generate([ask()], GREEDY)
    assert c.text == "" and srv.hits == 1  # the loop keeps the memory on it (test_profile)


def test_credentials_in_the_url_are_sent_but_never_shown(scripted: Any) -> None:
    import base64

    srv = scripted([(500, {}, {"error": "down"})])
    port = srv.url.rsplit(":", 1)[1]
    llm = OpenAICompatLLM(f"http://user:s3cr%40t@127.0.0.1:{port}", model="m", max_retries=0)
    with pytest.raises(BackendError) as info:
        llm.generate([ask()], GREEDY)
    assert srv.auth == ["Basic " + base64.b64encode(b"user:s3cr@t").decode()]
    for shown in (llm.name, llm.base_url, str(info.value)):
        assert "s3cr" not in shown and "user" not in shown and f"127.0.0.1:{port}/v1" in shown
    with pytest.raises(ValueError, match="ftp://h") as bad:
        OpenAICompatLLM("ftp://u:s3cr@h")
    assert "s3cr" not in str(bad.value)


def test_url_helpers_strip_credentials_and_unify_loopback() -> None:
    from memagent.urls import canonical_url, canonical_urls, redact_urls, strip_credentials

    assert strip_credentials("http://u:K@h:1/v1") == "http://h:1/v1"
    assert strip_credentials("https://h/v1?x=1") == "https://h/v1?x=1"
    assert redact_urls("memagent eval --base-url 'http://u:K@h/v1' -o x") == (
        "memagent eval --base-url 'http://h/v1' -o x"
    )
    assert canonical_url("http://u:K@LocalHost:8000/v1/") == canonical_url("http://127.0.0.1:8000/v1")
    assert canonical_url("http://[::1]:8000/v1") == "http://localhost:8000/v1"
    assert canonical_url("https://h:443/v1") == canonical_url("https://h/v1") != canonical_url("http://h/v1")
    assert canonical_url("http://127.0.0.1:8001/v1") != canonical_url("http://127.0.0.1:8000/v1")
    assert canonical_urls("openai:m@http://localhost:9/v1") == "openai:m@http://localhost:9/v1"
    assert canonical_urls("openai:m@http://127.0.0.1:9/v1") == "openai:m@http://localhost:9/v1"


def test_redact_hides_credentials_and_keeps_prose() -> None:
    """What every CLI error and warning passes through (issue 25 item 4)."""
    from memagent.urls import add_secret, check_server_url, redact, strip_credentials

    add_secret("sk-redact-1\nsecond-half")
    assert redact("key sk-redact-1 and second-half, escaped sk-redact-1\\nsecond-half") == (
        "key *** and ***, escaped ***")
    assert redact("Authorization: Basic dXNlcjpwYXNz; bearer sk-x9z1,") == (
        "Authorization: Basic ***; bearer ***,")
    assert redact("Illegal header value b'Bearer a\\nb' (retry)") == "Illegal header value *** (retry)"
    assert redact("got 'u:PASS@h:1/v1', see http://u:p@h/v1?api_key=K&x=1") == (
        "got 'h:1/v1', see http://h/v1?api_key=***&x=1")
    prose = "Basic authentication and bearer tokens in the 9216-token window: mail a@b.com"
    assert redact(prose) == prose
    assert strip_credentials("https://h/v1?x=1&sig=abc") == "https://h/v1?x=1&sig=***"
    assert check_server_url(" http://h:8000/v1 ") == "http://h:8000/v1"
    for url, fragment in [("http://h/v1?key=K", "carries a query"), ("http://h/v1#K", "fragment"),
                          ("http://", "names no host"), ("http://h:65536", "port '65536'"),
                          ("http://h:0", "port 0"), ("h:80/v1", "must start with http")]:
        with pytest.raises(ValueError, match=fragment) as info:
            check_server_url(url)
        assert "K" not in str(info.value).replace("OK", "")


# ---- a real server: transformers serve on the embedded model ------------------------------------
@pytest.fixture(scope="module")
def served(openai_server: Any) -> Iterator[OpenAICompatLLM]:
    llm = OpenAICompatLLM(openai_server.base_url, max_concurrency=3, timeout=300, max_retries=1)
    yield llm
    llm.close()


@pytest.mark.slow
def test_real_server_batch_of_three(served: OpenAICompatLLM, openai_server: Any) -> None:
    questions = ["What is the capital of France?", "Name a color.", "Say hello."]
    out = served.generate([ask(q, max_tokens=8) for q in questions], GREEDY)
    assert served.model == openai_server.model  # picked from /v1/models
    assert len(out) == 3
    for c in out:
        assert c.text.strip() and c.prompt_tokens > 0 and 0 < c.completion_tokens <= 8
        assert c.finish_reason in ("stop", "length") and c.seconds > 0


@pytest.mark.slow
def test_real_server_greedy_is_deterministic(served: OpenAICompatLLM) -> None:
    request = ask("Write one sentence about the sea.", max_tokens=8)
    first = served.generate([request], GREEDY)[0].text
    assert served.generate([request], GREEDY)[0].text == first


@pytest.mark.slow
def test_real_server_respects_max_tokens(served: OpenAICompatLLM) -> None:
    [c] = served.generate([ask("Write a long story about a dragon.", max_tokens=5)], GREEDY)
    assert c.completion_tokens <= 5 and c.finish_reason == "length"


@pytest.mark.slow
def test_real_server_logprobs_degrade_gracefully(served: OpenAICompatLLM) -> None:
    [c] = served.generate([ask("Say hi.", max_tokens=3, logprobs=True)], GREEDY)
    assert c.text  # transformers serve ignores `logprobs`; vLLM would fill them
    assert c.logprobs is None or len(c.logprobs) == c.completion_tokens


@pytest.mark.slow
def test_real_server_wrong_model_names_the_served_one(openai_server: Any) -> None:
    llm = OpenAICompatLLM(openai_server.base_url, model="no-such-model", max_retries=0)
    with pytest.raises(ModelNotFound, match="no-such-model") as info:
        llm.generate([ask()], GREEDY)
    assert openai_server.model in str(info.value)

