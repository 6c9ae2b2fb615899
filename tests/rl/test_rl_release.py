"""The `paper-release` preset's batch shape: questions x rollouts per step, 16 optimizer steps per
batch on contiguous slices of the turn-ordered conversations, warm-up in training steps from 0,
the release's training reward, documents centre-truncated to 8 x 5000 tokens, and validation with
4 samples per question at temperature 1.0, top_p 0.7."""

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
from memagent.types import SamplingParams
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


# --- training documents centre-truncated to 8 x 5000 tokens; validation n = 4, T 1.0, top_p 0.7 ---

_WORDS = ("harbor", "lantern", "meadow", "falcon", "compass", "pebble", "orchard", "violin")


def _english(sentences: int) -> str:
    return " ".join(
        f"Sentence {i} tells of the {_WORDS[i % 8]} near the {_WORDS[(i * 3) % 8]}."
        for i in range(sentences)
    )


@pytest.mark.parametrize("budget", [200, 1000, 1001])
def test_center_truncate_keeps_the_budget_from_head_and_tail(tokenizer, budget: int) -> None:
    """The first and last budget // 2 tokens of the original, joined: exactly the budget (an odd
    one keeps one token fewer, as verl's max_length // 2 per side does)."""
    from memagent.chunking import center_truncate, count_tokens, iter_chunks

    doc = _english(400)
    n, half = count_tokens([doc], tokenizer), budget // 2
    assert n > 3 * budget
    out = center_truncate(doc, tokenizer, budget)
    head = next(iter(iter_chunks([doc], tokenizer, half))).text  # the original's first half tokens
    tail = list(iter_chunks([doc], tokenizer, n - half))[1].text  # ... and its last half tokens
    assert out == head + tail
    assert count_tokens([out], tokenizer) == 2 * half


