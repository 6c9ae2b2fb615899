"""Multi-Conv RL for the memory agent (see docs/rl.md).

Map: episode.py (Episode/Conversation) · advantages.py (group-relative A per episode, dynamic-
sampling filter) · losses.py (clipped PG, dual clip, k3 KL, token/episode aggregation) · batch.py
(rows, padding) · config.py + presets.py (validated config; `paper-release`, `dapo`) · tasks.py
(question sources) · rewards.py · rollout.py (G rollouts per question → episodes) · learner.py
(optimizer steps under accelerate) · trainer.py + checkpoint.py (the built-in loop) ·
engines/trl_async.py (TRL AsyncGRPOTrainer adapter). Importing this package loads no torch.
"""

from memagent.rl.advantages import episode_advantages, filter_groups, group_advantages
from memagent.rl.config import TrainConfig, load_config
from memagent.rl.episode import Conversation, Episode

__all__ = [
    "Conversation",
    "Episode",
    "TrainConfig",
    "episode_advantages",
    "filter_groups",
    "group_advantages",
    "load_config",
]
