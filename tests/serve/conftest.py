"""A real `memagent serve` app on 127.0.0.1 (uvicorn in a thread) over the scripted backend.

ScriptedLLM only drives the control flow (tests/scripted.py); it never stands for a model. The
window is small so a few hundred tokens of document take the memory path."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from memagent.config import AgentConfig, Budgets
from memagent.loop.agent import MemAgent
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


@pytest.fixture
def serve(tokenizer, tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """serve(**settings) -> a running server; every one is stopped after the test."""
    from memagent.serve.service import ServeSettings, Service

    stops: list[Callable[[], None]] = []

    def make(config: AgentConfig = SMALL, llm: ScriptedLLM | None = None, **kw: Any) -> Running:
        llm = llm or ScriptedLLM(tokenizer)
        service = Service(MemAgent(llm, config), ServeSettings(tmp_path / f"data{len(stops)}", **kw))
        url, stop = start(service)
        stops.append(stop)
        return Running(url, service, llm)

    yield make
    for stop in stops:
        stop()
