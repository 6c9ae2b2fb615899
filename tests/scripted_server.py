"""A tiny OpenAI-shaped HTTP server on 127.0.0.1 that answers from a script of canned replies
(tests/llm/test_openai_backend.py, tests/cli/test_cli.py): retries, backoff and error mapping go
through httpx's real transport. It never stands for a model."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def ok_body(text: str = "hello", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13},
    }
    body.update(extra)
    return body


class Scripted:
    """A tiny OpenAI-shaped server: POSTs take the next scripted reply (the last one repeats)."""

    def __init__(self, script: list[tuple[int, dict[str, str], Any]],
                 models: list[str] | None = None, delay: float = 0.0) -> None:
        self.script = list(script)
        self.models = ["m"] if models is None else models
        self.delay = delay
        self.hits = 0
        self.bodies: list[dict[str, Any]] = []
        self.auth: list[str | None] = []  # the Authorization header of every request
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _next(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.hits += 1
            self.bodies.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def _send(self, code: int, headers: dict[str, str], payload: Any) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.auth.append(self.headers.get("Authorization"))
                data = [{"id": m, "object": "model"} for m in server.models]
                self._send(200, {}, {"object": "list", "data": data})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.auth.append(self.headers.get("Authorization"))
                code, headers, payload = server._next(body)
                time.sleep(server.delay)
                if payload == "echo":  # answer with the request's own last message
                    payload = ok_body(body["messages"][-1]["content"])
                with server._lock:
                    server.in_flight -= 1
                self._send(code, headers, payload)

        return Handler

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def null_body(**message: Any) -> dict[str, Any]:
    body = ok_body()
    body["choices"][0]["message"] = {"role": "assistant", "content": None, **message}
    return body
