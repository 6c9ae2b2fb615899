"""A rule-following OpenAI-compatible server on 127.0.0.1 that fails on chosen requests.

Like `Scripted` in tests/scripted_server.py it is a real `http.server` reached through httpx's
real transport, but its replies follow fixed rules instead of a list, so whole `memagent ask` runs
(any number of chunks and questions, in any order, resumed or not) get the same answers every time:

- memory update (a prompt with <section>): the previous memory's lines plus every line of the
  section that mentions "magic", one per line, in order;
- final answer: `\\boxed{N}` where N is the 7-digit number on the memory line naming the key the
  question asks about ("... for KEY?"), else `\\boxed{unknown}`.

Registered in tests/conftest.py as the `fault_server` fixture. It never stands for a model; it
lets tests inject faults at exact points. `faults` maps a POST's
number (1-based, in arrival order) to a fault, and `rule(n, body)` may return one for any POST:
"500", "429" (Retry-After: 0), "timeout" (no reply for `hang` seconds), "drop" (connection closed
without a reply), "null" (content null), "garbage" (a 200 that is not JSON), "overlong" (the right
reply followed by far more text than max_tokens allows), "kill" (calls `on_kill`, then replies
normally: the client is gone by then). `delay` makes every reply take that long.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

FAULTS = ("500", "429", "timeout", "drop", "null", "garbage", "overlong", "kill")
Rule = Callable[[int, dict[str, Any]], "str | None"]


def _between(text: str, tag: str) -> str:
    m = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.S)
    return m.group(1) if m else ""


def reply_for(body: dict[str, Any]) -> str:
    """The rule-following reply to a chat request (see the module docstring)."""
    text = body["messages"][-1]["content"]
    memory = _between(text, "memory")
    if "<section>" in text:
        facts = [ln for ln in memory.splitlines() if "magic" in ln]
        facts += [ln.strip() for ln in _between(text, "section").splitlines() if "magic" in ln]
        return "\n".join(facts) or "nothing yet"
    key = re.search(r"for (\w+)\?", _between(text, "problem"))
    numbers = [
        n
        for ln in memory.splitlines()
        if key is None or key.group(1) in ln
        for n in re.findall(r"\b\d{7}\b", ln)
    ]
    return f"The answer is \\boxed{{{numbers[-1] if numbers else 'unknown'}}}."


def is_final(body: dict[str, Any]) -> bool:
    return "<section>" not in body["messages"][-1]["content"]


def problem(body: dict[str, Any]) -> str:
    return _between(body["messages"][-1]["content"], "problem")


def completion(text: str | None, finish: str = "stop") -> dict[str, Any]:
    return {
        "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": finish,
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": len((text or "").split()) + 1},
    }


def request_key(body: dict[str, Any]) -> str:
    """A request's identity: its body as canonical JSON. A retry repeats it; another step does not."""
    return json.dumps(body, sort_keys=True)


class FaultServer:
    def __init__(
        self,
        faults: dict[int, str] | None = None,
        rule: Rule | None = None,
        hang: float = 3.0,
        on_kill: Callable[[], None] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.faults = dict(faults or {})
        self.rule = rule
        self.hang = hang
        self.delay = delay  # seconds before every reply (a server that takes its time)
        self.on_kill = on_kill
        self.posts = 0
        self.log: list[tuple[int, str]] = []  # (POST number, fault or "ok")
        self.bodies: list[str] = []  # every POST's request_key, in arrival order
        self.auth: list[str | None] = []
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _fault(self, body: dict[str, Any]) -> tuple[int, str | None]:
        with self._lock:
            self.posts += 1
            n = self.posts
            self.bodies.append(request_key(body))
        fault = self.faults.get(n) or (self.rule(n, body) if self.rule else None)
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self.log.append((n, fault or "ok"))
        return n, fault

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client is gone (timed out, killed)
                    self.close_connection = True

            def do_GET(self) -> None:
                server.auth.append(self.headers.get("Authorization"))
                self._send(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.auth.append(self.headers.get("Authorization"))
                _, fault = server._fault(body)
                text = reply_for(body)
                time.sleep(server.delay)
                if fault == "kill" and server.on_kill is not None:
                    server.on_kill()
                if fault == "500":
                    self._send(500, {"error": {"message": "injected server error"}})
                elif fault == "429":
                    self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
                elif fault == "timeout":
                    time.sleep(server.hang)
                    self._send(200, completion(text))
                elif fault == "drop":
                    self.close_connection = True
                    self.connection.close()
                elif fault == "null":
                    self._send(200, completion(None))
                elif fault == "garbage":
                    self._send(200, b"<html>502 Bad Gateway</html>")
                elif fault == "overlong":
                    self._send(200, completion(text + " and more" * (4 * body["max_tokens"])))
                else:
                    self._send(200, completion(text))

        return Handler

    def distinct_since(self, posts: int) -> int:
        """How many different requests arrived after POST number `posts`: a retry repeats its
        request's body, so this counts steps asked for, however often each was retried."""
        with self._lock:
            return len(set(self.bodies[posts:]))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fault_server() -> Iterator[Callable[..., FaultServer]]:
    """Make FaultServers (closed after the test): `fault_server(faults={3: "500"}, rule=...)`."""
    servers: list[FaultServer] = []

    def make(**kw: Any) -> FaultServer:
        servers.append(FaultServer(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


KEYS = ("alpha", "bravo", "charlie", "delta", "echo")


def keyed_doc(tokenizer: Any, chunk: int = 64, keys: tuple[str, ...] = KEYS) -> str:
    """Filler with one 'magic number for KEY is N' line per key (N = 1111111 x its 1-based
    position), spaced so that no `chunk`-token chunk boundary splits one of them (the rules read
    whole lines). `answer(key)` gives N."""
    import itertools

    from memagent.chunking import iter_chunks

    for pad in itertools.product(range(3), repeat=len(keys)):
        rows: list[str] = []
        for i, key in enumerate(keys):
            rows += ["The grass is green. The sky is blue."] * (6 + pad[i])
            rows.append(f"The magic number for {key} is {answer(key, keys)}.")
        text = "\n".join(rows + ["The grass is green."] * 4) + "\n"
        chunks = [c.text for c in iter_chunks([text], tokenizer, chunk)]
        if all(any(f"for {k} is {answer(k, keys)}." in c for c in chunks) for k in keys):
            return text
    raise AssertionError("no layout keeps every needle line inside one chunk")


def answer(key: str, keys: tuple[str, ...] = KEYS) -> str:
    return str(1111111 * (keys.index(key) + 1))


def question(key: str) -> str:
    return f"What is the magic number for {key}?"
