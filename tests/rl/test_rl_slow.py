"""RL on the real embedded model (SmolLM2-135M, float32, CPU): one step lowers the loss."""

from __future__ import annotations

import pytest
import torch

from memagent.prompts import PromptTemplates
from memagent.rl.advantages import episode_advantages
from memagent.rl.batch import build_rows, collate
from memagent.rl.config import build_config
from memagent.rl.episode import Conversation, Episode
from memagent.rl.learner import Learner
from memagent.rl.losses import PolicyLoss

pytestmark = pytest.mark.slow


def _batch_loss(learner: Learner, episodes: list[Episode]) -> tuple[float, list[torch.Tensor]]:
    """The policy loss of the whole batch under the current weights (and each row's log-probs)."""
    advs = episode_advantages(episodes)
    rows = build_rows(episodes, advs)
    mb = collate(rows, learner.pad_id)
    with torch.no_grad():
        logp, _ = learner._forward(learner.model, mb, entropy=False)
        loss, _ = PolicyLoss(learner.cfg.loss)(logp, mb.old_logprobs, mb.advantages, mb.weights)
    return float(loss), [logp[i, -len(r.completion_ids) :] for i, r in enumerate(rows)]


def test_one_optimizer_step_lowers_the_loss_on_its_own_batch(embedded_model_dir, tokenizer):
    from accelerate import Accelerator

    from memagent.llm.transformers_backend import TransformersLLM

    llm = TransformersLLM.load(embedded_model_dir, device="cpu", dtype="float32")
    cfg = build_config({"preset": "dapo", "optim": {"lr": 1e-5, "warmup_steps": 0}})
    learner = Learner(llm.model, cfg, Accelerator(cpu=True), llm.pad_id)
    t = PromptTemplates()
    q = "What is the special magic number for quiet-harbor?"
    chunk = "The sky is blue. One of the special magic numbers for quiet-harbor is: 4821937."
    prompts = [
        tokenizer.chat_ids(t.memory_update_messages(q, "", chunk)),
        tokenizer.chat_ids(t.final_answer_messages(q, "quiet-harbor: 4821937")),
    ]
    good = ["quiet-harbor: 4821937", "The answer is \\boxed{4821937}."]
    bad = ["The sky is blue.", "I do not know."]
    episodes = [
        Episode("q", [Conversation(p, tokenizer.encode(c), [0.0] * len(tokenizer.encode(c)))
                      for p, c in zip(prompts, texts, strict=True)], reward)
        for texts, reward in ((good, 1.0), (bad, 0.0))
    ]  # fmt: skip
    # old log-probs = the current policy's, so the first ratio is exactly 1 (on-policy)
    _, logps = _batch_loss(learner, episodes)
    convs = [c for e in episodes for c in e.conversations]
    for conv, lp in zip(convs, logps, strict=True):
        conv.old_logprobs = lp.tolist()
    before, _ = _batch_loss(learner, episodes)
    metrics = learner.train(episodes)
    after, _ = _batch_loss(learner, episodes)
    assert metrics["optimizer_steps"] == 1.0 and metrics["grad_norm"] > 0
    assert after < before, (before, after)
