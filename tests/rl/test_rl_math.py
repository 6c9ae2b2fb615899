"""RL math against values computed by hand (in the comments). CPU, no model."""

from __future__ import annotations

import math

import pytest
import torch

from memagent.rl.advantages import (
    episode_advantages,
    filter_groups,
    group_advantages,
    zero_variance_fraction,
)
from memagent.rl.batch import build_rows, collate, token_logprobs
from memagent.rl.config import LossConfig
from memagent.rl.episode import Conversation, Episode
from memagent.rl.losses import (
    PolicyLoss,
    clipped_pg_loss,
    entropy_from_logits,
    kl_k3,
    loss_weights,
)


def conv(n: int, truncated: bool = False, prompt: int = 2) -> Conversation:
    """A conversation with `prompt` prompt tokens and n completion tokens, old log-probs 0."""
    return Conversation(
        prompt_ids=list(range(1, prompt + 1)),
        completion_ids=list(range(10, 10 + n)),
        old_logprobs=[0.0] * n,
        truncated=truncated,
    )


def ep(group: str, reward: float, *lengths: int) -> Episode:
    return Episode(group_id=group, conversations=[conv(n) for n in lengths], reward=reward)


# ---------------------------------------------------------------- advantages


def test_group_advantage_is_reward_minus_mean() -> None:
    # mean(1, 0, 0, 1) = 0.5
    assert group_advantages([1, 0, 0, 1]) == [0.5, -0.5, -0.5, 0.5]


def test_group_advantage_std_division_uses_unbiased_std() -> None:
    # std_{n-1}(1, 0, 0, 1) = sqrt(4 * 0.25 / 3) = 0.57735; 0.5 / 0.57735 = 0.866025
    advs = group_advantages([1, 0, 0, 1], std_normalize=True, eps=0.0)
    assert advs == pytest.approx([0.866025, -0.866025, -0.866025, 0.866025], abs=1e-6)


def test_group_stats_count_each_episode_once_whatever_its_chunks() -> None:
    # A read 4 chunks (5 conversations), B read 1 (2 conversations). Per episode the mean is
    # (1 + 0) / 2 = 0.5; weighting by conversations would give (5*1 + 2*0) / 7 = 0.714.
    a, b = ep("q", 1.0, 3, 3, 3, 3, 2), ep("q", 0.0, 3, 2)
    assert episode_advantages([a, b]) == [0.5, -0.5]


def test_advantages_are_computed_within_each_group() -> None:
    eps = [ep("x", 1.0, 1), ep("y", 0.0, 1), ep("x", 0.0, 1), ep("y", 0.0, 1), ep("y", 0.6, 1)]
    # group x: mean 0.5 → +0.5, -0.5; group y: mean 0.2 → -0.2, -0.2, +0.4
    assert episode_advantages(eps) == pytest.approx([0.5, -0.2, -0.5, -0.2, 0.4])


def test_advantage_is_broadcast_to_every_token_of_every_conversation() -> None:
    """Through the path training takes: episodes -> rows -> the micro-batch's advantage tensor
    (left-padded to the longest completion, 4 tokens)."""
    a, b = ep("q", 1.0, 3, 2), ep("q", 0.0, 4)
    rows = build_rows([a, b], episode_advantages([a, b]))
    assert [r.advantage for r in rows] == [0.5, 0.5, -0.5]
    assert collate(rows, pad_id=0).advantages.tolist() == [
        [0.0, 0.5, 0.5, 0.5],
        [0.0, 0.0, 0.5, 0.5],
        [-0.5, -0.5, -0.5, -0.5],
    ]


def test_dynamic_sampling_drops_groups_whose_rewards_are_all_equal() -> None:
    eps = [
        ep("a", 1.0, 1), ep("a", 1.0, 1), ep("a", 1.0, 1),  # all right: no signal
        ep("b", 0.0, 1), ep("b", 1.0, 1), ep("b", 0.0, 1),  # kept
        ep("c", 0.0, 1), ep("c", 0.0, 1),                   # all wrong: no signal
    ]  # fmt: skip
    result = filter_groups(eps)
    assert [e.group_id for e in result.kept] == ["b", "b", "b"]
    assert (result.n_groups, result.n_dropped) == (3, 2)
    assert result.zero_variance_fraction == pytest.approx(2 / 3)
    assert result.kept_fraction == pytest.approx(1 / 3)
    assert zero_variance_fraction(eps) == pytest.approx(2 / 3)


# ---------------------------------------------------------------- clipping


def _pg(ratio: float, adv: float, dual: float | None = None) -> tuple[float, bool, bool, float]:
    """(loss, clipped, dual_clipped, d loss / d logp) for one token with old logp 0."""
    logp = torch.tensor([[math.log(ratio)]], requires_grad=True)
    loss, clipped, dual_clipped = clipped_pg_loss(
        logp, torch.zeros(1, 1), torch.tensor([[adv]]), 0.2, 0.28, dual
    )
    loss.sum().backward()
    assert logp.grad is not None
    return loss.item(), bool(clipped.item()), bool(dual_clipped.item()), logp.grad.item()


