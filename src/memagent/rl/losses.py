"""Policy-gradient loss for Multi-Conv RL: pure tensor functions, chosen once from a LossConfig.

Shapes: B = conversations in the (micro-)batch, L = token positions scored (in the trainer, the
last C positions, C = longest completion; see batch.py). Every per-token tensor is [B, L]; entry t
is about one sampled token (its log-prob given the tokens before it). `weights` is zero outside
trained completion tokens, so padding and prompts never count.

The objective, per completion token of conversation b belonging to episode e(b):
    ratio    = exp(logp - old_logp)                                   (log-ratio clamped to ±20)
    pg       = max(-A * ratio, -A * clamp(ratio, 1 - clip_low, 1 + clip_high))
    pg       = min(pg, -A * dual_clip)            only where A < 0, if dual_clip is set (c > 1)
    kl       = exp(ref - logp) - (ref - logp) - 1  (k3, ≥ 0, capped at 10)    if kl_coef > 0
    loss_tok = pg + kl_coef * kl - entropy_coef * entropy
    loss     = Σ_tokens weights * loss_tok
with the weights fixed over the *whole* mini-batch before it is cut into micro-batches, so summing
micro-batch losses (gradient accumulation, or ranks after DDP's mean × world size) gives exactly the
mini-batch objective:
    aggregation="token":   w = 1 / (completion tokens of all conversations of the mini-batch)
                           → an episode with more chunks / longer memories weighs more (paper).
    aggregation="episode": w = 1 / (n_episodes * completion tokens of that episode)
                           → every episode weighs the same, whatever its number of conversations.

How this departs from GRPO (DeepSeekMath) and DAPO:
- GRPO optimises one sequence per sample and averages per sequence, then per group; here a sample
  (episode) is several independent conversations sharing one advantage, and the default mean runs
  over the tokens of all of them (DAPO's token-level loss, extended across conversations).
- GRPO divides advantages by the group std and puts a k3 KL (β 0.04) in the loss; the released
  MemAgent scripts do not divide by the std and use k3 with β 0.001: std division is a switch
  (advantages.py), β is a setting.
- DAPO's clip-higher (ε_high > ε_low) and dynamic sampling are available (preset `dapo`); its soft
  over-long *reward* shaping is not: over-long completions can only be masked out of the loss
  (`mask_truncated`, DAPO's "overlong filtering").
- Dual-clip (c = 3 in the release scripts, from Ye et al. 2020) bounds the loss of
  negative-advantage tokens whose ratio has grown large; it is in neither GRPO nor DAPO.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from memagent.rl.config import LossConfig

LOG_RATIO_LIMIT = 20.0
KL_CAP = 10.0


def clipped_pg_loss(
    logp: Tensor,
    old_logp: Tensor,
    adv: Tensor,
    clip_low: float,
    clip_high: float,
    dual_clip: float | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-token PPO loss with asymmetric clip and optional dual clip.

    logp, old_logp, adv: [B, L]. Returns loss [B, L], clipped [B, L] bool, dual_clipped [B, L] bool;
    `clipped` marks tokens whose gradient the ratio clip removed.
    """
    ratio = torch.exp(torch.clamp(logp - old_logp, -LOG_RATIO_LIMIT, LOG_RATIO_LIMIT))  # [B, L]
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    loss = torch.maximum(unclipped, clipped)
    was_clipped = clipped > unclipped
    dual = torch.zeros_like(was_clipped)
    if dual_clip is not None:
        cap = -adv * dual_clip  # [B, L], > 0 where adv < 0
        dual = (adv < 0) & (loss > cap)
        loss = torch.where(dual, cap, loss)
    return loss, was_clipped, dual


