"""Fixtures of the serve tests: `serve` (the app in a thread) and `spawn` (a subprocess)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import SMALL, Running, Spawned, start

from memagent.config import AgentConfig
from memagent.loop.agent import MemAgent
from scripted import ScriptedLLM


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


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[[list[str]], Spawned]]:
    started: list[Spawned] = []

    def make(args: list[str]) -> Spawned:
        started.append(Spawned(args, tmp_path / "serve.log"))
        return started[-1]

    yield make
    for s in started:
        s.stop()
