"""The RL unit of data: an Episode is one rollout of the memory agent on one question.

A rollout of MemAgent is not one long sequence but n_i context-independent conversations: one per
chunk (prompt = question + memory + chunk, completion = the new memory) plus the final-answer
conversation. Every conversation keeps its own token ids and the sampling policy's per-token
log-probs; the episode carries the single reward of its final answer and the id of its group (the G
rollouts of the same question).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Conversation:
    """One prompt → completion turn of a rollout, with what the loss needs about it.

    mask: 1 for completion tokens the loss trains on, 0 for ignored ones (default: all 1).
    truncated: the completion hit its token limit (finish_reason "length"); the loss may mask it.
    """

    prompt_ids: list[int]
    completion_ids: list[int]
    old_logprobs: list[float]
    mask: list[int] | None = None
    truncated: bool = False

    def __post_init__(self) -> None:
        n = len(self.completion_ids)
        if len(self.old_logprobs) != n:
            raise ValueError(
                f"old_logprobs has {len(self.old_logprobs)} entries for {n} completion tokens; "
                "collect one log-prob per sampled token (ChatRequest.want_logprobs=True)"
            )
        if self.mask is None:
            self.mask = [1] * n
        elif len(self.mask) != n:
            raise ValueError(f"mask has {len(self.mask)} entries for {n} completion tokens")
        if not self.prompt_ids:
            raise ValueError("a conversation needs a non-empty prompt")

    @property
    def n_tokens(self) -> int:
        """Completion tokens the loss trains on."""
        assert self.mask is not None  # set in __post_init__
        return int(sum(self.mask))

    def __len__(self) -> int:
        return len(self.prompt_ids) + len(self.completion_ids)


@dataclass
class Episode:
    """One rollout: its conversations in order (chunks..., final answer), one reward, one group."""

    group_id: str
    conversations: list[Conversation]
    reward: float
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.conversations:
            raise ValueError(f"episode of group {self.group_id!r} has no conversations")

    @property
    def n_tokens(self) -> int:
        """Trained completion tokens over all conversations of the episode."""
        return sum(c.n_tokens for c in self.conversations)


def group_episodes(episodes: Iterable[Episode]) -> dict[str, list[Episode]]:
    """Episodes by group id, groups and members in first-seen order."""
    groups: dict[str, list[Episode]] = {}
    for ep in episodes:
        groups.setdefault(ep.group_id, []).append(ep)
    return groups
