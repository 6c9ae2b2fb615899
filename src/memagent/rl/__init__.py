"""Multi-Conv RL for the memory agent (episodes, advantages, losses, rollouts, trainer).

Map: episode.py (Episode/Conversation) · advantages.py (group-relative A, dynamic-sampling filter) ·
losses.py (clipped PG + k3 KL, token/episode aggregation) · batch.py (rows, padding) ·
config.py + presets.py (validated config, `paper-release` / `dapo`). torch is imported only by
losses.py and batch.py and the modules that train.
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