@pytest.mark.parametrize(
    ("ratio", "adv", "loss", "clipped", "grad"),
    [
        (1.1, 1.0, -1.1, False, -1.1),  # inside [0.8, 1.28]: loss -A r, d/dlogp = -A r
        (1.5, 1.0, -1.28, True, 0.0),  # above 1 + 0.28 with A > 0: clipped to -1.28, no gradient
        (1.25, 1.0, -1.25, False, -1.25),  # 1.25 < 1.28: inside thanks to clip-higher
        (0.5, 1.0, -0.5, False, -0.5),  # below 0.8 with A > 0: pessimistic max keeps -0.5
        (0.5, -1.0, 0.8, True, 0.0),  # below 0.8 with A < 0: clipped to 0.8
        (0.9, -1.0, 0.9, False, 0.9),  # inside
        (1.5, -1.0, 1.5, False, 1.5),  # above with A < 0: unclipped (max keeps 1.5)
    ],
)
def test_asymmetric_clip(ratio: float, adv: float, loss: float, clipped: bool, grad: float) -> None:
    got_loss, got_clipped, _, got_grad = _pg(ratio, adv)
    assert got_loss == pytest.approx(loss, abs=1e-6)
    assert got_clipped is clipped
    assert got_grad == pytest.approx(grad, abs=1e-6)


def test_dual_clip_caps_negative_advantage_loss_at_c_times_abs_a() -> None:
    # A = -1, ratio 5: PPO loss max(5, 1.28) = 5 > c|A| = 3 → 3, constant (no gradient)
    assert _pg(5.0, -1.0, dual=3.0) == pytest.approx((3.0, False, True, 0.0))
    # ratio 2 → loss 2 < 3: untouched
    assert _pg(2.0, -1.0, dual=3.0)[:3] == pytest.approx((2.0, False, False))
    # A > 0 is never dual-clipped: ratio 5 → -1.28 (ordinary clip)
    assert _pg(5.0, 1.0, dual=3.0)[:3] == pytest.approx((-1.28, True, False))


# ---------------------------------------------------------------- KL, entropy


def test_k3_kl_value() -> None:
    # logp = log 0.5, ref = log 0.25: log r = log(0.5) → r - log r - 1 = 0.5 + 0.693147 - 1
    got = kl_k3(torch.tensor([math.log(0.5), 0.3]), torch.tensor([math.log(0.25), 0.3]))
    assert got.tolist() == pytest.approx([0.193147, 0.0], abs=1e-6)


def test_entropy_of_uniform_and_peaked_logits() -> None:
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]])
    assert entropy_from_logits(logits).tolist() == pytest.approx([math.log(4), 0.0], abs=1e-5)


# ---------------------------------------------------------------- aggregation


def _loss(rows: list, cfg: LossConfig, logp_shift: float = 0.0) -> float:
    batch = collate(rows, pad_id=0)
    loss, _ = PolicyLoss(cfg)(
        batch.old_logprobs + logp_shift * batch.mask, batch.old_logprobs, batch.advantages,
        batch.weights,
    )  # fmt: skip
    return loss.item()


def test_token_level_weighting_long_conversation_weighs_more() -> None:
    # Episode 0: one 3-token conversation, A = +1; episode 1: one 1-token conversation, A = -1.
    # ratio = 1 → per-token loss = -A. Token mean: (3 * -1 + 1 * +1) / 4 = -0.5.
    eps = [ep("q", 1.0, 3), ep("q", -1.0, 1)]
    rows = build_rows(eps, [1.0, -1.0], aggregation="token")
    assert [sum(r.weights) for r in rows] == pytest.approx([0.75, 0.25])
    assert _loss(rows, LossConfig(aggregation="token")) == pytest.approx(-0.5)


def test_episode_weighting_every_episode_weighs_the_same() -> None:
    # Same batch, episode mean: (mean(-1, -1, -1) + mean(+1)) / 2 = 0.
    eps = [ep("q", 1.0, 3), ep("q", -1.0, 1)]
    rows = build_rows(eps, [1.0, -1.0], aggregation="episode")
    assert [sum(r.weights) for r in rows] == pytest.approx([0.5, 0.5])
    assert _loss(rows, LossConfig(aggregation="episode")) == pytest.approx(0.0, abs=1e-6)


