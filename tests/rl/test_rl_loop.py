"""RL loop control flow: rollouts to episodes, dynamic sampling with refill, trainer + resume.

Scripted policy and a tiny random model (real tokenizer): fast, CPU, and never evidence of learning.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memagent.config import AgentConfig, Budgets
from memagent.loop.agent import MemAgent
from memagent.rl.config import RolloutConfig, build_config
from memagent.rl.rewards import boxed_reward, contains_reward
from memagent.rl.rollout import collect, evaluate, rollout
from memagent.rl.tasks import NeedleStream, Question
from memagent.types import SamplingParams
from rl_helpers import ScriptedPolicy

BUDGETS = Budgets(
    window=1024, query=64, chunk=128, memory=160, output=24
)  # scripted memory keeps whole lines


class ListSource:
    """A QuestionSource over a fixed list (ids q0, q1, ...)."""

    def __init__(self, questions: list[Question]) -> None:
        self.questions = questions
        self.position = 0

    def take(self, n: int) -> list[Question]:
        out = self.questions[self.position : self.position + n]
        self.position += n
        return out

    def held_out(self, n: int) -> list[Question]:
        return self.questions[:n]


def _needles(tokenizer, n: int, seed: int = 0) -> list[Question]:
    stream = NeedleStream(tokenizer, BUDGETS.chunk or 128, 2, 3, seed)
    return stream.take(n)


def test_rewards_boxed_and_contains() -> None:
    assert boxed_reward("so \\boxed{1234567}.", ["1234567"]) == 1.0
    assert boxed_reward("the number is 1234567", ["1234567"]) == 0.0  # not boxed
    assert contains_reward("the number is 1234567", ["1234567"]) == 1.0
    assert contains_reward("the number is 7654321", ["1234567"]) == 0.0


def test_needle_stream_is_deterministic_and_sized_in_chunks(tokenizer) -> None:
    a, b = _needles(tokenizer, 3), _needles(tokenizer, 3)
    assert [q.document for q in a] == [q.document for q in b]
    agent = MemAgent(ScriptedPolicy(tokenizer, lambda q, n: True), AgentConfig(budgets=BUDGETS))
    for q in a:
        chunks = list(agent.job(q.document, q.question).chunks)
        assert len(chunks) == q.meta["chunks"]
        assert q.answers[0] in q.document


def test_rollout_builds_one_episode_per_sample_with_every_conversation(tokenizer) -> None:
    policy = ScriptedPolicy(tokenizer, lambda q, n: n % 2 == 0)  # every other answer right
    agent = MemAgent(policy, AgentConfig(budgets=BUDGETS))
    questions = _needles(tokenizer, 2)
    episodes = rollout(agent, questions, 4, SamplingParams(temperature=1.0), boxed_reward)
    assert [e.group_id for e in episodes] == [questions[0].id] * 4 + [questions[1].id] * 4
    for e, q in zip(episodes, [questions[0]] * 4 + [questions[1]] * 4, strict=True):
        assert len(e.conversations) == q.meta["chunks"] + 1  # one per chunk + the final answer
        for c in e.conversations:
            assert len(c.old_logprobs) == len(c.completion_ids) > 0
            assert c.prompt_ids[:3] == tokenizer.chat_ids([{"role": "user", "content": "x"}])[:3]
    assert [e.reward for e in episodes] == [1.0, 0.0, 1.0, 0.0] * 2


def test_dynamic_sampling_refills_from_new_questions(tokenizer) -> None:
    questions = _needles(tokenizer, 6)
    mixed = {questions[1].question, questions[3].question, questions[4].question}
    policy = ScriptedPolicy(tokenizer, lambda q, n: q in mixed and n % 2 == 0)
    agent = MemAgent(policy, AgentConfig(budgets=BUDGETS))
    cfg = RolloutConfig(group_size=2, questions_per_step=2, dynamic_sampling=True,
                        max_refill_rounds=2, chunk=128, memory=160, output=24)  # fmt: skip
    kept, stats = collect(agent, ListSource(questions), cfg, boxed_reward)
    # round 1: q0 (all wrong, dropped), q1 (kept); round 2 refills 1: q2 (dropped);
    # round 3 refills 1: q3 (kept) → 2 groups, 3 rounds, 2 of 4 groups dropped
    assert [e.group_id for e in kept] == [questions[1].id] * 2 + [questions[3].id] * 2
    assert stats.rounds == 3 and (stats.groups, stats.dropped) == (4, 2)
    assert stats.metrics()["kept_group_fraction"] == pytest.approx(0.5)


def test_without_dynamic_sampling_every_group_is_kept(tokenizer) -> None:
    policy = ScriptedPolicy(tokenizer, lambda q, n: False)
    agent = MemAgent(policy, AgentConfig(budgets=BUDGETS))
    cfg = RolloutConfig(group_size=2, questions_per_step=2, chunk=128, memory=160, output=24)
    kept, stats = collect(agent, ListSource(_needles(tokenizer, 2)), cfg, boxed_reward)
    assert len(kept) == 4 and stats.metrics()["zero_variance_fraction"] == 1.0


def test_evaluate_scores_one_greedy_rollout_per_question(tokenizer) -> None:
    policy = ScriptedPolicy(tokenizer, lambda q, n: True)
    agent = MemAgent(policy, AgentConfig(budgets=BUDGETS))
    result = evaluate(agent, _needles(tokenizer, 3), boxed_reward)
    assert result["reward"] == 1.0 and result["n"] == 3.0 and result["boxed"] == 1.0


def _tiny_config(model_dir: Path, out: Path, steps: int) -> dict:
    return {
        "preset": "dapo",
        "model": str(model_dir),
        "output_dir": str(out),
        "steps": steps,
        "save_every": 1,
        "reward": "contains",
        "gradient_checkpointing": False,
        "rollout": {
            "group_size": 2,
            "questions_per_step": 1,
            "dynamic_sampling": False,
            "max_refill_rounds": 0,
            "chunk": 64,
            "memory": 8,
            "output": 8,
            "query": 64,
            "window": 512,
        },
        "optim": {"lr": 1e-3, "warmup_steps": 0, "micro_batch_size": 2},
        "data": {"min_chunks": 2, "max_chunks": 2, "eval_questions": 2},
    }


def test_trainer_runs_checkpoints_and_resumes(tiny_llama_dir: Path, tokenizer, tmp_path: Path) -> None:
    from memagent.llm.transformers_backend import TransformersLLM
    from memagent.rl.trainer import Trainer

    model_dir = tiny_llama_dir
    out = tmp_path / "run"
    first = Trainer(build_config(_tiny_config(model_dir, out, steps=1))).run(progress=False)
    assert first["steps"] == 1 and (out / "checkpoints" / "step-000001" / "state.json").is_file()
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1]
    for key in ("reward_mean", "reward_std", "kept_group_fraction", "memory_tokens_mean",
                "rollout_tokens_per_s"):  # fmt: skip
        assert key in rows[0]
    # "kill" after step 1, rerun with more steps: resumes at step 1, not from scratch
    second = Trainer(build_config(_tiny_config(model_dir, out, steps=2)))
    assert second.resume_from is not None and second.state["step"] == 1
    summary = second.run(progress=False)
    assert summary["steps"] == 2 and summary["eval_before"] == first["eval_before"]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert (out / "reward.png").stat().st_size > 0
    # the final model is a plain HF directory the backend (and `memagent ask --model`) loads
    llm = TransformersLLM.load(out / "final", device="cpu")
    assert llm.model.config.num_hidden_layers == 2


def test_paper_release_learner_uses_a_frozen_reference_for_kl() -> None:
    import copy

    import torch
    from accelerate import Accelerator

    from memagent.rl.learner import Learner
    from rl_ddp_worker import episodes, tiny_llama

    torch.manual_seed(0)
    policy = tiny_llama()
    ref = copy.deepcopy(policy)
    cfg = build_config(  # one optimizer step per train(): the first sees policy == reference
        {"preset": "paper-release", "optim": {"lr": 1e-2, "warmup_steps": 0, "mini_batches": 1}}
    )
    learner = Learner(policy, cfg, Accelerator(cpu=True), pad_id=0, ref_model=ref)
    first = learner.train(episodes())
    second = learner.train(episodes())
    assert first["kl_ref"] == pytest.approx(0.0, abs=1e-9)  # policy == reference before any step
    assert second["kl_ref"] > 0  # it moved; the reference did not
    assert all(not p.requires_grad for p in ref.parameters())
    assert "dual_clip_fraction" in second and "clip_fraction" in second


def test_rl_runs_on_the_episode_mix_from_an_sft_adapter_with_the_profile(tiny_llama_dir: Path, tokenizer, tmp_path: Path, monkeypatch) -> None:
    """RL on top of SFT: the adapter is merged into the start model, rollouts use the embedded
    profile's prompts, questions come from the train split and the held-out set from the other."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from memagent.rl.trainer import Trainer

    monkeypatch.setenv("MEMAGENT_CACHE", str(tmp_path / "cache"))
    model_dir = tiny_llama_dir
    adapter = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(str(model_dir)),
                   LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(str(adapter))
    cfg = _tiny_config(model_dir, tmp_path / "run", steps=1)
    cfg.update(profile="smollm2-memagent", adapter=str(adapter), reward="boxed",
               data={"task": "episodes", "min_chunks": 1, "max_chunks": 2, "eval_questions": 2})
    cfg["rollout"].update(chunk=64, memory=8, output=8, query=128, window=1024)
    trainer = Trainer(build_config(cfg))
    assert "No relevant information yet." in trainer.agent.config.templates.empty_memory
    assert all(q.id.startswith("heldout-") for q in trainer.held_out)
    summary = trainer.run(progress=False)
    assert summary["steps"] == 1