def kl_k3(logp: Tensor, ref_logp: Tensor, cap: float = KL_CAP) -> Tensor:
    """Schulman's low-variance, non-negative estimator of KL(π || π_ref) per token: [B, L]."""
    log_r = torch.clamp(ref_logp - logp, -LOG_RATIO_LIMIT, LOG_RATIO_LIMIT)
    return torch.clamp(torch.exp(log_r) - log_r - 1.0, max=cap)


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of the softmax over the last dim: [..., V] → [...]."""
    logz = torch.logsumexp(logits, dim=-1)
    p = torch.softmax(logits, dim=-1)
    return logz - (p * logits).sum(dim=-1)


def overlong_mask(mask: Tensor, truncated: Tensor) -> Tensor:
    """Zero the mask of conversations whose completion hit its limit. mask [B, L], truncated [B]."""
    return mask * (~truncated.bool()).to(mask.dtype)[:, None]


def token_weights(mask: Tensor, episode_index: Tensor) -> Tensor:
    """Weights for a token mean over the whole batch: mask / Σ mask. [B, L] → [B, L]."""
    del episode_index  # every token weighs the same, whichever episode it belongs to
    total = mask.sum()
    return mask / total if total > 0 else torch.zeros_like(mask)


def episode_weights(mask: Tensor, episode_index: Tensor) -> Tensor:
    """Weights for a mean of per-episode token means. mask [B, L], episode_index [B] (ints)."""
    per_conv = mask.sum(dim=1)  # [B]
    n_ep = int(episode_index.max().item()) + 1 if episode_index.numel() else 0
    per_ep = torch.zeros(n_ep, dtype=mask.dtype).index_add_(0, episode_index, per_conv)  # [E]
    live = int((per_ep > 0).sum().item())
    if live == 0:
        return torch.zeros_like(mask)
    denom = per_ep[episode_index] * live  # [B]
    return torch.where(denom[:, None] > 0, mask / denom.clamp(min=1e-12)[:, None], 0.0)


AGGREGATIONS = {"token": token_weights, "episode": episode_weights}


def loss_weights(mask: Tensor, episode_index: Tensor, aggregation: str) -> Tensor:
    """Weights of the chosen aggregation over a whole mini-batch (see module docstring)."""
    return AGGREGATIONS[aggregation](mask.float(), episode_index)


@dataclass(frozen=True)
class PolicyLoss:
    """The loss chosen once from a LossConfig; call it on each micro-batch."""

    config: LossConfig

    def __call__(
        self,
        logp: Tensor,
        old_logp: Tensor,
        adv: Tensor,
        weights: Tensor,
        ref_logp: Tensor | None = None,
        entropy: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Scalar loss and metrics, all as weighted sums (so they add up across micro-batches).

        logp, old_logp, adv, weights[, ref_logp, entropy]: [B, L].
        """
        cfg = self.config
        pg, clipped, dual = clipped_pg_loss(
            logp, old_logp, adv, cfg.clip_low, cfg.clip_high, cfg.dual_clip
        )
        per_token = pg
        metrics: dict[str, Tensor] = {
            "pg_loss": (pg * weights).sum().detach(),
            "clip_fraction": (clipped.float() * weights).sum().detach(),
            "dual_clip_fraction": (dual.float() * weights).sum().detach(),
            "approx_kl_old": (kl_k3(logp, old_logp) * weights).sum().detach(),
        }
        if cfg.kl_coef > 0:
            if ref_logp is None:
                raise ValueError("kl_coef > 0 needs the reference model's log-probs (ref_logp)")
            kl = kl_k3(logp, ref_logp)
            per_token = per_token + cfg.kl_coef * kl
            metrics["kl_ref"] = (kl * weights).sum().detach()
        if entropy is not None:
            metrics["entropy"] = (entropy * weights).sum().detach()
            if cfg.entropy_coef > 0:
                per_token = per_token - cfg.entropy_coef * entropy
        elif cfg.entropy_coef > 0:
            raise ValueError("entropy_coef > 0 needs the per-token entropy")
        return (per_token * weights).sum(), metrics