def test_episode_weighting_spans_all_conversations_of_an_episode() -> None:
    # Episode 0 = conversations of 2 and 4 tokens (6 tokens): each token 1 / (2 episodes * 6);
    # episode 1 = one 2-token conversation: each token 1 / (2 * 2).
    w = loss_weights(
        torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0]]).float(),
        torch.tensor([0, 0, 1]),
        "episode",
    )
    assert w[0].tolist() == pytest.approx([1 / 12, 1 / 12, 0, 0])
    assert w[1].tolist() == pytest.approx([1 / 12] * 4)
    assert w[2].tolist() == pytest.approx([1 / 4, 1 / 4, 0, 0])
    assert w.sum().item() == pytest.approx(1.0)


def test_micro_batches_sum_to_the_mini_batch_token_mean() -> None:
    # Gradient accumulation: weights are fixed over the whole batch, so micro-batch losses add up.
    eps = [ep("q", 1.0, 3, 2), ep("q", 0.0, 5), ep("q", 0.5, 1, 1, 4)]
    advs = episode_advantages(eps)  # mean 0.5 → +0.5, -0.5, 0.0
    rows = build_rows(eps, advs)
    cfg = LossConfig(clip_low=0.2, clip_high=0.2)
    whole = _loss(rows, cfg, logp_shift=0.1)
    parts = sum(_loss(rows[i : i + 2], cfg, logp_shift=0.1) for i in range(0, len(rows), 2))
    # ratio e^0.1 = 1.10517 inside the clip: token mean of -A * r = -r * (0.5*5 - 0.5*5 + 0*6) / 16
    assert whole == pytest.approx(parts, abs=1e-6)
    assert whole == pytest.approx(0.0, abs=1e-6)


def test_overlong_completions_are_masked_out_of_the_loss_and_its_denominator() -> None:
    long_cut = Episode("q", [conv(3, truncated=True), conv(2)], reward=1.0)
    rows = build_rows([long_cut], [1.0], aggregation="token", mask_truncated=True)
    assert rows[0].mask == [0.0, 0.0, 0.0]
    assert rows[0].weights == [0.0, 0.0, 0.0]
    assert rows[1].weights == pytest.approx([0.5, 0.5])
    kept = build_rows([long_cut], [1.0], aggregation="token", mask_truncated=False)
    assert kept[0].weights == pytest.approx([0.2, 0.2, 0.2])


def test_kl_term_adds_beta_times_k3_to_the_loss() -> None:
    # one token, A = 0 (pg = 0), logp = log 0.5, ref = log 0.25 → loss = 0.001 * 0.193147
    cfg = LossConfig(kl_coef=0.001)
    logp = torch.tensor([[math.log(0.5)]])
    loss, metrics = PolicyLoss(cfg)(
        logp, logp, torch.zeros(1, 1), torch.ones(1, 1), ref_logp=torch.tensor([[math.log(0.25)]])
    )
    assert loss.item() == pytest.approx(0.001 * 0.193147, abs=1e-8)
    assert metrics["kl_ref"].item() == pytest.approx(0.193147, abs=1e-6)
    with pytest.raises(ValueError, match="ref_logp"):
        PolicyLoss(cfg)(logp, logp, torch.zeros(1, 1), torch.ones(1, 1))


def test_clip_fraction_metric_is_the_weighted_share_of_clipped_tokens() -> None:
    # 4 tokens, A = +1, ratios 1.0, 1.1, 1.5, 2.0 → the last two exceed 1.28: clip fraction 0.5
    logp = torch.log(torch.tensor([[1.0, 1.1, 1.5, 2.0]]))
    _, m = PolicyLoss(LossConfig())(
        logp, torch.zeros(1, 4), torch.ones(1, 4), torch.full((1, 4), 0.25)
    )
    assert m["clip_fraction"].item() == pytest.approx(0.5)


# ---------------------------------------------------------------- collate


def test_collate_left_pads_and_aligns_completions_at_the_end() -> None:
    rows = build_rows([ep("q", 1.0, 2), Episode("q", [conv(1, prompt=4)], 0.0)], [0.5, -0.5])
    b = collate(rows, pad_id=99)
    # row 0: prompt [1, 2] + completion [10, 11] → 4 tokens, padded to 5 on the left
    assert b.input_ids.tolist() == [[99, 1, 2, 10, 11], [1, 2, 3, 4, 10]]
    assert b.attention_mask.tolist() == [[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]]
    assert b.position_ids.tolist() == [[0, 0, 1, 2, 3], [0, 1, 2, 3, 4]]
    assert b.targets.tolist() == [[10, 11], [4, 10]]
    assert b.mask.tolist() == [[1, 1], [0, 1]]
    assert b.advantages.tolist() == [[0.5, 0.5], [0.0, -0.5]]


def test_token_logprobs_scores_the_next_token() -> None:
    # kept logits for 3 positions over a 2-token vocab; position j predicts target j
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [9.0, 9.0]]])
    got = token_logprobs(logits, torch.tensor([[1, 0]]))
    assert got[0].tolist() == pytest.approx([math.log(0.5), math.log(0.75)])
