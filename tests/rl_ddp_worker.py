"""One Learner step on fixed episodes, run under torchrun (gloo on CPU) by test_rl_distributed.

Usage: python -m torch.distributed.run --nproc_per_node N tests/rl_ddp_worker.py OUT_DIR AGG
Writes OUT_DIR/rank{r}-of{N}.pt with the gradient before the step and the updated weights.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from transformers import LlamaForCausalLM

import rl_helpers
from memagent.rl.config import build_config
from memagent.rl.episode import Conversation, Episode
from memagent.rl.learner import Learner

VOCAB = 128
# (group, reward, completion lengths of its conversations): uneven on purpose
LAYOUT = [
    ("a", 1.0, (5, 3)), ("a", 0.0, (4,)), ("a", 0.0, (2, 2, 6)),
    ("b", 1.0, (6, 2, 2)), ("b", 0.0, (3, 3)), ("b", 0.5, (7,)),
]  # fmt: skip


def episodes() -> list[Episode]:
    g = torch.Generator().manual_seed(1)
    out = []
    for group, reward, lengths in LAYOUT:
        convs = []
        for n in lengths:
            p = int(torch.randint(3, 9, (1,), generator=g))
            convs.append(
                Conversation(
                    prompt_ids=torch.randint(3, VOCAB, (p,), generator=g).tolist(),
                    completion_ids=torch.randint(3, VOCAB, (n,), generator=g).tolist(),
                    old_logprobs=(-torch.rand(n, generator=g) - 4.5).tolist(),
                )
            )
        out.append(Episode(group, convs, reward))
    return out


def tiny_llama() -> LlamaForCausalLM:
    model: LlamaForCausalLM = rl_helpers.tiny_llama(VOCAB, max_position_embeddings=64)
    return model


def main(out_dir: Path, aggregation: str) -> None:
    torch.manual_seed(0)
    model = tiny_llama()
    cfg = build_config(
        {
            "loss": {"aggregation": aggregation},
            "optim": {"lr": 1e-2, "warmup_steps": 0, "micro_batch_size": 1, "grad_clip": 1e9},
        }
    )
    acc = Accelerator(cpu=True)
    learner = Learner(model, cfg, acc, pad_id=0)
    grads: list[torch.Tensor] = []
    step = learner._optimizer_step

    def capture_then_step() -> float:  # the summed (and DDP-averaged) gradient, before AdamW
        grads.append(torch.cat([p.grad.flatten() for p in learner.policy.parameters()]))
        return step()

    learner._optimizer_step = capture_then_step  # type: ignore[method-assign]
    metrics = learner.train(episodes())
    weights = torch.cat([p.detach().flatten() for p in learner.policy.parameters()])
    torch.save(
        {"grad": grads[0], "weights": weights, "metrics": metrics},
        out_dir / f"rank{acc.process_index}-of{acc.num_processes}.pt",
    )
    acc.end_training()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
