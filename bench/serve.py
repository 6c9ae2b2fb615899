"""`memagent serve` throughput and overhead, measured side by side in one run.

- speedup: N jobs sent to the server at once (upload, POST /v1/jobs, read each job's event stream
  to its `done`), against the same N (document, question) pairs answered by `MemAgent.ask` one
  after another on the same loaded backend (what N `memagent ask` runs do, less N model loads).
- overhead: one job through the server against one direct `MemAgent.ask` on the same document
  (median over --repeats pairs, run alternately); the target is <= 1.05.

Backends: the embedded model on the transformers backend (rounds: the server batches every job's
step into one `generate`), and a stand-in OpenAI-compatible server that answers each request after
a fixed delay and serves requests concurrently, as vLLM/SGLang do (bench/batching.py's).

    python bench/serve.py [--jobs 8] [--tokens 200] [--repeats 3] [--skip-embedded]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from _common import ROOT, embedded_llm, embedded_tokenizer, needle_sample, report
from batching import CONFIG, LatencyHandler
from memagent.loop.agent import MemAgent

sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "serve"))  # first: serve_helpers holds `start`


def one_job(http: httpx.Client, doc: str, question: str) -> dict[str, Any]:
    """Upload, start the job and follow its events to the end; the finished job."""
    doc_id = http.post("/v1/documents", content=doc.encode()).json()["id"]
    job = http.post("/v1/jobs", json={"document_id": doc_id, "questions": [question]}).json()
    with http.stream("GET", f"/v1/jobs/{job['id']}/events") as r:
        name = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name == "done":
                return dict(json.loads(line[6:]))
    raise RuntimeError(f"job {job['id']} ended without a done event")


def through_server(http: httpx.Client, pairs: list[tuple[str, str]]
                   ) -> tuple[float, list[dict[str, Any]]]:
    """The pairs as jobs sent at once (one client, made before the clock starts: an httpx
    client costs ~0.1 s to make, which is the client's cost, not the server's)."""
    out: list[dict[str, Any]] = [{} for _ in pairs]

    def run(i: int) -> None:
        out[i] = one_job(http, *pairs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(pairs))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, out


def measure(llm: Any, pairs: list[tuple[str, str]], label: str, repeats: int,
            data: Path) -> dict[str, Any]:
    from serve_helpers import start  # tests/serve: uvicorn on 127.0.0.1 in a thread

    from memagent.serve.service import ServeSettings, Service

    direct = MemAgent(llm, CONFIG)
    url, stop = start(Service(MemAgent(llm, CONFIG), ServeSettings(data / label.split()[0])))
    http = httpx.Client(base_url=url, timeout=3600, limits=httpx.Limits(max_connections=64))
    try:
        one_job(http, *pairs[0])  # warm both paths once (first-call allocations, HTTP setup)
        direct.ask(*pairs[0])
        t0 = time.perf_counter()
        sequential = [direct.ask(doc, q) for doc, q in pairs]
        sequential_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        direct.ask_many(pairs)
        ask_many_s = time.perf_counter() - t0
        server_s, jobs = through_server(http, pairs)
        same = [j["answers"][0]["answer"] for j in jobs] == [r.answer for r in sequential]
        created = [j["created_at"] for j in jobs]
        ratios, alone, served = [], [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            direct.ask(*pairs[0])
            alone.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            one_job(http, *pairs[0])
            served.append(time.perf_counter() - t0)
            ratios.append(served[-1] / alone[-1])
    finally:
        http.close()
        stop()
    return {"backend": label, "jobs": len(pairs),
            "requests": sum(r.usage.requests for r in sequential),
            "sequential_ask_s": sequential_s, "ask_many_s": ask_many_s, "server_s": server_s,
            "speedup": sequential_s / server_s, "same_answers": same,
            "arrival_spread_s": max(created) - min(created),
            "one_job_ask_s": statistics.median(alone), "one_job_server_s": statistics.median(served),
            "overhead": statistics.median(ratios)}


def latency_llm(server: ThreadingHTTPServer, jobs: int) -> Any:
    from memagent.llm.openai_compat import OpenAICompatLLM

    llm = OpenAICompatLLM(f"http://127.0.0.1:{server.server_port}", max_concurrency=jobs)
    llm.tokenizer = embedded_tokenizer()
    return llm


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-embedded", action="store_true")
    args = ap.parse_args()
    pairs = [needle_sample(args.tokens, seed=s)[:2] for s in range(args.jobs)]
    data = Path(tempfile.mkdtemp(prefix="memagent-bench-serve-"))
    latency = ThreadingHTTPServer(("127.0.0.1", 0), LatencyHandler)
    threading.Thread(target=latency.serve_forever, daemon=True).start()
    try:
        rows = [measure(latency_llm(latency, args.jobs), pairs,
                        f"http latency server ({LatencyHandler.delay} s/request)", args.repeats,
                        data)]
    finally:
        latency.shutdown()
    if not args.skip_embedded:
        rows.append(measure(embedded_llm(), pairs, "local transformers (embedded model)",
                            args.repeats, data))
    command = (f"python bench/serve.py --jobs {args.jobs} --tokens {args.tokens} "
               f"--repeats {args.repeats}" + (" --skip-embedded" if args.skip_embedded else ""))
    report("serve", f"memagent serve: {args.jobs} concurrent jobs vs ask one after another; "
           "overhead on one job", command, rows, [
               f"Budgets: window 1024, chunk 256, memory 16, output 8; documents of "
               f"~{args.tokens} tokens; greedy.",
               "sequential_ask_s: MemAgent.ask on each pair in turn, the model loaded once; "
               "server_s: the same pairs as jobs sent to the server at once (upload, job, event "
               "stream), wall time to the last `done`; ask_many_s: the same pairs batched in "
               "process (`MemAgent.ask_many`), what batching can give on this backend when all "
               "jobs start together.",
               "arrival_spread_s: first to last job created at the server. On a local model the "
               "first job's first round runs alone (the others arrive during it and join the "
               "next round), which is why server_s is above ask_many_s there.",
               "overhead: one job through the server / one direct ask, median of the pairs run "
               "alternately (target <= 1.05).",
           ])


if __name__ == "__main__":
    main()
