"""The learner: one optimizer step per mini-batch of episodes, under `accelerate`.

Every rank holds the same list of episodes (rollouts are gathered first), computes the same
advantages and the same loss weights over the whole mini-batch, then trains on its own share of
the conversations. Weights are global, so a rank's loss is its part of the global sum; DDP averages
gradients across ranks, hence the loss is multiplied by the world size. Micro-batches accumulate
gradients without synchronising until the last one; every rank runs the same number of them (a rank
short of rows runs a zero-weight pass) so the collective calls line up.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from memagent.rl.advantages import episode_advantages
from memagent.rl.batch import (
    MicroBatch,
    TrainRow,
    collate,
    contiguous_slices,
    conversation_rows,
    token_logprobs,
    turn_order,
)
from memagent.rl.config import TrainConfig
from memagent.rl.episode import Conversation, Episode
from memagent.rl.losses import PolicyLoss, entropy_from_logits


def shard_rows(
    rows: Sequence[TrainRow], rank: int, world: int, micro_batch_size: int
) -> list[list[TrainRow]]:
    """This rank's micro-batches: rows longest first, dealt round-robin, equal count on every rank.

    A rank that runs out of rows gets zero-weight copies of a real row, so it still joins every
    gradient synchronisation.
    """
    if not rows:
        return []
    ordered = sorted(rows, key=len, reverse=True)
    mine = ordered[rank::world]
    n_micro = math.ceil(math.ceil(len(ordered) / world) / micro_batch_size)
    filler = ordered[0]
    blank = TrainRow(
        filler.prompt_ids, filler.completion_ids, filler.old_logprobs,
        [0.0] * len(filler.mask), 0.0, [0.0] * len(filler.weights), filler.episode_index,
    )  # fmt: skip
    out = []
    for j in range(n_micro):
        part = mine[j * micro_batch_size : (j + 1) * micro_batch_size]
        out.append(part or [blank])
    return out


def split_minibatches(episodes: Sequence[Episode], n: int) -> list[list[int]]:
    """Indices of `n` contiguous, near-equal mini-batches of whole episodes."""
    n = max(1, min(n, len(episodes)))
    size = math.ceil(len(episodes) / n)
    return [list(range(i, min(i + size, len(episodes)))) for i in range(0, len(episodes), size)]


def linear_warmup(warmup_steps: int, from_zero: bool = False) -> Any:
    """LR multiplier over `warmup_steps` scheduler steps, then 1: linear from 1/(warmup+1), or
    from_zero: step/warmup from 0 (verl's constant schedule with warm-up, as released)."""
    if from_zero:  # no warm-up at all is lr x 1 from the first step (verl would give 0 there)
        return lambda step: min(1.0, step / warmup_steps) if warmup_steps else 1.0
    return lambda step: min(1.0, (step + 1) / (warmup_steps + 1))


def minibatch_conversations(
    episodes: Sequence[Episode], n: int, order: str = "episode"
) -> list[list[tuple[int, Conversation]]]:
    """The (episode index, conversation) pairs of each optimizer step.

    episode: `n` contiguous mini-batches of whole episodes. turn: every conversation in turn order
    (batch.turn_order) cut into `n` contiguous near-equal slices, the release's mini-batches."""
    if order == "turn":
        return contiguous_slices(turn_order(episodes), n)
    return [
        [(i, c) for i in idx for c in episodes[i].conversations]
        for idx in split_minibatches(episodes, n)
    ]


class Learner:
    """Holds the policy, the optional frozen reference, the optimizer; trains on episodes."""

    def __init__(
        self, model: Any, cfg: TrainConfig, accelerator: Any, pad_id: int, ref_model: Any = None
    ) -> None:
        self.cfg = cfg
        self.acc = accelerator
        self.pad_id = pad_id
        self.loss_fn = PolicyLoss(cfg.loss)
        o = cfg.optim
        optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad],
            lr=o.lr, betas=o.betas, weight_decay=o.weight_decay,
        )  # fmt: skip
        self.model, self.optimizer = accelerator.prepare(model, optimizer)
        # Not prepared: accelerate would step a prepared scheduler once per process per step.
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, linear_warmup(o.warmup_steps, o.warmup_from_zero)
        )
        self._step_scheduler_per_optimizer_step = o.warmup_per == "optimizer_step"
        accelerator.register_for_checkpointing(self.scheduler)
        self.ref_model = ref_model
        if ref_model is not None:
            ref_model.requires_grad_(False).eval()

    @property
    def policy(self) -> Any:
        """The bare model (for generation and saving)."""
        return self.acc.unwrap_model(self.model)

    def _forward(self, model: Any, mb: MicroBatch, entropy: bool) -> tuple[Tensor, Tensor | None]:
        autocast = (torch.autocast(self.acc.device.type, dtype=torch.bfloat16)
                    if self.cfg.optim.autocast_bf16 else contextlib.nullcontext())  # fmt: skip
        with autocast:
            out = model(
                input_ids=mb.input_ids, attention_mask=mb.attention_mask,
                position_ids=mb.position_ids, logits_to_keep=mb.completion_width + 1,
                use_cache=False,
            )  # fmt: skip
        logits = out.logits  # [B, C+1, V]
        logp = token_logprobs(logits, mb.targets)  # [B, C]
        ent = None
        if entropy:
            with contextlib.nullcontext() if self.cfg.loss.entropy_coef > 0 else torch.no_grad():
                ent = entropy_from_logits(logits[:, :-1].float())  # [B, C]
        return logp, ent

    def _micro_step(self, rows: list[TrainRow], sync: bool, own_old: bool = False) -> dict[str, Tensor]:
        """One forward/backward. own_old: the rows' old log-probs are this very forward's,
        detached (the policy has not moved since the rollouts; rollout.dtype's first mini-batch)."""
        mb = collate(rows, self.pad_id).to(self.acc.device)
        ref_logp = None
        if self.ref_model is not None and self.cfg.loss.kl_coef > 0:
            with torch.no_grad():
                ref_logp, _ = self._forward(self.ref_model, mb, entropy=False)
        ctx = contextlib.nullcontext() if sync else self.acc.no_sync(self.model)
        with ctx:
            logp, ent = self._forward(self.model, mb, entropy=True)
            old = logp.detach() if own_old else mb.old_logprobs
            loss, metrics = self.loss_fn(
                logp, old, mb.advantages, mb.weights, ref_logp=ref_logp, entropy=ent
            )
            if own_old:  # how far the sampler's log-probs were from the policy's
                gap = ((old - mb.old_logprobs).abs() * (mb.mask > 0)).max()
                metrics["rollout_logprob_gap_max"] = gap
            self.acc.backward(loss * self.acc.num_processes)
        metrics["weight_mass"] = mb.weights.sum().detach()
        metrics["tokens"] = mb.mask.sum().detach()
        metrics["seq_tokens"] = mb.attention_mask.sum().detach().float()
        return metrics

    def _optimizer_step(self) -> float:
        grad_norm = float("nan")
        if self.cfg.optim.grad_clip is not None:
            grad_norm = float(
                self.acc.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
            )
        self.optimizer.step()
        if self._step_scheduler_per_optimizer_step:
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return grad_norm

    @property
    def _zero_advantage_rows_are_free(self) -> bool:
        """With no KL or entropy term, a row with A = 0 adds nothing to the loss or its gradient."""
        return self.cfg.loss.kl_coef == 0 and self.cfg.loss.entropy_coef == 0

    def _minibatch_rows(
        self, convs: Sequence[tuple[int, Conversation]], advs: Sequence[float]
    ) -> list[TrainRow]:
        loss = self.cfg.loss
        rows = conversation_rows(convs, advs, loss.aggregation, loss.mask_truncated)
        if self._zero_advantage_rows_are_free:
            # Exact compute saving: their weights stay in the mean's denominator (build_rows).
            rows = [r for r in rows if r.advantage != 0.0]
        return rows

    def train(self, episodes: Sequence[Episode]) -> dict[str, float]:
        """Advantages over the whole step, then one optimizer step per mini-batch; metrics.

        Loss-like metrics are means over the tokens actually run (rows with A = 0 may be skipped).
        """
        t0 = time.perf_counter()
        advs = episode_advantages(
            episodes, self.cfg.advantage.std_normalize, self.cfg.advantage.eps
        )
        sums: dict[str, float] = {}
        norms, losses = [], []
        o = self.cfg.optim
        batches = [
            self._minibatch_rows(convs, advs)
            for convs in minibatch_conversations(episodes, o.mini_batches, o.minibatch_order)
        ]
        # rollout.dtype: the sampler's log-probs are not the policy's. The first mini-batch takes
        # its old log-probs from its own forward pass (no update has happened yet); the others
        # are recomputed now, before any update.
        own_old = self.cfg.rollout.dtype != "policy"
        gap = None
        if own_old and len(batches) > 1:
            rest, gap = self._recompute_old_logprobs(batches[1:])
            batches = [batches[0], *rest]
        self.model.train()
        for b, rows in enumerate(batches):
            micro = shard_rows(
                rows, self.acc.process_index, self.acc.num_processes,
                self.cfg.optim.micro_batch_size,
            )  # fmt: skip
            if not micro:  # every rank sees the same rows, so every rank skips together
                continue
            loss = 0.0
            for j, part in enumerate(micro):
                metrics = self._micro_step(part, sync=j == len(micro) - 1, own_old=own_old and b == 0)
                if "rollout_logprob_gap_max" in metrics:
                    worst = float(self.acc.reduce(metrics.pop("rollout_logprob_gap_max"), "max"))
                    gap = max(gap or 0.0, worst)
                for k, v in metrics.items():
                    value = float(self.acc.reduce(v.detach(), "sum"))
                    sums[k] = sums.get(k, 0.0) + value
                    loss += value if k == "pg_loss" else 0.0
            losses.append(loss)
            norms.append(self._optimizer_step())
        if not self._step_scheduler_per_optimizer_step:
            self.scheduler.step()  # warm-up counted in training steps
        seconds = time.perf_counter() - t0
        self.model.eval()
        out = self._summarise(sums, norms, losses, seconds)
        if gap is not None:
            out["rollout_logprob_gap_max"] = gap
        return out

    @torch.no_grad()
    def _recompute_old_logprobs(
        self, batches: list[list[TrainRow]]
    ) -> tuple[list[list[TrainRow]], float]:
        """Rollouts sampled in another precision (rollout.dtype): every row's old log-probs
        become the policy's own, computed before any update, so the ratio starts at exactly 1 as
        in a float32 run. Also returns the largest |sampler - policy| log-prob gap seen."""
        self.model.eval()
        size = self.cfg.optim.micro_batch_size
        gap = 0.0
        out = []
        for rows in batches:
            fresh = []
            for j in range(0, len(rows), size):
                part = rows[j : j + size]
                logp, _ = self._forward(self.model, collate(part, self.pad_id).to(self.acc.device),
                                        entropy=False)  # fmt: skip
                for i, row in enumerate(part):
                    n = len(row.completion_ids)  # completions end at the last position
                    mine = logp[i, logp.shape[1] - n :].float().cpu()
                    old = torch.tensor(row.old_logprobs, dtype=torch.float32)
                    gap = max(gap, float((mine - old).abs().max())) if n else gap
                    fresh.append(replace(row, old_logprobs=mine.tolist()))
            out.append(fresh)
        return out, gap

    def _summarise(
        self, sums: dict[str, float], norms: list[float], losses: list[float], seconds: float
    ) -> dict[str, float]:
        mass = sums.pop("weight_mass", 0.0)
        tokens, seq_tokens = sums.pop("tokens", 0.0), sums.pop("seq_tokens", 0.0)
        sums.pop("pg_loss", None)
        out = {k: v / mass if mass else 0.0 for k, v in sums.items()}  # weighted sums → means
        out.update(
            pg_loss=sum(losses) / len(losses) if losses else 0.0,
            optimizer_steps=float(len(norms)),
            grad_norm=sum(norms) / len(norms) if norms else 0.0,
            lr=float(self.scheduler.get_last_lr()[0]),
            train_tokens=tokens,
            train_seconds=seconds,
            train_tokens_per_s=seq_tokens / seconds if seconds else 0.0,
        )
        return out
