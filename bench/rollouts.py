"""RL rollouts (the sampling phase of a Multi-Conv DAPO step) with plain vs prompt-lookup decoding.

The questions of configs/rl/rl-smollm2-v6.yaml's stream (its task mix, 1-4 chunks of 512 tokens),
sampled as its steps sample them (group size 4, 2 questions, temperature 1, log-probs kept), by
the embedded agent in the trainer's precision (float32) and in bfloat16, each with transformers'
`generate` (plain) and with lookup decoding (llm/lookup_decode.py), interleaved, one thread.
`float32-lora:plain` is the trainer's path before this change (its LoRA-wrapped policy, plain);
`float32:lookup` its path now (a merged copy, rollout.merge_adapter, and lookup):

    python bench/rollouts.py [--steps 3] [--threads 1]

Per decoder: seconds per step (best and mean over --steps, each step new questions, the same
questions for every decoder), completion tokens per second, forward passes (lookup), the mean
reward and the agreement of the replies' log-probs with a teacher-forced forward (what the loss
recomputes). Writes results/bench/rollouts.{csv,md}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from _common import ROOT, command_line, report

CONFIG = "configs/rl/rl-smollm2-v6.yaml"


def setup(dtype: str, decoding: str) -> Any:
    """`float32-lora`: the trainer's policy before rollout.merge_adapter, the base model wrapped
    with the shipped adapter (peft, not merged); else the embedded agent as loaded."""
    from memagent.llm import BackendOptions, load_llm
    from memagent.llm.setup import resolve_setup

    if dtype == "float32-lora":
        from peft import PeftModel

        from memagent.llm.registry import resolve_model
        from memagent.llm.transformers_backend import TransformersLLM

        llm = TransformersLLM.load(resolve_model(None, base=True), device="cpu", dtype="float32",
                                   lookup=decoding == "lookup")
        adapter = ROOT / "src" / "memagent" / "assets" / "smollm2-memagent"
        llm.set_model(PeftModel.from_pretrained(llm.model, str(adapter)).eval())
        llm.profile = "smollm2-memagent"
        return llm, resolve_setup().agent(llm)
    llm = load_llm(BackendOptions(dtype=dtype, device="cpu", decoding=decoding))
    return llm, resolve_setup().agent(llm)


def logprob_gap(llm: Any, jobs: list[Any]) -> float:
    """Largest |log-prob - teacher-forced log-prob| over the first conversation of each job."""
    import torch

    worst = 0.0
    for job in jobs[:4]:
        _, turn = job.conversations[0]
        ids = torch.as_tensor([turn.prompt_token_ids + turn.completion_token_ids])
        with torch.inference_mode():
            lp = torch.log_softmax(llm.model(input_ids=ids).logits[0].float(), dim=-1)
        n = len(turn.prompt_token_ids)
        for j, (t, got) in enumerate(zip(turn.completion_token_ids, turn.logprobs, strict=True)):
            worst = max(worst, abs(lp[n - 1 + j, t].item() - got))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--arms", default="float32-lora:plain,float32:plain,float32:lookup,bfloat16:lookup")
    ap.add_argument("--name", default="rollouts")
    args = ap.parse_args()
    import torch

    from memagent.rl.config import load_config
    from memagent.rl.rewards import reward_fn
    from memagent.rl.rollout import rollout
    from memagent.rl.trainer import make_source
    from memagent.types import SamplingParams

    torch.set_num_threads(args.threads)
    cfg = load_config(ROOT / CONFIG)
    arms = [tuple(a.split(":")) for a in args.arms.split(",")]
    loaded = {arm: setup(*arm) for arm in arms}
    first, first_agent = next(iter(loaded.values()))
    stream = make_source(cfg, first.tokenizer, first_agent.budgets.chunk)
    reward = reward_fn(cfg.reward)
    steps = [stream.take(cfg.rollout.questions_per_step) for _ in range(args.steps)]
    times: dict[tuple[str, ...], list[float]] = {arm: [] for arm in arms}
    tokens = dict.fromkeys(arms, 0)
    rewards: dict[tuple[str, ...], list[float]] = {arm: [] for arm in arms}
    gaps = dict.fromkeys(arms, 0.0)
    passes = dict.fromkeys(arms, 0)
    for s, questions in enumerate(steps):
        for arm in arms:  # interleaved: load drifts hit every arm alike
            llm, agent = loaded[arm]
            before = llm.lookup_stats.passes
            sampling = SamplingParams(temperature=cfg.rollout.temperature, seed=1000 + s)
            t0 = time.perf_counter()
            episodes = rollout(agent, questions, cfg.rollout.group_size, sampling, reward)
            times[arm].append(time.perf_counter() - t0)
            passes[arm] += llm.lookup_stats.passes - before
            tokens[arm] += sum(e.n_tokens for e in episodes)
            rewards[arm] += [e.reward for e in episodes]
            print(arm, s, round(times[arm][-1], 1), flush=True)
    for arm in arms:  # one more small group for the log-prob check, outside the timing
        llm, agent = loaded[arm]
        from memagent.rl.rollout import run_group

        jobs = run_group(agent, steps[0][:1], 2, SamplingParams(temperature=1.0, seed=7), True)
        gaps[arm] = logprob_gap(llm, jobs)
    base = statistics.fmean(times[arms[0]])
    rows = [{"precision": arm[0], "decoding": arm[1], "threads": args.threads,
             "step_s_mean": round(statistics.fmean(times[arm]), 1),
             "step_s_best": round(min(times[arm]), 1),
             "x_first_arm": round(base / statistics.fmean(times[arm]), 2),
             "completion_tokens": tokens[arm],
             "tokens_per_s": round(tokens[arm] / sum(times[arm]), 1),
             "lookup_passes": passes[arm], "reward_mean": round(statistics.fmean(rewards[arm]), 2),
             "max_logprob_gap": f"{gaps[arm]:.1e}", "load_avg_1m": round(os.getloadavg()[0], 1)}
            for arm in arms]
    notes = [f"{args.steps} steps of {cfg.rollout.questions_per_step} questions x group "
             f"{cfg.rollout.group_size} from {CONFIG}'s stream; every arm samples the same "
             "questions, arms interleaved per step; sampled replies differ between decoders "
             "(same distribution, other draws), so tokens and rewards differ too.",
             "max_logprob_gap: the largest difference between a reply token's log-prob as "
             "returned and a teacher-forced forward of prompt + reply (first 4 jobs of a check "
             "group)."]
    report(args.name, "RL rollouts: plain vs prompt-lookup decoding",
           command_line("rollouts.py", args),
           rows, notes)


if __name__ == "__main__":
    main()
