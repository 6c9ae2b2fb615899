"""From episodes to loss-ready rows and padded micro-batch tensors.

`build_rows` flattens a mini-batch of episodes into one TrainRow per conversation, with the
episode's advantage on every completion token and the loss weights of the chosen aggregation
fixed over the whole mini-batch (so micro-batches can be any size and still sum to the exact
mini-batch mean).
`collate` pads a few rows for one forward pass: sequences are *left*-padded so every completion ends
at the last position, and per-token tensors cover only the last C positions (C = longest completion
of the micro-batch): the model is asked for logits there alone (`logits_to_keep=C + 1`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import Tensor

from memagent.llm.padding import left_pad
from memagent.rl.episode import Conversation, Episode
from memagent.rl.losses import loss_weights, overlong_mask

T = TypeVar("T")


@dataclass(frozen=True)
class TrainRow:
    """One conversation, ready for the loss. Per-token lists all have len(completion_ids)."""

    prompt_ids: list[int]
    completion_ids: list[int]
    old_logprobs: list[float]
    mask: list[float]
    advantage: float
    weights: list[float]
    episode_index: int

    def __len__(self) -> int:
        return len(self.prompt_ids) + len(self.completion_ids)


def _pad_right(rows: Sequence[Sequence[float]], width: int) -> Tensor:
    out = torch.zeros(len(rows), width)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.float32)
    return out


def build_rows(
    episodes: Sequence[Episode],
    advantages: Sequence[float],
    aggregation: str = "token",
    mask_truncated: bool = False,
) -> list[TrainRow]:
    """One TrainRow per conversation of every episode (in order), weights over the whole batch."""
    if len(episodes) != len(advantages):
        raise ValueError(f"{len(advantages)} advantages for {len(episodes)} episodes")
    convs = [(i, c) for i, ep in enumerate(episodes) for c in ep.conversations]
    return conversation_rows(convs, advantages, aggregation, mask_truncated)


def turn_order(episodes: Sequence[Episode]) -> list[tuple[int, Conversation]]:
    """(episode index, conversation) in the release's turn order: the first memory update of every
    episode, then the second of those that have one, ..., then every final answer."""
    updates = max((len(ep.conversations) - 1 for ep in episodes), default=0)
    out = [
        (i, ep.conversations[t])
        for t in range(updates)
        for i, ep in enumerate(episodes)
        if t < len(ep.conversations) - 1
    ]
    return out + [(i, ep.conversations[-1]) for i, ep in enumerate(episodes) if ep.conversations]


def contiguous_slices(items: Sequence[T], n: int) -> list[list[T]]:
    """`n` contiguous slices, the first len % n one longer (torch.tensor_split / np.array_split)."""
    n = max(1, min(n, len(items)))
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for k in range(n):
        end = start + size + (1 if k < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return [s for s in out if s]


def conversation_rows(
    convs: Sequence[tuple[int, Conversation]],
    advantages: Sequence[float],
    aggregation: str = "token",
    mask_truncated: bool = False,
) -> list[TrainRow]:
    """One TrainRow per (episode index, conversation), in order; `advantages` indexed by episode;
    the aggregation's weights are fixed over exactly these conversations (one mini-batch)."""
    if not convs:
        return []
    width = max(1, max(len(c.completion_ids) for _, c in convs))
    mask = _pad_right([c.mask or [] for _, c in convs], width)  # [N, W]
    if mask_truncated:
        truncated = torch.tensor([c.truncated for _, c in convs])
        mask = overlong_mask(mask, truncated)
    episode_index = torch.tensor([i for i, _ in convs], dtype=torch.long)  # [N]
    weights = loss_weights(mask, episode_index, aggregation)  # [N, W]
    rows = []
    for n, (i, c) in enumerate(convs):
        k = len(c.completion_ids)
        rows.append(
            TrainRow(
                prompt_ids=list(c.prompt_ids),
                completion_ids=list(c.completion_ids),
                old_logprobs=list(c.old_logprobs),
                mask=mask[n, :k].tolist(),
                advantage=float(advantages[i]),
                weights=weights[n, :k].tolist(),
                episode_index=i,
            )
        )
    return rows


@dataclass
class MicroBatch:
    """Padded tensors of a few rows. B rows, L = longest sequence, C = longest completion."""

    input_ids: Tensor  # [B, L] long, left-padded
    attention_mask: Tensor  # [B, L] long
    position_ids: Tensor  # [B, L] long, 0 at each row's first real token
    targets: Tensor  # [B, C] long, = input_ids[:, L-C:]
    mask: Tensor  # [B, C] float, 1 at trained completion tokens
    old_logprobs: Tensor  # [B, C]
    advantages: Tensor  # [B, C]
    weights: Tensor  # [B, C]

    @property
    def completion_width(self) -> int:
        return int(self.targets.shape[1])

    def to(self, device: torch.device | str) -> MicroBatch:
        return MicroBatch(**{k: v.to(device) for k, v in vars(self).items()})


def _pad_left(rows: Sequence[Sequence[float]], width: int, dtype: torch.dtype) -> Tensor:
    values: Tensor = left_pad(rows, 0, width, dtype)[0]
    return values


def collate(rows: Sequence[TrainRow], pad_id: int) -> MicroBatch:
    """Pad rows for one forward pass (see module docstring for the layout)."""
    seqs = [r.prompt_ids + r.completion_ids for r in rows]
    length = max(len(s) for s in seqs)
    width = max(1, max(len(r.completion_ids) for r in rows))
    input_ids, attention = left_pad(seqs, pad_id, length)
    position_ids = (attention.cumsum(dim=1) - 1).clamp(min=0)
    adv = [[r.advantage] * len(r.completion_ids) for r in rows]
    return MicroBatch(
        input_ids=input_ids,
        attention_mask=attention,
        position_ids=position_ids,
        targets=input_ids[:, length - width :],
        mask=_pad_left([r.mask for r in rows], width, torch.float32),
        old_logprobs=_pad_left([r.old_logprobs for r in rows], width, torch.float32),
        advantages=_pad_left(adv, width, torch.float32),
        weights=_pad_left([r.weights for r in rows], width, torch.float32),
    )


def token_logprobs(logits: Tensor, targets: Tensor, temperature: float = 1.0) -> Tensor:
    """Log-probs of `targets` under logits. logits [B, C+1, V] (last C+1 positions), targets [B, C].

    Position j of the kept logits predicts the token at j+1, so logits[:, :-1] score the targets.
    """
    scaled = logits[:, :-1, :].float() / temperature  # [B, C, V]
    logp = torch.log_softmax(scaled, dim=-1)
    return logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # [B, C]
