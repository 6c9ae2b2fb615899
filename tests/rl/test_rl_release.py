"""The `paper-release` preset's batch shape: questions x rollouts per step, 16 optimizer steps per
batch on contiguous slices of the turn-ordered conversations, warm-up in training steps from 0,
and the release's training reward."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memagent.rl.batch import contiguous_slices, turn_order
from memagent.rl.config import build_config
from memagent.rl.episode import Conversation, Episode
from memagent.rl.learner import linear_warmup, minibatch_conversations
from memagent.rl.presets import PRESETS
from memagent.rl.rewards import release_boxed_reward, reward_fn
from rl_helpers import tiny_model_dir


def test_paper_release_batch_shape() -> None:
    c = build_config({"preset": "paper-release"})
    assert (c.rollout.questions_per_step, c.rollout.group_size) == (128, 16)
    assert (c.optim.mini_batches, c.optim.minibatch_order) == (16, "turn")
    assert (c.optim.warmup_steps, c.optim.warmup_per, c.optim.warmup_from_zero) == (
        20, "training_step", True
    )
    assert (c.reward, c.profile, c.optim.grad_clip) == ("release_boxed", "paper", 1.0)
    r = c.rollout.budgets
    assert (r.window, r.query, r.chunk, r.memory, r.output) == (9216, 1024, 5000, 1024, 1024)
    big = build_config({"preset": "paper-release-14b"})
    assert (big.rollout.questions_per_step, big.optim.mini_batches) == (256, 16)


@pytest.mark.parametrize("name", [None, *sorted(PRESETS)])
def test_every_presets_budgets_fit_their_window(tokenizer, name) -> None:
    """A preset's (or the bare config's) rollout budgets fit its window with its profile's
    rollout prompts as they are: the chunk is neither shrunk nor refused."""
    from memagent.profile import PROFILES

    c = build_config({"preset": name} if name else {})
    budgets = c.rollout.budgets
    resolved = budgets.resolve(tokenizer, PROFILES[c.profile].rollout_templates)
    assert resolved.chunk == budgets.chunk == 5000


def _ep(group: str, updates: int) -> Episode:
    convs = [Conversation([1, 2], [10 * t + 3], [-1.0]) for t in range(updates)]
    return Episode(group, [*convs, Conversation([1, 2], [99], [-1.0])], 1.0)


def test_turn_order_and_contiguous_slices() -> None:
    eps = [_ep("a", 2), _ep("a", 1), _ep("b", 3)]
    order = [(i, c.completion_ids[0]) for i, c in turn_order(eps)]
    assert order == [(0, 3), (1, 3), (2, 3), (0, 13), (2, 13), (2, 23), (0, 99), (1, 99), (2, 99)]
    assert [len(s) for s in contiguous_slices(list(range(10)), 4)] == [3, 3, 2, 2]
    slices = minibatch_conversations(eps, 4, "turn")
    assert [(i, c.completion_ids[0]) for i, c in slices[0]] == [(0, 3), (1, 3), (2, 3)]
    assert sum(len(s) for s in slices) == 9 and len(slices) == 4
    by_episode = minibatch_conversations(eps, 2, "episode")
    assert [{i for i, _ in s} for s in by_episode] == [{0, 1}, {2}]


def test_warmup_from_zero_counts_its_steps() -> None:
    f = linear_warmup(20, from_zero=True)
    assert [f(0), f(1), f(10), f(20), f(50)] == [0.0, 0.05, 0.5, 1.0, 1.0]
    assert linear_warmup(0, from_zero=True)(0) == 1.0
    assert linear_warmup(3)(0) == 0.25


@pytest.mark.parametrize(
    ("reply", "gold", "expected"),
    [
        ("So the answer is \\boxed{Paris}.", ["paris"], 1.0),
        ("\\boxed{The Beatles}", ["the beatles"], 1.0),  # spaces removed on both sides
        ("\\boxed{PARIS}", ["Paris"], 1.0),  # lowercased
        ("\\boxed{Paris}" + " filler" * 60, ["Paris"], 0.0),  # outside the last 300 characters
        ("\\boxed London", ["london"], 1.0),  # the '\\boxed ' form
        ("\\fbox{Paris}", ["paris"], 0.0),  # the release's remove_boxed rejects \\fbox
        ("Paris", ["paris"], 0.0),
        ("\\boxed{Rome} \\boxed{Paris}", ["rome", "paris"], 1.0),  # last box, any gold
    ],
)
def test_release_training_reward(reply, gold, expected) -> None:
    assert release_boxed_reward(reply, gold) == expected
    assert reward_fn("release_boxed") is release_boxed_reward


def test_one_paper_release_batch_takes_16_optimizer_steps(tokenizer, tmp_path: Path) -> None:
    """The preset on the tiny random model: one training step = 16 optimizer steps, lr still in
    its first warm-up step afterwards (1/20 of 1e-6)."""
    from memagent.rl.trainer import Trainer

    model_dir = tiny_model_dir(tokenizer, tmp_path / "tiny")
    cfg = build_config({
        "preset": "paper-release", "model": str(model_dir), "output_dir": str(tmp_path / "run"),
        "steps": 1, "save_every": 1, "gradient_checkpointing": False,
        "rollout": {"group_size": 4, "questions_per_step": 2, "chunk": 64, "memory": 8,
                    "output": 8, "query": 64, "window": 512},
        "optim": {"micro_batch_size": 4},
        "data": {"min_chunks": 2, "max_chunks": 3, "eval_questions": 1},
    })  # fmt: skip
    trainer = Trainer(cfg)
    row = trainer.step()
    assert row["episodes"] == 8 and row["conversations_per_episode"] >= 3  # >= 24 conversations
    assert row["optimizer_steps"] == 16
    assert row["lr"] == pytest.approx(1e-6 / 20)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["optimizer_steps"] == 16