def test_rl_can_train_the_adapter_itself_and_resume(tiny_llama_dir: Path, tokenizer, tmp_path: Path, monkeypatch) -> None:
    """train_adapter: RL updates the LoRA only (base weights untouched), checkpoints hold the
    adapter, a rerun resumes from it, and final/ is a float16 adapter with its recipe."""
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from memagent.rl.trainer import Trainer

    monkeypatch.setenv("MEMAGENT_CACHE", str(tmp_path / "cache"))
    model_dir = tiny_llama_dir
    adapter = tmp_path / "adapter"
    torch.manual_seed(0)
    get_peft_model(AutoModelForCausalLM.from_pretrained(str(model_dir)),
                   LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
                   ).save_pretrained(str(adapter))  # fmt: skip
    out = tmp_path / "run"
    cfg = _tiny_config(model_dir, out, steps=1)
    cfg.update(adapter=str(adapter), train_adapter=True)
    Trainer(build_config(cfg)).run(progress=False)
    step1 = out / "checkpoints" / "step-000001"
    assert (step1 / "adapter_model.safetensors").is_file() and not (step1 / "model.safetensors").exists()
    cfg["steps"] = 2
    second = Trainer(build_config(cfg))
    assert second.resume_from == step1 and second.state["step"] == 1
    second.run(progress=False)
    start = load_file(str(adapter / "adapter_model.safetensors"))
    final = load_file(str(out / "final" / "adapter_model.safetensors"))
    assert final.keys() == start.keys()
    assert all(t.dtype == torch.float16 for t in final.values())
    assert any(not torch.allclose(start[k], final[k].float(), atol=1e-4) for k in start)
    assert json.loads((out / "final" / "recipe.json").read_text())["config"]["train_adapter"]
    with pytest.raises(ValueError, match="train_adapter"):
        build_config({**_tiny_config(model_dir, out, 1), "train_adapter": True})


