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
        "temperature": 1.0,
        "top_p": 1.0,
        "dynamic_sampling": False,  # the zero-variance filter exists upstream but is off
        "max_refill_rounds": 0,
    },
    "optim": {"lr": 1e-6, "warmup_steps": 20, "weight_decay": 0.01},
    "reward": "boxed",
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

PRESETS: dict[str, dict[str, Any]] = {"paper-release": PAPER_RELEASE, "dapo": DAPO}
