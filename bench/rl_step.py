"""Whole RL training steps (rollouts + loss + update), the trainer's path before and after issue 22.

Four `memagent.rl.Trainer`s on configs/rl/rl-smollm2-v6.yaml (the shipped adapter trained
itself, float32 policy), built in one process and stepped in turn, so every arm meets the same
load. They differ only in how rollouts are made:

    before        the LoRA-wrapped policy itself, transformers' generate (rollout.merge_adapter
                  false, decoding plain): the trainer as it was
    merged        a float32 copy with the adapter merged in, prompt-lookup decoding (the default)
    bf16          the same copy in bfloat16 (rollout.dtype bfloat16); the old log-probs are then
                  recomputed by the float32 policy before the update
    bf16+autocast and the learner's forward and backward under bfloat16 autocast
                  (optim.autocast_bf16; weights and optimizer stay float32)

    python bench/rl_step.py [--steps 3] [--threads 1] [--reward alternating|real]

Dynamic sampling is off here so that every step of every arm samples 2 questions x group 4 (the
same questions: one seed), and the reward is replaced by 0, 1, 0, 1, ... so that every group has
variance and every step trains on all its rows (timing only: with the real reward, how much of a
step trains differs by chance per arm); `--reward real` runs the config's reward and dynamic
sampling instead, as a training run does. Each arm's replies are its own draws. Seconds per step are the trainer's own `step_seconds`. Writes
results/bench/rl_step.{csv,md}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from typing import Any

import yaml

from _common import ROOT, command_line, report

CONFIG = "configs/rl/rl-smollm2-v6.yaml"
ARMS = {
    "before": {"merge_adapter": False, "decoding": "plain"},
    "merged": {"merge_adapter": True, "decoding": "lookup"},
    "bf16": {"merge_adapter": True, "decoding": "lookup", "dtype": "bfloat16"},
    "bf16+autocast": {"merge_adapter": True, "decoding": "lookup", "dtype": "bfloat16",
                      "autocast_bf16": True},
}
OPTIM_KEYS = ("autocast_bf16",)


def trainer(arm: str, steps: int, out: str, real_reward: bool) -> Any:
    from memagent.rl.config import build_config
    from memagent.rl.trainer import Trainer

    raw = yaml.safe_load((ROOT / CONFIG).read_text())
    raw["adapter"] = str(ROOT / raw["adapter"])
    raw.update(output_dir=f"{out}/{arm}", steps=steps, save_every=10_000)
    rollout = {k: v for k, v in ARMS[arm].items() if k not in OPTIM_KEYS}
    if not real_reward:
        rollout.update(dynamic_sampling=False, max_refill_rounds=0)
    raw["rollout"].update(**rollout)
    raw["optim"].update({k: v for k, v in ARMS[arm].items() if k in OPTIM_KEYS})
    t = Trainer(build_config(raw))
    if not real_reward:
        t.reward = alternating_reward()
    return t


def alternating_reward() -> Any:
    """0, 1, 0, 1, ... in the order rollouts finish: every group of 4 has variance, so every step
    of every arm trains on all its rows (with the real reward, a group whose rollouts all fail or
    all succeed trains nothing, and how much of a step trains would differ by chance per arm)."""
    state = {"n": 0}

    def reward(_prediction: str, _answers: Any) -> float:
        state["n"] += 1
        return float(state["n"] % 2)

    return reward


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument("--name", default="rl_step")
    ap.add_argument("--reward", choices=["alternating", "real"], default="alternating",
                    help="real: the config's reward and dynamic sampling, as a training run")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    arms = args.arms.split(",")
    rows: dict[str, list[dict[str, Any]]] = {arm: [] for arm in arms}
    with tempfile.TemporaryDirectory() as out:
        trainers = {arm: trainer(arm, args.steps, out, args.reward == "real") for arm in arms}
        for s in range(args.steps):
            for arm in arms:  # interleaved: load drifts hit every arm alike
                row = trainers[arm].step()
                rows[arm].append(row)
                print(arm, s, round(row["step_seconds"], 1), round(row["rollout_seconds"], 1),
                      flush=True)

    def mean(arm: str, key: str) -> float:
        return statistics.fmean(r.get(key, 0.0) for r in rows[arm])

    base = mean(arms[0], "step_seconds")
    table = [{"arm": arm, "merge_adapter": ARMS[arm]["merge_adapter"],
              "decoding": ARMS[arm]["decoding"], "rollout_dtype": ARMS[arm].get("dtype", "policy"),
              "autocast_bf16": ARMS[arm].get("autocast_bf16", False), "threads": args.threads,
              "step_s_mean": round(mean(arm, "step_seconds"), 1),
              "step_s_best": round(min(r["step_seconds"] for r in rows[arm]), 1),
              "x_first_arm": round(base / mean(arm, "step_seconds"), 2),
              "rollout_s_mean": round(mean(arm, "rollout_seconds"), 1),
              "train_s_mean": round(mean(arm, "train_seconds"), 1),
              "trained_tokens_mean": round(mean(arm, "train_tokens")),
              "rollout_rounds_mean": round(mean(arm, "rollout_rounds"), 1),
              "logprob_gap_max": f"{max(r.get('rollout_logprob_gap_max', 0.0) for r in rows[arm]):.1e}",
              "approx_kl_old": f"{mean(arm, 'approx_kl_old'):.1e}",
              "load_avg_1m": round(os.getloadavg()[0], 1)}
             for arm in arms]  # fmt: skip
    how = ("the config's boxed reward and dynamic sampling (1 refill round), as a training run: "
           "how many rollouts a step samples and how many rows train differ per arm by chance"
           if args.reward == "real" else "dynamic sampling off, reward 0/1 alternating so every "
           "row trains")
    notes = [f"{args.steps} steps per arm of {CONFIG} (2 questions x group 4; {how}), arms "
             "interleaved per step in one process, same question stream.",
             "train_s: the learner's part (advantages, the bf16 arm's log-prob recompute, "
             "forward + backward, optimizer); rollout_s: sampling alone (a step also makes the "
             "merged copy). logprob_gap_max: the largest |sampler - float32 policy| log-prob of a "
             "sampled token (bf16 arm only); approx_kl_old: the loss's KL to the old policy "
             "(the second mini-batch follows one update, so it is not 0). In the bf16 arms the "
             "first mini-batch's old log-probs come from its own forward pass and the second's "
             "are recomputed by the float32 policy before the first update."]
    report(args.name, "RL steps: the trainer's rollouts before and after issue 22",
           command_line("rl_step.py", args),
           table, notes)


if __name__ == "__main__":
    main()
