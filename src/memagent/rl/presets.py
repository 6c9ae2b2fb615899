"""Named presets: the released MemAgent scripts and the DAPO recipe the paper describes.

A preset is a partial config; keys in the user's file override it. See
../shared/spec/reference-facts.md ("Training as released") for where the numbers come from.
"""

from __future__ import annotations

from typing import Any

PAPER_RELEASE: dict[str, Any] = {
    "loss": {
        "clip_low": 0.2,
        "clip_high": 0.2,  # no clip-higher in the released scripts
        "dual_clip": 3.0,
        "kl_coef": 0.001,  # low-variance (k3) KL *loss*, nothing in the reward
        "entropy_coef": 0.0,
        "aggregation": "token",
    },
    "advantage": {"std_normalize": False},
    "rollout": {
        "group_size": 16,
        "questions_per_step": 128,  # 7B: data.train_batch_size=128
        "temperature": 1.0,
        "top_p": 1.0,
        "dynamic_sampling": False,  # the zero-variance filter exists upstream but is off
        "max_refill_rounds": 0,
        # budgets in the release's vLLM window (8192 + 1024)
        "budgets": {"window": 9216, "query": 1024, "chunk": 5000, "memory": 1024, "output": 1024},
    },
    "optim": {
        "lr": 1e-6,
        "weight_decay": 0.01,
        "grad_clip": 1.0,
        # ppo_mini_batch_size 8 of 128 questions: 16 optimizer steps per batch, each on a
        # contiguous slice of the turn-ordered conversations (dp_actor td_split)
        "mini_batches": 16,
        "minibatch_order": "turn",
        # lr_warmup_steps=20 counts training steps (the scheduler steps once per update_actor),
        # lr x step/20 from 0 (verl get_constant_schedule_with_warmup)
        "warmup_steps": 20,
        "warmup_per": "training_step",
        "warmup_from_zero": True,
    },
    # MemoryDataset centre-truncates every context, training and validation, to
    # max_chunks x chunk_size = 8 x 5000 tokens (verl postprocess_data, truncation='center')
    # validation on the whole dev file (128 questions), before training and every 5 steps
    # (trainer.test_freq=5, val_before_train); val_kwargs.n=4, do_sample, temperature 1.0, top_p 0.7
    "data": {"max_document_tokens": 40000, "eval_questions": 128},
    "eval_every": 5,
    "eval": {"samples_per_question": 4, "temperature": 1.0, "top_p": 0.7},
    "profile": "paper",  # the release's prompts; rollouts answer in \\boxed{}
    "reward": "release_boxed",  # verl/utils/reward_score/hotpotqa.py
}

# run_memory_14B.sh: batch 256, ppo_mini_batch_size 16: still 16 optimizer steps per batch.
PAPER_RELEASE_14B: dict[str, Any] = {
    **PAPER_RELEASE,
    "rollout": {**PAPER_RELEASE["rollout"], "questions_per_step": 256},
}

DAPO: dict[str, Any] = {
    "loss": {
        "clip_low": 0.2,
        "clip_high": 0.28,  # clip-higher
        "dual_clip": None,
        "kl_coef": 0.0,
        "entropy_coef": 0.0,
        "aggregation": "token",
    },
    "advantage": {"std_normalize": True},  # DAPO keeps GRPO's (r - mean) / std
    "rollout": {
        "group_size": 16,
        "temperature": 1.0,
        "top_p": 1.0,
        "dynamic_sampling": True,
        "max_refill_rounds": 3,
    },
    "optim": {"lr": 1e-6, "warmup_steps": 20, "weight_decay": 0.01},
    "reward": "boxed",
}

PRESETS: dict[str, dict[str, Any]] = {
    "paper-release": PAPER_RELEASE,
    "paper-release-14b": PAPER_RELEASE_14B,
    "dapo": DAPO,
}
