"""TRL's AsyncGRPOTrainer end to end on memagent rollouts, on CPU with the tiny random model.

What runs for real on CPU: `build_trainer` constructs TRL 1.16's AsyncGRPOTrainer with memagent's
`MemAgentRolloutWorker`; the worker's `produce_once` runs memagent's Job loop (`collect`,
per-episode advantages, one sample per conversation) on a local transformers copy of the tiny
model and queues the samples; TRL's own RolloutQueueDataset, batcher and collator turn them into a
packed training batch. What does not run here: TRL's forward/loss/optimizer step, because
AsyncGRPOTrainer loads the model with attn_implementation="tree_fa3" (FlashAttention-3 through the
`kernels` package, a Hopper GPU), so `trainer.train()` runs only where CUDA and `kernels` exist; the
vLLM server (generation here is local, `make_agent`); TRL's NCCL weight sync (a no-op
`weight_transfer`); multi-process launch. TRL 1.16 also asks torch.cuda for a device name at init
(patched here). Skipped when trl is not installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("datasets")


class NoWeightSync:
    """TRL's WeightTransferProtocol, doing nothing (no vLLM server to push weights to)."""

    def __init__(self) -> None:
        self.syncs = 0

    def init_weight_transfer(self) -> None: ...
    def pause(self) -> None: ...
    def send_weights(self, iterator) -> None:
        self.syncs += 1
        for _ in iterator:
            pass
    def resume(self) -> None: ...
    def destroy(self) -> None: ...


def test_trl_async_grpo_trains_on_memagent_rollouts(tokenizer, tmp_path: Path, monkeypatch) -> None:
    import torch
    import trl.experimental.async_grpo.async_grpo_trainer as trl_trainer
    from transformers import AutoModelForCausalLM

    from memagent.agent import MemAgent
    from memagent.config import AgentConfig, Budgets
    from memagent.llm.transformers_backend import TransformersLLM
    from memagent.profile import PROFILES
    from memagent.rl.config import build_config
    from memagent.rl.engines.trl_async import build_trainer
    from memagent.rl.tasks import NeedleStream
    from rl_helpers import tiny_model_dir

    model_dir = tiny_model_dir(tokenizer, tmp_path / "tiny")
    budgets = {"chunk": 64, "memory": 8, "output": 8, "query": 64, "window": 512}
    cfg = build_config({
        "preset": "dapo", "model": str(model_dir), "output_dir": str(tmp_path / "run"),
        "steps": 2, "gradient_checkpointing": False,
        "rollout": {"group_size": 2, "questions_per_step": 2, "dynamic_sampling": False,
                    "max_refill_rounds": 0, **budgets},
        "optim": {"lr": 1e-2, "warmup_steps": 0},
    })  # fmt: skip

    def make_agent() -> MemAgent:
        llm = TransformersLLM.load(model_dir, device="cpu", dtype="float32")
        return MemAgent(llm, AgentConfig(budgets=Budgets(**budgets),
                                         templates=PROFILES["paper"].rollout_templates))

    # a reward with variance inside a group, so advantages (and gradients) are not all zero
    def reward(reply: str, answers) -> float:
        return float(len(reply) % 2)

    # TRL 1.16 asks torch.cuda for the device name to compute MFU even on CPU (fails without CUDA)
    monkeypatch.setattr(trl_trainer, "get_peak_flops_per_device", lambda *a, **k: None)
    sync = NoWeightSync()
    trainer = build_trainer(
        cfg, str(model_dir), "http://127.0.0.1:9/v1", NeedleStream(tokenizer, 64, 2, 2, seed=0),
        reward, make_agent=make_agent, weight_transfer=sync,
        token_budget=0, per_device_train_batch_size=4, use_cpu=True, bf16=False,
        report_to="none", logging_steps=1, save_strategy="no", max_staleness=100,
    )  # fmt: skip
    worker = trainer.rollout_worker
    queued = worker.produce_once()  # one step of memagent rollouts, as the worker thread runs it
    assert queued >= 2 * 2 * 3  # 2 questions x 2 rollouts x (>= 2 updates + final answer)
    batch = next(iter(trainer.get_train_dataloader()))  # TRL's queue dataset, batcher, collator
    assert {"input_ids", "shift_labels", "tree_kv_index"} <= set(batch), sorted(batch)
    assert int((batch["shift_labels"] != -100).sum()) > 0  # completion tokens to train on
    if not (torch.cuda.is_available() and importlib.util.find_spec("kernels")):
        # AsyncGRPOTrainer's forward uses attn_implementation="tree_fa3" (FlashAttention-3 kernels,
        # a Hopper GPU); nothing past this point can run on a CPU.
        return
    before = AutoModelForCausalLM.from_pretrained(model_dir).state_dict()
    worker.start = lambda: None  # the samples queued above are the ones trained on
    trainer.train()
    assert trainer.state.global_step == 2
    after = trainer.accelerator.unwrap_model(trainer.model).state_dict()
    moved = [k for k in before if k in after and not torch.equal(before[k], after[k].cpu())]
    assert moved, "no weight changed after two TRL optimizer steps"
    assert sync.syncs >= 1
