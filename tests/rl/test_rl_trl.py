"""TRL's AsyncGRPOTrainer end to end on memagent rollouts, on CPU with the tiny random model.

What runs for real on CPU: `build_trainer` constructs TRL 1.16's AsyncGRPOTrainer with memagent's
`MemAgentRolloutWorker`; the worker's `produce_once` runs memagent's Job loop (`collect`,
per-episode advantages, one sample per conversation) on a local transformers copy of the tiny
model and queues the samples; TRL's own RolloutQueueDataset, batcher and collator turn them into a
packed training batch; then `trainer.train()` runs two TRL optimizer steps on those samples: TRL's
packed forward through its fused LM head, TRL's clipped policy loss, backward, gradient clipping,
`optimizer.step()`, and TRL's weight-sync calls (into a no-op `weight_transfer`).

Attention. AsyncGRPOTrainer hard-codes `attn_implementation="tree_fa3"` (no config option): a
prefix-trie ("tree") packing whose attention calls FlashAttention-3 through the `kernels` package,
GPU only. On CPU the test registers, under TRL's own name and through transformers' public
`AttentionInterface.register`, `sdpa_tree_attention` below: the same contract (each packed segment
attends, causally, to the K/V of its root-to-segment path `tree_kv_index`) computed with
`torch.nn.functional.scaled_dot_product_attention`, one segment at a time. It is exact, not an
approximation: no token attends across samples or sibling branches, which plain sdpa/eager over the
packed row would do (one causal mask over the DFS-ordered trie lets each branch see the branches
laid out before it). `test_sdpa_tree_attention_is_exact` checks that: a packed forward of samples
sharing a prefix matches per-sample unpacked forwards. With CUDA and `kernels`, TRL's FA3 kernel is
left in place.

What still does not run here: TRL's FA3 kernel itself; the vLLM server (generation here is local,
`make_agent`); TRL's NCCL weight sync (a no-op `weight_transfer`); the rollout worker's background
thread (`start` is stubbed: the trainer trains on samples queued by explicit `produce_once` calls);
multi-process launch (FSDP). TRL 1.16 also asks torch.cuda for a device name at init (patched
here). Skipped when trl is not installed.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

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


def sdpa_tree_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, *,
    tree_kv_index: Any, tree_cu_seqlens_q: Any, tree_cu_seqlens_k: Any,
    scaling: float | None = None, sliding_window: int | None = None, softcap: float | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:  # fmt: skip
    """TRL's `packing.tree_attention` contract on CPU: segment s of the packed row (queries
    cu_q[s]:cu_q[s+1]) attends to keys/values at `tree_kv_index[cu_k[s]:cu_k[s+1]]` (its
    root-to-segment path, ending with the segment itself), causal aligned bottom-right as
    FlashAttention's varlen kernel does when there are fewer queries than keys."""
    import torch
    import torch.nn.functional as F

    assert not sliding_window and not softcap, "the tiny Llama has neither"
    q, k, v = query[0], key[0], value[0]  # [heads, N, dim] (batch 1: one packed row)
    k, v = k.index_select(1, tree_kv_index), v.index_select(1, tree_kv_index)
    cu_q, cu_k = tree_cu_seqlens_q.tolist(), tree_cu_seqlens_k.tolist()
    outs = []
    for s in range(len(cu_q) - 1):
        n_q, n_k = cu_q[s + 1] - cu_q[s], cu_k[s + 1] - cu_k[s]
        mask = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril(n_k - n_q)
        outs.append(F.scaled_dot_product_attention(
            q[:, cu_q[s]:cu_q[s + 1]], k[:, cu_k[s]:cu_k[s + 1]], v[:, cu_k[s]:cu_k[s + 1]],
            attn_mask=mask, scale=scaling, enable_gqa=True,
        ))  # fmt: skip
    return torch.cat(outs, dim=1).transpose(0, 1).unsqueeze(0), None  # [1, N, heads, dim]


@pytest.fixture
def cpu_tree_attention():
    """Route TRL's "tree_fa3" attention to `sdpa_tree_attention` when FA3 cannot run; call it after
    the trainer is built (AsyncGRPOTrainer.__init__ registers TRL's FA3 function under that name)."""
    import torch
    from transformers import AttentionInterface
    from trl.experimental.async_grpo import packing

    def use() -> bool:
        if torch.cuda.is_available() and importlib.util.find_spec("kernels"):
            return False
        AttentionInterface.register(packing.TREE_ATTENTION, sdpa_tree_attention)
        return True

    yield use
    AttentionInterface.register(packing.TREE_ATTENTION, packing.tree_attention)


