"""Group-relative advantages for Multi-Conv RL, and the dynamic-sampling filter.

A group is the G rollouts (episodes) of one question. Each episode gets
    A_i = r_i - mean_j(r_j)                  (paper-release: no std division)
    A_i = (r_i - mean_j(r_j)) / (std_j + eps)  (std_normalize=True; std is the unbiased n-1 one)
computed over *episodes*, once each, before anything is expanded to conversations or tokens: an
episode that read 4 chunks (5 conversations) counts exactly as much in its group's mean and std as
one that read 2. The episode's advantage is then broadcast to every completion token of every one of
its conversations (`rl.batch.build_rows` and `collate`).

Dynamic sampling (DAPO): a group whose rewards are all equal has all-zero advantages and so carries
no gradient; `filter_groups` drops such groups and reports the fraction it dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from memagent.rl.episode import Episode, group_episodes

ZERO_VARIANCE_TOL = 1e-9


def group_advantages(
    rewards: Sequence[float], std_normalize: bool = False, eps: float = 1e-6
) -> list[float]:
    """Advantages of one group's episodes from their rewards (one reward per episode)."""
    n = len(rewards)
    if n == 0:
        return []
    mean = sum(rewards) / n
    centred = [r - mean for r in rewards]
    if not std_normalize:
        return centred
    std = math.sqrt(sum(c * c for c in centred) / (n - 1)) if n > 1 else 0.0
    return [c / (std + eps) for c in centred]


def episode_advantages(
    episodes: Sequence[Episode], std_normalize: bool = False, eps: float = 1e-6
) -> list[float]:
    """One advantage per episode (same order as `episodes`), statistics taken within each group."""
    index = {id(ep): i for i, ep in enumerate(episodes)}
    out = [0.0] * len(episodes)
    for members in group_episodes(episodes).values():
        advs = group_advantages([ep.reward for ep in members], std_normalize, eps)
        for ep, adv in zip(members, advs, strict=True):
            out[index[id(ep)]] = adv
    return out


def is_zero_variance(rewards: Sequence[float], tol: float = ZERO_VARIANCE_TOL) -> bool:
    """True when all rewards of a group are equal (no learning signal)."""
    return max(rewards) - min(rewards) <= tol if rewards else True


@dataclass(frozen=True)
class GroupFilter:
    """What dynamic sampling kept."""

    kept: list[Episode]
    n_groups: int
    n_dropped: int

    @property
    def zero_variance_fraction(self) -> float:
        return self.n_dropped / self.n_groups if self.n_groups else 0.0

    @property
    def kept_fraction(self) -> float:
        return 1.0 - self.zero_variance_fraction if self.n_groups else 0.0


def filter_groups(episodes: Sequence[Episode]) -> GroupFilter:
    """Drop every group whose rewards are all equal; keep the others' episodes in order."""
    groups = group_episodes(episodes)
    keep_ids = {
        gid for gid, members in groups.items() if not is_zero_variance([e.reward for e in members])
    }
    kept = [ep for ep in episodes if ep.group_id in keep_ids]
    return GroupFilter(kept=kept, n_groups=len(groups), n_dropped=len(groups) - len(keep_ids))


def zero_variance_fraction(episodes: Sequence[Episode]) -> float:
    """Fraction of groups whose rewards are all equal."""
    return filter_groups(episodes).zero_variance_fraction
