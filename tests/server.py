"""A real OpenAI-compatible server for the tests: `transformers serve` on the embedded model.

Why `transformers serve`: it ships with the `serving` extra we already depend on, loads the cached
safetensors directory in 8-15 s, and needs no build. llama.cpp's `llama-server` decodes ~4x faster
but costs a ~15-minute source build per fresh machine, and the tests here generate only a few dozen
tokens. Measured on 2 shared cores: ~8 tok/s decode when idle, 2 tok/s under load; prefill ~70
tok/s under load. Known gaps, which the backend tolerates:
`transformers serve` ignores `logprobs` (no log-probs come back), returns no token ids, answers a
wrong model name with HTTP 400 (not 404), and handles concurrent requests one at a time.

Registered in tests/conftest.py by importing `openai_server` (tests/ is on sys.path there).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

READY_TIMEOUT_S = 180.0  # cold start is ~8 s; leave room for a loaded 2-core machine


@dataclass(frozen=True)
class ServerInfo:
    base_url: str  # ends in /v1
    model: str  # the name the server lists and expects


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it; a tiny race remains)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _log_tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


Server = subprocess.Popen[bytes]


def start_transformers_serve(model_dir: Path, log_path: Path) -> tuple[Server, int]:
    """Launch `transformers serve` pinned to `model_dir` on 127.0.0.1, fully offline."""
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    cmd = [
        sys.executable, "-c", "from transformers.cli.transformers import main; main()",
        "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port),
        "--device", "cpu", "--log-level", "warning",
    ]
    with log_path.open("wb") as log:
        # own session: stop() signals the server's whole process group and nothing else
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    return proc, port


def wait_ready(proc: Server, base: str, log_path: Path, timeout: float) -> str:
    """Poll /v1/models until a model is listed; return its name. Fails fast if the server dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{_log_tail(log_path)}")
        try:
            response = httpx.get(f"{base}/v1/models", timeout=2.0)
            if response.status_code == 200 and response.json().get("data"):
                return str(response.json()["data"][0]["id"])
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"server not ready after {timeout:.0f} s:\n{_log_tail(log_path)}")


def stop(proc: Server) -> None:
    """SIGTERM the server's process group, then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def openai_server(embedded_model_dir: Path) -> Iterator[ServerInfo]:
    """A `transformers serve` process serving the embedded model; yields its URL and model name."""
    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        pytest.skip("transformers serve needs its extra: pip install 'memagent[serving]'")
    log_dir = Path(tempfile.mkdtemp(prefix="memagent-server-"))
    last_error: Exception | None = None
    for _ in range(2):  # a second try covers losing the free-port race
        log_path = log_dir / "server.log"
        proc, port = start_transformers_serve(embedded_model_dir, log_path)
        base = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        try:
            model = wait_ready(proc, base, log_path, READY_TIMEOUT_S)
        except (RuntimeError, TimeoutError) as exc:
            stop(proc)
            last_error = exc
            continue
        took = time.monotonic() - started
        sys.stderr.write(f"\n[openai_server] ready at {base} in {took:.1f} s\n")
        try:
            yield ServerInfo(base_url=f"{base}/v1", model=model)
        finally:
            stop(proc)
        return
    pytest.fail(f"could not start transformers serve: {last_error}")
