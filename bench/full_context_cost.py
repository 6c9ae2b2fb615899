"""Full-context baseline cost vs memagent, at the same document lengths.

Analytic part, per document length N (paper budgets: 5000-token chunks, ~1.2K tokens of
instruction + question + memory per step, 1024-token memory writes):
- tokens processed: full context = N; memagent = sum over chunks of its prompt (linear in N);
- attention work (query-key pairs, the quadratic term): full context = N^2 / 2; memagent = sum over
  chunks of prompt^2 / 2 (linear in N).
Measured part, side by side in one run on the embedded model (CPU), at the lengths it can run:
one forward (prefill) over the whole document vs memagent's prefills (one forward per chunk prompt,
chunk 512 + ~150 tokens of template/question/memory), i.e. the prompt-processing cost of each.

    python bench/full_context_cost.py [--measure 1024,2048,4096,8192]
"""

from __future__ import annotations

import argparse
import math
import time

from _common import RESULTS, embedded_llm, noise_blocks, report

LENGTHS = (32_768, 131_072, 524_288, 1_048_576, 3_500_000)
CHUNK, STEP_OVERHEAD = 5000, 1200  # paper chunk; template + question + memory per step (approx.)


def analytic() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for n in LENGTHS:
        steps = math.ceil(n / CHUNK)
        prompt = CHUNK + STEP_OVERHEAD
        rows.append({"doc_tokens": n, "full_tokens": n, "memagent_tokens": steps * prompt,
                     "full_attn_pairs": n * n / 2, "memagent_attn_pairs": steps * prompt**2 / 2,
                     "attn_ratio_full_over_memagent": (n * n / 2) / (steps * prompt**2 / 2)})
    return rows


def prefill_seconds(llm: object, ids: list[int]) -> float:
    import torch

    t0 = time.perf_counter()
    with torch.inference_mode():
        llm.model(input_ids=torch.tensor([ids]), use_cache=False)  # type: ignore[attr-defined]
    return time.perf_counter() - t0


def measured(lengths: list[int], chunk: int = 512, overhead: int = 150) -> list[dict[str, object]]:
    llm = embedded_llm(prefix_reuse=False)
    tokens = llm.tokenizer.encode("".join(noise_blocks(max(lengths) + 1000, seed=9)))
    prefill_seconds(llm, tokens[:64])  # warm-up
    rows: list[dict[str, object]] = []
    for n in lengths:
        full = prefill_seconds(llm, tokens[:n])
        ours = sum(prefill_seconds(llm, tokens[i : i + overhead + min(chunk, n - i)])
                   for i in range(0, n, chunk))
        rows.append({"doc_tokens": n, "full_prefill_s": full, "memagent_prefill_s": ours,
                     "full_us_per_token": full / n * 1e6, "memagent_us_per_token": ours / n * 1e6,
                     "full_over_memagent": full / ours})
        print(rows[-1], flush=True)
    return rows


def plot(rows: list[dict[str, object]], measured_rows: list[dict[str, object]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2 if measured_rows else 1, figsize=(11 if measured_rows else 6, 4),
                             squeeze=False)
    a = axes[0][0]
    ns = [r["doc_tokens"] for r in rows]
    a.loglog(ns, [r["full_attn_pairs"] for r in rows], "o-", label="full context")
    a.loglog(ns, [r["memagent_attn_pairs"] for r in rows], "s-", label="memagent")
    a.set(xlabel="document tokens", ylabel="attention query-key pairs",
          title="Attention work (analytic, paper budgets)")
    a.legend()
    if measured_rows:
        b = axes[0][1]
        ms = [r["doc_tokens"] for r in measured_rows]
        b.plot(ms, [r["full_us_per_token"] for r in measured_rows], "o-", label="full context")
        b.plot(ms, [r["memagent_us_per_token"] for r in measured_rows], "s-", label="memagent")
        b.set(xlabel="document tokens", ylabel="prefill us / token",
              title="Measured prefill, embedded model (CPU)")
        b.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "full_context_cost.png", dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--measure", default="1024,2048,4096,8192", help="'' to skip the model")
    args = ap.parse_args()
    rows = analytic()
    measured_rows = measured([int(x) for x in args.measure.split(",")]) if args.measure else []
    command = f"python bench/full_context_cost.py --measure '{args.measure}'"
    title = "Full-context cost vs memagent (analytic, paper budgets)"
    report("full_context_cost", title, command, rows,
           ["attn pairs: N^2/2 for full context; sum of prompt^2/2 over 5000-token chunks + 1200 "
            "tokens of template/question/memory for memagent. Generation cost not included."])
    if measured_rows:
        report("full_context_measured",
               "Full-context prefill vs memagent prefills (embedded model, "
               "CPU, measured side by side)", command, measured_rows,
               ["memagent: one forward per 512-token chunk + 150 tokens of prompt overhead; "
                "generation not included on either side."])
    plot(rows, measured_rows)


if __name__ == "__main__":
    main()