def test_sdpa_tree_attention_is_exact(tiny_llama_dir: Path, cpu_tree_attention) -> None:
    """A packed tree forward (two samples sharing a prompt, a third apart) gives each token the
    same logits as that sample's own unpacked forward: no attention across samples or branches."""
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM
    from trl.experimental.async_grpo import packing

    packing.register_tree_attention()
    cpu_tree_attention()  # always the sdpa version here: this checks it
    samples = [[5, 6, 7, 8, 9, 10], [5, 6, 7, 8, 11, 12, 13], [20, 21, 22]]
    row = packing.TreeRow()
    for group, ids in enumerate(samples):
        n = len(ids)
        mask, logps = np.ones(n, dtype=int), np.zeros(n)
        row.add(dict(input_ids=np.asarray(ids), completion_mask=mask, old_log_probs=logps,
                     advantage=0.0, group_id=group))  # fmt: skip
    packed = row.pack()
    assert len(packed["input_ids"]) == sum(map(len, samples)) - 3  # the shared prefix, once
    assert len(packed["tree_cu_seqlens_q"]) - 1 == 4  # shared stem, two branches, the lone sample
    tree = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, attn_implementation="tree_fa3")
    plain = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, attn_implementation="sdpa")
    with torch.no_grad():
        logits = tree(
            input_ids=packed["input_ids"][None], position_ids=packed["position_ids"][None],
            tree_kv_index=packed["tree_kv_index"], tree_cu_seqlens_q=packed["tree_cu_seqlens_q"],
            tree_cu_seqlens_k=packed["tree_cu_seqlens_k"],
            tree_max_seqlen_q=int(packed["tree_max_seqlens"][0]),
            tree_max_seqlen_k=int(packed["tree_max_seqlens"][1]),
        ).logits[0]  # fmt: skip
        where = {node: i for i, node in enumerate(_packed_positions(row))}
        for ids, nodes in zip(samples, row.sample_nodes, strict=True):
            expected = plain(input_ids=torch.tensor([ids])).logits[0]
            got = logits[[where[n] for n in nodes]]
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    # plain causal sdpa over the same packed row is not exact (the second branch sees the first
    # branch's tokens), which is why the tree contract is kept
    with torch.no_grad():
        naive = plain(input_ids=packed["input_ids"][None],
                      position_ids=packed["position_ids"][None]).logits[0]  # fmt: skip
    assert not torch.allclose(naive, logits, atol=1e-3)


def _packed_positions(row: Any) -> list[int]:
    """Trie node -> packed position, in TreeRow.pack's DFS pre-order layout (nodes by position)."""
    order: list[int] = []
    stack = list(reversed(row.roots.values()))
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(reversed(row.children[node].values()))
    return order


def test_trl_async_grpo_trains_on_memagent_rollouts(
    tokenizer, tmp_path: Path, monkeypatch, cpu_tree_attention
) -> None:
    import torch
    import trl.experimental.async_grpo.async_grpo_trainer as trl_trainer
    from transformers import AutoModelForCausalLM

    from memagent.config import AgentConfig, Budgets
    from memagent.llm.transformers_backend import TransformersLLM
    from memagent.loop.agent import MemAgent
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
    cpu_tree_attention()  # after build_trainer: TRL's __init__ registers its FA3 function

    before = AutoModelForCausalLM.from_pretrained(model_dir).state_dict()
    worker.produce_once()  # more samples: the batch above (and the loader's look-ahead) took some
    worker.start = lambda: None  # train on the queued samples, no background rollout thread
    queued_before = worker.rollout_buffer.qsize()
    trainer.train()
    assert trainer.state.global_step == 2
    consumed = queued_before - worker.rollout_buffer.qsize()
    assert consumed >= 2 * 4, consumed  # 2 optimizer steps x per_device_train_batch_size samples
    logs = [h for h in trainer.state.log_history if "loss" in h]  # one per step (logging_steps=1)
    assert len(logs) == 2 and all(math.isfinite(h["loss"]) for h in logs), logs
    # a real gradient from TRL's loss in some step (a batch whose advantages are all 0 gives none;
    # weight decay alone would move the weights, so `moved` below is not enough)
    assert any(h["grad_norm"] > 0 for h in logs), logs
    after = trainer.accelerator.unwrap_model(trainer.model).state_dict()
    moved = [k for k in before if k in after and not torch.equal(before[k], after[k].cpu())]
    assert moved, "no weight changed after two TRL optimizer steps"
    assert sync.syncs >= 1
