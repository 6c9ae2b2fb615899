"""The rule reward on the final answer; no reward on intermediate memories.

- "boxed" (the paper): the last brace-matched \\boxed{} of the final reply, normalized, exact match
  against any gold answer → 1 or 0; no \\boxed{} → 0.
- "release_boxed": the release's training reward (verl/utils/reward_score/hotpotqa.py): the last
  300 characters of the reply, lowercased, its last `\\boxed{}` / `\\boxed ` (MATH
  `strip_string` normalisation) equal to a lowercased gold answer → 1, else 0. The matcher is the
  one of the release's closed-book filter (data/filter.py), the same function.
- "contains": the fraction of gold values found in the normalized final reply (1 or 0 for a single
  value), so a model that has not learned to box its answer still gets a signal.
Comparison and normalization come from memagent.scoring, shared with evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from memagent.answer import last_boxed
from memagent.errors import InputError
from memagent.scoring import recall, training_reward

RewardFn = Callable[[str, Sequence[str]], float]


def boxed_reward(final_reply: str, answers: Sequence[str]) -> float:
    return training_reward(last_boxed(final_reply), answers)


def release_boxed_reward(final_reply: str, answers: Sequence[str]) -> float:
    from memagent.data.filter import boxed_hit

    return 1.0 if any(boxed_hit(final_reply, gold) for gold in answers) else 0.0


def contains_reward(final_reply: str, answers: Sequence[str]) -> float:
    return recall(final_reply, answers)


REWARDS: dict[str, RewardFn] = {
    "boxed": boxed_reward,
    "release_boxed": release_boxed_reward,
    "contains": contains_reward,
}


def reward_fn(name: str) -> RewardFn:
    try:
        return REWARDS[name]
    except KeyError:
        raise InputError(f"unknown reward {name!r}; choose one of {sorted(REWARDS)}") from None
