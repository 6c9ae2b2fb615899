"""The TRL engine adapter: memagent episodes → TRL rollout samples, and the rollout worker.

TRL itself is optional; the packing test runs only where `trl.experimental.async_grpo` imports.
"""

from __future__ import annotations

import numpy as np
import pytest

from memagent.config import AgentConfig, Budgets
from memagent.loop.agent import MemAgent
from memagent.rl.config import build_config
from memagent.rl.engines.trl_async import MemAgentRolloutWorker, conversation_samples
from memagent.rl.episode import Conversation, Episode
from memagent.rl.rewards import boxed_reward
from memagent.rl.tasks import NeedleStream
from rl_helpers import ScriptedPolicy


def _episodes() -> list[Episode]:
    a = Episode("q", [Conversation([1, 2, 3], [7, 8], [-0.1, -0.2]),
                      Conversation([1, 2], [9], [-0.3], truncated=True)], 1.0)  # fmt: skip
    b = Episode("q", [Conversation([1, 2, 3, 4], [5, 6, 6], [-1.0, -2.0, -3.0])], 0.0)
    return [a, b]


def test_one_sample_per_conversation_aligned_with_input_ids() -> None:
    samples = conversation_samples(_episodes(), [0.5, -0.5], model_version=3, group_ids=lambda g: 7)
    assert len(samples) == 3
    s = samples[0]
    assert s.input_ids.tolist() == [1, 2, 3, 7, 8]
    assert s.completion_mask.tolist() == [0, 0, 0, 1, 1]
    assert s.old_log_probs.tolist() == pytest.approx([0, 0, 0, -0.1, -0.2])
    assert [x.advantage for x in samples] == [
        0.5,
        0.5,
        -0.5,
    ]  # the episode's A on each of its convs
    assert {x.group_id for x in samples} == {7} and {x.model_version for x in samples} == {3}
    masked = conversation_samples(_episodes(), [0.5, -0.5], 0, lambda g: 0, mask_truncated=True)
    assert masked[1].completion_mask.tolist() == [0, 0, 0]


def test_rollout_worker_queues_episode_advantages(tokenizer) -> None:
    cfg = build_config(
        {
            "preset": "dapo",
            "advantage": {"std_normalize": False},
            "rollout": {"group_size": 2, "questions_per_step": 2, "dynamic_sampling": True,
                        "max_refill_rounds": 1, "chunk": 128, "memory": 160, "output": 24},
        }
    )  # fmt: skip
    budgets = Budgets(window=1024, query=64, chunk=128, memory=160, output=24)
    policy = ScriptedPolicy(tokenizer, lambda q, n: n % 2 == 0)  # 1 right, 1 wrong per group
    agent = MemAgent(policy, AgentConfig(budgets=budgets))
    worker = MemAgentRolloutWorker(agent, NeedleStream(tokenizer, 128, 2, 2, 0), cfg, boxed_reward)
    worker.update_model_version(5)
    n = worker.produce_once()
    samples = [worker.rollout_buffer.get_nowait() for _ in range(n)]
    assert n == 2 * 2 * 3  # 2 groups x 2 episodes x (2 chunks + final)
    assert sorted({s.advantage for s in samples}) == [-0.5, 0.5]
    assert {s.group_id for s in samples} == {0, 1} and {s.model_version for s in samples} == {5}
    for s in samples:
        assert len(s.input_ids) == len(s.completion_mask) == len(s.old_log_probs)
        assert s.completion_mask.sum() > 0
    assert "memagent/reward_mean" in worker.metrics_queue.get_nowait()
    worker.check_health(stale_after_s=3600)


def test_samples_pack_into_trl_rows_with_their_advantages() -> None:
    packing = pytest.importorskip("trl.experimental.async_grpo.packing")
    samples = conversation_samples(_episodes(), [0.5, -0.5], 0, lambda g: 0)
    row = packing.TreeRow()
    for s in samples:
        row.add({"input_ids": s.input_ids, "completion_mask": s.completion_mask,
                 "old_log_probs": s.old_log_probs, "advantage": s.advantage,
                 "group_id": s.group_id})  # fmt: skip
    packed = row.pack()
    # trained targets: 2 + 1 + 3 completion tokens, old log-probs and advantages carried through
    assert packed["old_log_probs"].tolist() == pytest.approx([-0.1, -0.2, -0.3, -1, -2, -3])
    assert packed["advantages"].tolist() == [0.5, 0.5, 0.5, -0.5, -0.5, -0.5]
    assert np.unique(packed["input_ids"].numpy()).size <= 9  # the shared prompt prefix is reused
