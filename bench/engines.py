"""Engines side by side on the embedded agent (issue 22): torch float32, torch bfloat16, int8.

The same real memory-update prompts of the embedded profile (the first request of jobs over slices
of README's example documents, as the loop makes them) through each engine, at 1 and 2 threads:

- prefill tok/s: `generate` of one new token over the left-padded batch (no prefix reuse);
- decode tok/s: `generate` of exactly 32 new tokens per prompt, minus that prefill;
- identical: greedy replies (the backend's own `generate`, prefix reuse on, output budget)
  identical to torch float32's at the same thread count;
- ask s: end-to-end `ask` on README's example (examples/needle-8k.txt, README's question) under
  the embedded profile as shipped, and its answer.

    python bench/engines.py [--threads 1,2] [--engines fp32,bf16,int8] [--n 8]

Writes results/bench/engines.{csv,md,png}. Best of --repeats timings (load only slows a run down);
the machine's load average is recorded beside them.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT, report

QUESTION = "What is the special magic number for crystal-mango mentioned in the provided text?"
DOCS = ("examples/needle-8k.txt", "examples/needle-32k.txt")
NEW_TOKENS = 32


def load(engine: str) -> Any:
    from memagent.llm import BackendOptions, load_llm

    if engine == "int8":
        return load_llm(BackendOptions(engine="int8", device="cpu"))
    dtype = {"fp32": "float32", "bf16": "bfloat16"}[engine]
    return load_llm(BackendOptions(engine="torch", dtype=dtype, device="cpu"))


def memory_prompts(llm: Any, n: int) -> list[Any]:
    """n first memory-update requests per document: slices starting at n evenly spaced offsets
    (the needle's slice first), each a real prompt of the embedded profile (empty memory)."""
    from memagent.llm.setup import resolve_setup

    agent = resolve_setup().agent(llm)
    requests = []
    for name in DOCS:
        doc = (ROOT / name).read_text()
        starts = [max(doc.find("crystal-mango") - 600, 0)]
        starts += [i * len(doc) // n for i in range(1, n)]
        for start in starts:
            request = agent.job(doc[start:], QUESTION).next_request()
            assert request is not None
            requests.append(request)
    return requests


def _best(fn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def throughput(llm: Any, requests: list[Any], repeats: int) -> tuple[float, float]:
    """(prefill tok/s, decode tok/s) over one batch of the requests, no prefix reuse: `generate` of
    1 new token (the prefill) and of exactly NEW_TOKENS, interleaved, best of `repeats` each."""
    import torch

    from memagent.llm.padding import left_pad

    prompts = [llm.tokenizer.chat_ids(r.messages) for r in requests]
    ids, mask = left_pad(prompts, llm.pad_id)
    real = sum(len(p) for p in prompts)

    def gen(new: int) -> float:
        t0 = time.perf_counter()
        llm.model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                           max_new_tokens=new, min_new_tokens=new, pad_token_id=llm.pad_id,
                           temperature=None, top_p=None, top_k=None)
        return time.perf_counter() - t0

    with torch.inference_mode():
        gen(2)  # warm up
        one = many = float("inf")
        for _ in range(repeats):
            one, many = min(one, gen(1)), min(many, gen(NEW_TOKENS))
    decode_tokens = len(prompts) * (NEW_TOKENS - 1)  # the first new token comes with the prefill
    return real / one, decode_tokens / max(many - one, 1e-9)


def replies(llm: Any, requests: list[Any]) -> list[str]:
    from memagent.types import SamplingParams

    return [c.text for c in llm.generate(requests, SamplingParams())]


def ask(llm: Any) -> tuple[float, str, int]:
    """(seconds, answer, prompt tokens) of README's example under the shipped profile."""
    from memagent.llm.setup import resolve_setup

    agent = resolve_setup().agent(llm)
    doc = (ROOT / DOCS[0]).read_text()
    t0 = time.perf_counter()
    result = agent.ask(doc, QUESTION)
    return time.perf_counter() - t0, str(result.answer), result.usage.prompt_tokens


def measure(engine: str, threads: int, n: int, repeats: int,
            reference: dict[int, list[str]]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    llm = load(engine)
    load_s = time.perf_counter() - t0
    requests = memory_prompts(llm, n)
    prefill, decode = throughput(llm, requests[:n], repeats)
    texts = replies(llm, requests)
    ref = reference.setdefault(threads, texts)  # the first engine (fp32) is the reference
    same = sum(a == b for a, b in zip(ref, texts, strict=True))
    ask_s, answer, ask_tokens = ask(llm)
    return {"engine": engine, "precision": llm.dtype, "threads": threads,
            "load_s": round(load_s, 1), "prefill_tok_s": round(prefill), "decode_tok_s":
            round(decode, 1), "identical_to_fp32": f"{same}/{len(texts)}", "ask_s": round(ask_s, 1),
            "ask_prompt_tokens": ask_tokens, "ask_answer": answer,
            "load_avg_1m": round(os.getloadavg()[0], 1)}


def add_ratios(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        base = next(r for r in rows if r["engine"] == "fp32" and r["threads"] == row["threads"])
        row["prefill_x_fp32"] = round(row["prefill_tok_s"] / base["prefill_tok_s"], 2)
        row["decode_x_fp32"] = round(row["decode_tok_s"] / base["decode_tok_s"], 2)
        row["ask_x_fp32"] = round(base["ask_s"] / row["ask_s"], 2)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [("prefill_x_fp32", "prefill"), ("decode_x_fp32", "decode"), ("ask_x_fp32", "ask")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(11, 3.4), sharey=True)
    for ax, (key, title) in zip(axes, metrics, strict=True):
        labels = [f"{r['engine']}\n{r['threads']}t" for r in rows]
        ax.bar(labels, [r[key] for r in rows], color=["#999", "#6a9", "#36c"] * len(rows))
        ax.axhline(1, color="k", lw=0.6)
        ax.set_title(f"{title} speed vs torch float32")
    axes[0].set_ylabel("× torch float32 (same threads)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--engines", default="fp32,bf16,int8")
    ap.add_argument("--n", type=int, default=8, help="prompts per document")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--name", default="engines", help="results/bench/NAME.{csv,md,png}")
    args = ap.parse_args()
    engines = args.engines.split(",")
    if engines[0] != "fp32":
        raise SystemExit("the first engine must be fp32 (the reference)")
    reference: dict[int, list[str]] = {}
    rows = []
    for threads in (int(t) for t in args.threads.split(",")):
        for engine in engines:
            rows.append(measure(engine, threads, args.n, args.repeats, reference))
            print(rows[-1], flush=True)
    add_ratios(rows)
    notes = [f"{2 * args.n} prompts ({args.n} per document of {', '.join(DOCS)}); prefill/decode "
             f"over the first {args.n} as one batch; {NEW_TOKENS} new tokens for decode.",
             "load_avg_1m: the machine's 1-minute load average after the row (2 cores; other "
             "jobs were running: ratios within one thread count are what to read)."]
    report(args.name, "Engines: torch float32 / bfloat16 / int8 on the embedded agent",
           "python bench/engines.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items()),
           rows, notes)
    plot(rows, RESULTS / f"{args.name}.png")


if __name__ == "__main__":
    main()
