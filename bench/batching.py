"""Throughput of 8 jobs: batched/continuous scheduling vs one job after another.

- local: the embedded model on the transformers backend; "batched" = round-synchronous batches of
  all active jobs (one `generate` per step), "sequential" = max_active=1.
- http (transformers serve): a real OpenAI-compatible server on 127.0.0.1 serving the embedded
  model; "batched" = continuous mode with up to 8 requests in flight, "sequential" = max_active=1.
  transformers serve handles concurrent requests one at a time, so no gain is possible there.
- http (latency server): a stand-in OpenAI-compatible server on 127.0.0.1 that answers every request
  after a fixed delay and serves requests concurrently, as vLLM/SGLang do; it shows what the
  continuous scheduler gets from a server that can overlap requests.

    python bench/batching.py [--jobs 8] [--tokens 200] [--skip-serve]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _common import (
    ROOT,
    embedded_llm,
    embedded_model_dir,
    embedded_tokenizer,
    needle_sample,
    report,
)
from memagent.config import AgentConfig, Budgets
from memagent.loop.agent import MemAgent

CONFIG = AgentConfig(budgets=Budgets(window=1024, query=64, chunk=256, memory=16, output=8))


def throughput(llm: Any, pairs: list[tuple[str, str]], label: str) -> dict[str, Any]:
    agent = MemAgent(llm, CONFIG)
    t0 = time.perf_counter()
    agent.ask_many(pairs, max_active=1)
    sequential = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = agent.ask_many(pairs, max_active=len(pairs))
    batched = time.perf_counter() - t0
    requests = sum(r.usage.requests for r in results)
    return {"backend": label, "jobs": len(pairs), "requests": requests,
            "sequential_s": sequential, "batched_s": batched, "speedup": sequential / batched}


class LatencyHandler(BaseHTTPRequestHandler):
    delay = 0.5

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send({"data": [{"id": "latency"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(self.delay)
        final = "<section>" not in body["messages"][-1]["content"]
        text = "\\boxed{unknown}" if final else "Nothing yet."
        self._send({"choices": [{"message": {"content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 4}})


def latency_server_row(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    from memagent.llm.openai_compat import OpenAICompatLLM

    server = ThreadingHTTPServer(("127.0.0.1", 0), LatencyHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        llm = OpenAICompatLLM(f"http://127.0.0.1:{server.server_port}", max_concurrency=len(pairs))
        llm.tokenizer = embedded_tokenizer()  # type: ignore[attr-defined]
        return throughput(llm, pairs, f"http latency server ({LatencyHandler.delay} s/request)")
    finally:
        server.shutdown()


def serve_row(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from memagent.llm.openai_compat import OpenAICompatLLM
    from server import start_transformers_serve, stop, wait_ready

    log = Path(tempfile.mkdtemp(prefix="memagent-bench-")) / "server.log"
    proc, port = start_transformers_serve(embedded_model_dir(), log)
    try:
        model = wait_ready(proc, f"http://127.0.0.1:{port}", log, 300.0)
        llm = OpenAICompatLLM(f"http://127.0.0.1:{port}", model=model, max_concurrency=len(pairs),
                              timeout=600.0)
        llm.tokenizer = embedded_tokenizer()  # type: ignore[attr-defined]
        return throughput(llm, pairs, "http transformers serve (embedded model)")
    finally:
        stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--skip-serve", action="store_true")
    args = ap.parse_args()
    pairs = [needle_sample(args.tokens, seed=s)[:2] for s in range(args.jobs)]
    rows = [latency_server_row(pairs), throughput(embedded_llm(), pairs, "local transformers")]
    if not args.skip_serve:
        rows.append(serve_row(pairs))
    report("batching", f"Batching: {args.jobs} jobs, batched/continuous vs one after another",
           f"python bench/batching.py --jobs {args.jobs} --tokens {args.tokens}"
           + (" --skip-serve" if args.skip_serve else ""), rows, [
               f"Budgets: window 1024, chunk 256, memory 16, output 8; documents of "
               f"~{args.tokens} tokens.",
               "transformers serve processes concurrent requests one at a time, so continuous "
               "batching cannot beat sequential there; the latency server overlaps requests like "
               "vLLM/SGLang and shows the scheduler's own gain.",
           ])


if __name__ == "__main__":
    main()
