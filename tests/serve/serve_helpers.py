"""Helpers of the serve tests (and bench/serve.py): a real `memagent serve` app on 127.0.0.1
(uvicorn in a thread), `memagent serve` as a subprocess, server-sent event parsing.

ScriptedLLM only drives the control flow (tests/scripted.py); it never stands for a model. The
window is small so a few hundred tokens of document take the memory path."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memagent.config import AgentConfig, Budgets
from scripted import ScriptedLLM
from server import free_port

SMALL = AgentConfig(budgets=Budgets(window=400, query=64, chunk=64, memory=48, output=32))


@dataclass
class Running:
    url: str  # http://127.0.0.1:PORT
    service: Any
    llm: ScriptedLLM

    @property
    def v1(self) -> str:
        return self.url + "/v1"


def start(service: Any) -> tuple[str, Callable[[], None]]:
    import uvicorn

    from memagent.serve.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    return f"http://127.0.0.1:{port}", stop


def sse_events(lines: Any) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a server-sent event stream's lines."""
    import json

    out, name = [], "message"
    for line in lines:
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            out.append((name, json.loads(line[len("data: "):])))
            name = "message"
    return out


class Spawned:
    """`memagent serve` as a real subprocess (python -m memagent.cli serve ...)."""

    def __init__(self, args: list[str], log: Path):
        import subprocess
        import sys

        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "memagent.cli", "serve", "--port", str(self.port), *args],
                stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"memagent serve exited {self.proc.returncode}: "
                                   f"{log.read_text()[-2000:]}")
            try:
                httpx.get(self.url + "/v1/models", timeout=2)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("memagent serve did not start") from None
                time.sleep(0.1)

    def kill9(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except Exception:
                self.proc.kill()
                self.proc.wait(15)