def test_rollouts_sample_from_a_merged_copy_of_the_lora_policy(tiny_llama_dir: Path) -> None:
    """rollout.merge_adapter: the copy gives the wrapped policy's log-probs (the loss's old
    log-probs stay the policy's), holds no adapter layers, and leaves the policy trainable."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from memagent.rl.trainer import sampling_copy

    torch.manual_seed(0)
    policy = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)),
                            LoraConfig(r=2, target_modules=["q_proj", "v_proj"],
                                       init_lora_weights=False))
    merged = sampling_copy(policy, merge=True)
    ids = torch.randint(0, 1000, (2, 12))
    with torch.no_grad():
        want = torch.log_softmax(policy(input_ids=ids).logits, -1)
        got = torch.log_softmax(merged(input_ids=ids).logits, -1)
    assert torch.allclose(got, want, atol=1e-5)
    assert not any("lora" in name for name, _ in merged.named_modules())
    assert any(p.requires_grad for p in policy.parameters())  # the policy still trains
    assert not any(p.requires_grad for p in merged.parameters())


def test_bfloat16_rollouts_get_the_policys_own_old_logprobs_before_any_update() -> None:
    """rollout.dtype bfloat16: the sampler's log-probs are replaced by the float32 policy's, so
    the first mini-batch's ratio is exactly 1 (no KL to the old policy, nothing clipped); with
    dtype "policy" the episodes' own log-probs are used as they are."""
    import torch
    from accelerate import Accelerator

    from memagent.rl.learner import Learner
    from rl_ddp_worker import episodes, tiny_llama

    def learner(dtype: str) -> Learner:
        torch.manual_seed(0)
        cfg = build_config({"rollout": {"dtype": dtype},
                            "optim": {"lr": 1e-2, "warmup_steps": 0, "mini_batches": 1}})
        return Learner(tiny_llama(), cfg, Accelerator(cpu=True), pad_id=0)

    recomputed = learner("bfloat16").train(episodes())
    as_sampled = learner("policy").train(episodes())
    assert recomputed["approx_kl_old"] == pytest.approx(0.0, abs=1e-7)
    assert recomputed["clip_fraction"] == 0.0
    assert recomputed["rollout_logprob_gap_max"] > 0.1  # the episodes' log-probs are made up
    assert as_sampled["approx_kl_old"] > 0.01 and "rollout_logprob_gap_max" not in as_sampled


