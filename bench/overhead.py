"""memagent wall time / the backend's own time, on the embedded model.

The backend's own time is the sum of `Completion.seconds` (time inside `TransformersLLM.generate`,
per request); everything else (chunking, prompt rendering, token counting, memory bookkeeping,
scheduling) is memagent's overhead. Target: ratio <= 1.03.

    python bench/overhead.py [--tokens 3000] [--chunk 512]
"""

from __future__ import annotations

import argparse
import time

from _common import embedded_llm, needle_sample, report
from memagent.config import AgentConfig, Budgets
from memagent.loop.agent import MemAgent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=3000)
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    llm = embedded_llm()
    budgets = Budgets(window=2048, query=64, chunk=args.chunk, memory=32, output=16)
    config = AgentConfig(budgets=budgets)
    agent = MemAgent(llm, config)
    rows = []
    for jobs in (1, args.jobs):
        pairs = [needle_sample(args.tokens, seed=s)[:2] for s in range(jobs)]
        t0 = time.perf_counter()
        results = agent.ask_many(pairs)
        wall = time.perf_counter() - t0
        backend = sum(r.usage.backend_seconds for r in results)
        rows.append({
            "jobs": jobs, "doc_tokens": sum(r.document_tokens for r in results),
            "requests": sum(r.usage.requests for r in results), "wall_s": wall,
            "backend_s": backend, "overhead_ratio": wall / backend,
        })
    report("overhead", "Overhead: memagent wall time / backend time (embedded SmolLM2-135M, CPU)",
           f"python bench/overhead.py --tokens {args.tokens} --chunk {args.chunk} "
           f"--jobs {args.jobs}",
           rows, [
               "backend_s = sum of Completion.seconds (time inside TransformersLLM.generate).",
               f"Budgets: window 2048, chunk {args.chunk}, memory 32, output 16 (small so CPU "
               "runs finish).",
           ])


if __name__ == "__main__":
    main()
