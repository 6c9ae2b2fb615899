"""Seconds per document token and peak RSS vs document length.

Scripted part: a fast scripted backend (instant replies) isolates memagent's own cost: streaming
the document, tokenizing and chunking, rendering and counting every prompt, bookkeeping. Each
length runs in its own subprocess, whose `ru_maxrss` is its peak RSS. Target: the per-token time at
1M is within 1.1x of 32K, and peak RSS stays flat.
Embedded part: the real embedded model (SmolLM2-135M, CPU) at the lengths it can afford.

    python bench/linear_scaling.py [--lengths 32768,131072,524288,1048576,3500000]
                                   [--embedded 4096,8192] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import FastScripted, embedded_llm, embedded_tokenizer, noise_blocks, report
from memagent.config import AgentConfig, Budgets
from memagent.loop.agent import MemAgent
from memagent.sources import DocumentSource

HERE = Path(__file__).resolve().parent


def one_length(tokens: int, backend: str, repeats: int) -> dict[str, float]:
    """Run in a subprocess: the best of `repeats` runs over a streamed document of ~tokens."""
    if backend == "scripted":
        llm = FastScripted(embedded_tokenizer())
        config = AgentConfig()  # paper budgets: 8K window, 5000-token chunks
    else:
        llm = embedded_llm()
        budgets = Budgets(window=2048, query=64, chunk=1024, memory=32, output=16)
        config = AgentConfig(budgets=budgets)
    agent = MemAgent(llm, config)
    with tempfile.TemporaryDirectory() as tmp:  # the document streams from a file, as in real use
        path = Path(tmp) / "doc.txt"
        with path.open("w") as f:
            for block in noise_blocks(tokens, seed=1):
                f.write(block)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        best, best_cpu = float("inf"), float("inf")
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            result = agent.ask(DocumentSource([str(path)]), "What is the special magic number?")
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"doc_tokens": result.document_tokens, "chunks": result.chunks, "seconds": best,
            "cpu_seconds": best_cpu, "backend_s": result.usage.backend_seconds,
            "rss_start_mib": rss_before / 1024, "peak_rss_mib": peak / 1024}


def measure(tokens: int, backend: str, repeats: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(HERE / "linear_scaling.py"), "--one", str(tokens),
         "--backend", backend, "--repeats", str(repeats)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def rows_for(lengths: list[int], backend: str, repeats: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for n in lengths:
        m = measure(n, backend, repeats)
        us = m["seconds"] / m["doc_tokens"] * 1e6
        cpu_us = m["cpu_seconds"] / m["doc_tokens"] * 1e6
        first = rows[0] if rows else {"us_per_token": us, "cpu_us_per_token": cpu_us}
        rows.append({"backend": backend, "doc_tokens": int(m["doc_tokens"]),
                     "chunks": int(m["chunks"]), "seconds": m["seconds"], "us_per_token": us,
                     "ratio_vs_first": us / float(first["us_per_token"]),  # type: ignore[arg-type]
                     "cpu_us_per_token": cpu_us,
                     "cpu_ratio_vs_first": cpu_us / float(first["cpu_us_per_token"]),  # type: ignore[arg-type]
                     "backend_s": m["backend_s"], "rss_start_mib": m["rss_start_mib"],
                     "peak_rss_mib": m["peak_rss_mib"]})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", default="32768,131072,524288,1048576,3500000")
    ap.add_argument("--embedded", default="4096,8192", help="'' to skip the real model")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--backend", default="scripted", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_length(args.one, args.backend, args.repeats)))
        return
    rows = rows_for([int(x) for x in args.lengths.split(",")], "scripted", args.repeats) \
        if args.lengths else []
    if args.embedded:
        rows += rows_for([int(x) for x in args.embedded.split(",")], "embedded", 1)
    name = "linear_scaling" if args.lengths else "linear_scaling_embedded"
    report(name, "Linear scaling: seconds per document token and peak RSS",
           f"python bench/linear_scaling.py --lengths '{args.lengths}' --embedded '{args.embedded}' "
           f"--repeats {args.repeats}", rows, [
               "scripted: instant backend, paper budgets (8K window, 5000-token chunks); each "
               "length in its own subprocess, best of the repeats; ratio_vs_first = us_per_token / "
               "that of "
               "the first length.",
               "embedded: SmolLM2-135M on CPU, window 2048, chunk 1024, memory 32, output 16, "
               "one run.",
               "peak_rss_mib: ru_maxrss of the subprocess (includes the loaded libraries/model).",
           ])


if __name__ == "__main__":
    main()
