"""Engines and decoders side by side on the embedded agent (issue 22).

An engine is `fp32`, `bf16` or `int8` (torch float32, torch bfloat16, llm/int8.py), decoding greedy
replies with transformers' `generate` (plain), or with `+lookup` prompt-lookup drafts
(llm/lookup_decode.py, the default). The same real memory-update prompts of the embedded profile
(the first request of jobs over slices of README's example documents, as the loop makes them)
through each, at each thread count:

- prefill tok/s: `generate` of one new token over the left-padded batch (no prefix reuse);
- replies s, reply tokens, passes: the backend's own greedy replies to every prompt (prefix reuse
  on, the profile's output budget), one batch per document; decode tok/s: reply tokens per second
  of that time beyond the prompt pass (reply tokens / (replies s - prompt tokens / prefill tok/s));
- identical: those replies identical to the first engine's (torch float32) at the same threads;
- ask s: end-to-end `ask` on README's example (examples/needle-8k.txt, README's question) under
  the embedded profile as shipped, its answer and prompt tokens, and the prompt tokens computed
  (not served from the prefix cache) per document token; with --long, the same on a
  held-out niah_single_2 document of that length (RULER's essay haystack: needs dict-devil).

    python bench/engines.py [--threads 1,2] [--engines fp32,bf16,bf16+lookup] [--n 8] [--long 128k]

Writes results/bench/engines.{csv,md,png}. Best of --repeats timings (load only slows a run down);
the machine's load average is recorded beside them.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, ROOT, command_line, report

QUESTION = "What is the special magic number for crystal-mango mentioned in the provided text?"
DOCS = ("examples/needle-8k.txt", "examples/needle-32k.txt")


def load(spec: str) -> Any:
    """`fp32`, `bf16` or `int8`, plain decoding; `NAME+lookup`: prompt-lookup decoding."""
    from memagent.llm import BackendOptions, load_llm

    engine, _, decoder = spec.partition("+")
    decoding = decoder or "plain"
    if engine == "int8":
        return load_llm(BackendOptions(engine="int8", device="cpu", decoding=decoding))
    dtype = {"fp32": "float32", "bf16": "bfloat16"}[engine]
    return load_llm(BackendOptions(engine="torch", dtype=dtype, device="cpu", decoding=decoding))


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


def prefill_speed(llm: Any, requests: list[Any], repeats: int) -> float:
    """Prefill tok/s over one batch of the requests, no prefix reuse: transformers' `generate`
    of 1 new token (the same for every decoder), best of `repeats`."""
    import torch

    from memagent.llm.padding import left_pad

    prompts = [llm.tokenizer.chat_ids(r.messages) for r in requests]
    ids, mask = left_pad(prompts, llm.pad_id)

    def gen() -> None:
        llm.model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=1,
                           pad_token_id=llm.pad_id, temperature=None, top_p=None, top_k=None)

    with torch.inference_mode():
        gen()  # warm up
        return sum(len(p) for p in prompts) / _best(gen, repeats)


def replies(llm: Any, requests: list[Any], n: int) -> tuple[list[str], float, int, int]:
    """(texts, seconds, reply tokens, lookup passes): greedy replies, one batch per document."""
    from memagent.types import SamplingParams

    passes = llm.lookup_stats.passes
    t0 = time.perf_counter()
    outs = [c for i in range(0, len(requests), n)
            for c in llm.generate(requests[i : i + n], SamplingParams())]
    seconds = time.perf_counter() - t0
    return ([c.text for c in outs], seconds, sum(c.completion_tokens for c in outs),
            llm.lookup_stats.passes - passes)


def long_document(length: str) -> tuple[str, str, str]:
    """(document, question, answer) of a held-out niah_single_2 sample of `length` tokens."""
    from memagent.data import GenOptions, generate_samples, parse_length
    from memagent.llm.hf_tokenizer import load_tokenizer
    from memagent.llm.registry import resolve_model

    tok = load_tokenizer(str(resolve_model(None)))
    options = GenOptions(target=parse_length(length), seed=1, split="heldout")
    sample = next(iter(generate_samples("niah_single_2", options, 1, tok)))
    return sample.context, sample.question, ", ".join(sample.answers)


def ask(llm: Any, doc: str, question: str) -> tuple[float, str, int, int]:
    """(seconds, answer, prompt tokens, prompt tokens served from the prefix cache) of one
    question under the shipped profile."""
    from memagent.llm.setup import resolve_setup

    agent = resolve_setup().agent(llm)
    cached = llm.prefix.reused_tokens if llm.prefix is not None else 0
    t0 = time.perf_counter()
    result = agent.ask(doc, question)
    seconds = time.perf_counter() - t0
    cached = (llm.prefix.reused_tokens if llm.prefix is not None else 0) - cached
    return seconds, str(result.answer), result.usage.prompt_tokens, cached


def _tokens(llm: Any, text: str) -> int:
    return len(llm.tokenizer.encode(text))


def measure(engine: str, threads: int, n: int, repeats: int,
            reference: dict[int, list[str]], long: tuple[str, str, str] | None) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    llm = load(engine)
    load_s = time.perf_counter() - t0
    requests = memory_prompts(llm, n)
    prefill = prefill_speed(llm, requests[:n], repeats)
    texts, replies_s, reply_tokens, passes = replies(llm, requests, n)
    prompt_tokens = sum(len(llm.tokenizer.chat_ids(r.messages)) for r in requests)
    decode = reply_tokens / max(replies_s - prompt_tokens / prefill, 1e-9)
    ref = reference.setdefault(threads, texts)  # the first engine (fp32) is the reference
    same = sum(a == b for a, b in zip(ref, texts, strict=True))
    doc = (ROOT / DOCS[0]).read_text()
    ask_s, answer, ask_tokens, cached = ask(llm, doc, QUESTION)
    row = {"engine": engine, "precision": llm.dtype, "threads": threads,
           "load_s": round(load_s, 1), "prefill_tok_s": round(prefill),
           "replies_s": round(replies_s, 2), "reply_tokens": reply_tokens, "passes": passes,
           "decode_tok_s": round(decode, 1), "identical_to_fp32": f"{same}/{len(texts)}",
           "ask_s": round(ask_s, 1), "ask_prompt_tokens": ask_tokens,
           "ask_computed_per_doc_token": round((ask_tokens - cached) / _tokens(llm, doc), 2),
           "ask_answer": answer}
    if long is not None:
        long_s, long_answer, long_tokens, long_cached = ask(llm, long[0], long[1])
        row.update(long_ask_s=round(long_s, 1), long_prompt_tokens=long_tokens,
                   long_computed_per_doc_token=round(
                       (long_tokens - long_cached) / _tokens(llm, long[0]), 2),
                   long_answer=long_answer, long_expected=long[2])
    row["load_avg_1m"] = round(os.getloadavg()[0], 1)
    return row


def add_ratios(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        base = next(r for r in rows if r["engine"] == "fp32" and r["threads"] == row["threads"])
        row["prefill_x_fp32"] = round(row["prefill_tok_s"] / base["prefill_tok_s"], 2)
        row["decode_x_fp32"] = round(row["decode_tok_s"] / base["decode_tok_s"], 2)
        row["ask_x_fp32"] = round(base["ask_s"] / row["ask_s"], 2)
        if "long_ask_s" in row:
            row["long_ask_x_fp32"] = round(base["long_ask_s"] / row["long_ask_s"], 2)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [("prefill_x_fp32", "prefill"), ("decode_x_fp32", "decode"), ("ask_x_fp32", "ask 8K")]
    if "long_ask_x_fp32" in rows[0]:
        metrics.append(("long_ask_x_fp32", "ask long"))
    fig, axes = plt.subplots(1, len(metrics), figsize=(11, 3.4), sharey=True)
    for ax, (key, title) in zip(axes, metrics, strict=True):
        labels = [f"{r['engine']}\n{r['threads']}t" for r in rows]
        ax.bar(labels, [r[key] for r in rows], color=["#999", "#6a9", "#36c", "#c63"] * len(rows))
        ax.axhline(1, color="k", lw=0.6)
        ax.set_title(f"{title} speed vs torch float32")
    axes[0].set_ylabel("× torch float32 (same threads)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--engines", default="fp32,bf16,bf16+lookup")
    ap.add_argument("--long", default="", help="also ask on a held-out document this long, e.g. 128k")
    ap.add_argument("--n", type=int, default=8, help="prompts per document")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--name", default="engines", help="results/bench/NAME.{csv,md,png}")
    args = ap.parse_args()
    engines = args.engines.split(",")
    if engines[0] != "fp32":
        raise SystemExit("the first engine must be fp32 (the reference)")
    reference: dict[int, list[str]] = {}
    long = long_document(args.long) if args.long else None
    rows = []
    for threads in (int(t) for t in args.threads.split(",")):
        for engine in engines:
            rows.append(measure(engine, threads, args.n, args.repeats, reference, long))
            print(rows[-1], flush=True)
    add_ratios(rows)
    notes = [f"{2 * args.n} prompts ({args.n} per document of {', '.join(DOCS)}); prefill over "
             f"the first {args.n} as one batch; replies one batch per document.",
             "load_avg_1m: the machine's 1-minute load average after the row (2 cores; other "
             "jobs were running: ratios within one thread count are what to read)."]
    report(args.name, "Engines and decoders on the embedded agent",
           command_line("engines.py", args),
           rows, notes)
    plot(rows, RESULTS / f"{args.name}.png")


if __name__ == "__main__":
    main()