def test_bfloat16_sampling_copy_leaves_the_float32_policy_training(tiny_llama_dir: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from memagent.rl.trainer import sampling_copy

    policy = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)),
                            LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    for copy in (sampling_copy(policy, "bfloat16", merge=True), sampling_copy(policy, "bfloat16")):
        assert {p.dtype for p in copy.parameters()} == {torch.bfloat16}
        assert not any(p.requires_grad for p in copy.parameters())
    assert {p.dtype for p in policy.parameters()} == {torch.float32}
    assert any(p.requires_grad for p in policy.parameters())


def test_autocast_learner_recomputes_old_logprobs_under_autocast_too() -> None:
    """optim.autocast_bf16 with bfloat16 rollouts: the first ratio is still exactly 1."""
    import torch
    from accelerate import Accelerator

    from memagent.rl.learner import Learner
    from rl_ddp_worker import episodes, tiny_llama

    torch.manual_seed(0)
    cfg = build_config({"rollout": {"dtype": "bfloat16"}, "optim": {
        "lr": 1e-2, "warmup_steps": 0, "mini_batches": 1, "autocast_bf16": True}})
    out = Learner(tiny_llama(), cfg, Accelerator(cpu=True), pad_id=0).train(episodes())
    assert out["approx_kl_old"] == pytest.approx(0.0, abs=1e-7) and out["clip_fraction"] == 0.0
    assert out["grad_norm"] > 0


def test_trainer_samples_from_a_bfloat16_copy_and_trains_the_float32_policy(tiny_llama_dir: Path, tmp_path: Path) -> None:
    import torch

    from memagent.rl.trainer import Trainer

    cfg = _tiny_config(tiny_llama_dir, tmp_path / "run", steps=1)
    cfg["rollout"]["dtype"] = "bfloat16"
    trainer = Trainer(build_config(cfg))
    row = trainer.step()
    assert trainer.llm.model is not trainer.learner.policy
    assert {p.dtype for p in trainer.llm.model.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in trainer.learner.policy.parameters()} == {torch.float32}
    assert row["rollout_tokens_per_s"] > 0


def test_recomputed_old_logprobs_equal_a_plain_forward_of_each_row() -> None:
    """rollout.dtype with several mini-batches: the later ones' old log-probs are recomputed
    before any update; each equals an unpadded teacher-forced forward of its own row."""
    import torch
    from accelerate import Accelerator

    from memagent.rl.batch import build_rows
    from memagent.rl.learner import Learner
    from rl_ddp_worker import episodes, tiny_llama

    torch.manual_seed(0)
    cfg = build_config({"rollout": {"dtype": "bfloat16"},
                        "optim": {"lr": 1e-2, "warmup_steps": 0, "mini_batches": 2}})
    policy = tiny_llama()
    learner = Learner(policy, cfg, Accelerator(cpu=True), pad_id=0)
    eps = episodes()
    rows = build_rows(eps, [1.0] * len(eps))
    (fresh,), gap = learner._recompute_old_logprobs([rows])
    assert gap > 0.1
    with torch.no_grad():
        for row, new in zip(rows, fresh, strict=True):
            ids = torch.tensor([row.prompt_ids + row.completion_ids])
            logp = torch.log_softmax(policy(input_ids=ids).logits[0].float(), -1)
            n, p = len(row.completion_ids), len(row.prompt_ids)
            want = [logp[p - 1 + j, t].item() for j, t in enumerate(row.completion_ids)]
            assert new.old_logprobs == pytest.approx(want, abs=1e-4) and len(want) == n
    out = learner.train(eps)
    assert out["rollout_logprob_gap_max"] > 0.1 and out["optimizer_steps"] == 2