def test_center_truncate_leaves_a_short_document_alone(tokenizer) -> None:
    from memagent.chunking import center_truncate, count_tokens

    doc = _english(20)
    n = count_tokens([doc], tokenizer)
    assert center_truncate(doc, tokenizer, n) is doc
    assert center_truncate(doc, tokenizer, 40_000) is doc
    shorter = 2 * ((n - 1) // 2)  # one token too many is cut too (an even budget)
    assert count_tokens([center_truncate(doc, tokenizer, shorter)], tokenizer) == shorter
    with pytest.raises(ValueError, match="max_tokens must be >= 2"):
        center_truncate(doc, tokenizer, 1)


def test_center_truncate_never_exceeds_the_budget_at_the_seam(tokenizer) -> None:
    """Where the head ends and the tail starts inside one character's bytes, the joined text can
    tokenize to one token more than the two halves: that would cost a whole extra chunk (8 x 5000
    + 1 tokens = 9 chunks), so the tail then starts a token later."""
    from memagent.chunking import center_truncate, count_tokens, iter_chunks

    doc = "naïve café — 東京タワーは高い。 " * 300
    for budget in range(100, 400, 6):
        out = center_truncate(doc, tokenizer, budget)
        assert budget - 3 <= count_tokens([out], tokenizer) <= budget, budget
        assert len(list(iter_chunks([out], tokenizer, budget // 2))) <= 2


def test_truncating_source_cuts_training_and_held_out_documents(tokenizer) -> None:
    """data.max_document_tokens wraps the configured source: training and held-out documents are
    centre-truncated (the release's MemoryDataset serves both), `position` is the inner source's."""
    from memagent.chunking import center_truncate, count_tokens
    from memagent.rl.tasks import CenterTruncated
    from memagent.rl.trainer import make_source

    data = {"min_chunks": 3, "max_chunks": 4}
    whole = make_source(build_config({"data": data}), tokenizer, chunk=128)
    cut = make_source(build_config({"data": {**data, "max_document_tokens": 200}}), tokenizer, 128)
    assert isinstance(cut, CenterTruncated) and not isinstance(whole, CenterTruncated)
    for got, full in [*zip(cut.take(3), whole.take(3), strict=True),
                      *zip(cut.held_out(2), whole.held_out(2), strict=True)]:  # fmt: skip
        assert count_tokens([full.document], tokenizer) > 300
        assert got.document == center_truncate(full.document, tokenizer, 200)
        assert count_tokens([got.document], tokenizer) <= 200
        assert (got.id, got.question, got.answers) == (full.id, full.question, full.answers)
    assert cut.position == 3
    cut.position = 10  # a resumed run sets it
    assert cut.source.position == 10 and cut.take(1)[0].id == whole.take(8)[-1].id


def test_paper_release_truncates_to_8_chunks_and_validates_like_the_release() -> None:
    for name in ("paper-release", "paper-release-14b"):
        c = build_config({"preset": name})
        assert c.data.max_document_tokens == 40_000 == 8 * c.rollout.budgets.chunk
        e = c.eval
        assert (e.samples_per_question, e.temperature, e.top_p) == (4, 1.0, 0.7)
        # the whole dev file, before training and every 5 steps (trainer.test_freq=5)
        assert (c.data.eval_questions, c.eval_every) == (128, 5)
    plain = build_config({})
    assert plain.data.max_document_tokens is None
    assert (plain.eval.samples_per_question, plain.eval.temperature) == (1, 0.0)  # greedy, once


def _recording_policy(tokenizer, correct):
    from rl_helpers import ScriptedPolicy

    class Recording(ScriptedPolicy):
        def __init__(self) -> None:
            super().__init__(tokenizer, correct)
            self.samplings: list[SamplingParams] = []

        def generate(self, requests, sampling):
            self.samplings.append(sampling)
            return super().generate(requests, sampling)

    return Recording()


def test_evaluate_scores_the_mean_over_n_samples_per_question(tokenizer) -> None:
    """n sampled rollouts per held-out question, each with its own seed, all with the given
    sampling; `reward` is the mean over every sample (the release's mean@n)."""
    from memagent.config import AgentConfig, Budgets
    from memagent.loop.agent import MemAgent
    from memagent.rl.rewards import boxed_reward
    from memagent.rl.rollout import evaluate
    from memagent.rl.tasks import NeedleStream

    questions = NeedleStream(tokenizer, 128, 2, 2, seed=0).take(2)
    first = questions[0].question  # right every time; the second only on its first sample
    policy = _recording_policy(tokenizer, lambda q, n: q == first or n == 0)
    budgets = Budgets(window=1024, query=64, chunk=128, memory=160, output=24)
    agent = MemAgent(policy, AgentConfig(budgets=budgets))
    sampling = SamplingParams(temperature=1.0, top_p=0.7, seed=5)
    result = evaluate(agent, questions, boxed_reward, sampling, samples_per_question=4)
    assert result["reward"] == pytest.approx((4 + 1) / 8)
    assert (result["n"], result["samples_per_question"]) == (2.0, 4.0)
    assert (result["temperature"], result["top_p"]) == (1.0, 0.7)
    assert set(policy.samplings) == {sampling}
    finals = [r for r in policy.requests if "<section>" not in r.messages[-1]["content"]]
    assert len(finals) == 8 and len({r.seed for r in finals}) == 8


def test_trainer_evaluates_with_the_configured_sampling(tokenizer, tmp_path: Path) -> None:
    """The trainer's held-out evaluation takes eval.* (here the preset's n = 4, T 1.0, top_p 0.7,
    seeded by the run's seed) and data.max_document_tokens cuts its documents too."""
    from memagent.chunking import count_tokens
    from memagent.loop.agent import MemAgent
    from memagent.rl.trainer import Trainer

    cfg = build_config({
        "preset": "paper-release", "model": str(tiny_model_dir(tokenizer, tmp_path / "tiny")),
        "output_dir": str(tmp_path / "run"), "seed": 3, "gradient_checkpointing": False,
        "rollout": {"group_size": 4, "questions_per_step": 2, "chunk": 64, "memory": 8,
                    "output": 8, "query": 64, "window": 512},
        "data": {"min_chunks": 3, "max_chunks": 3, "eval_questions": 2,
                 "max_document_tokens": 100},
    })  # fmt: skip
    trainer = Trainer(cfg)
    assert all(count_tokens([q.document], tokenizer) <= 100 for q in trainer.held_out)
    policy = _recording_policy(tokenizer, lambda q, n: True)
    trainer.agent = MemAgent(policy, trainer.agent.config)  # the trainer's budgets and prompts
    result = trainer._eval("eval")
    assert result is not None and result["samples_per_question"] == 4.0
    assert set(policy.samplings) == {SamplingParams(temperature=1.0, top_p=0.7, seed=3)}
    finals = [r for r in policy.requests if "<section>" not in r.messages[-1]["content"]]
    assert len(finals) == 2 * 4
    event = json.loads((tmp_path / "run" / "events.jsonl").read_text().splitlines()[-1])
    assert (event["event"], event["temperature"], event["top_p"]) == ("eval", 1.0, 0.7)
