"""The built-in RL loop: sample rollouts with the policy itself, train, log, checkpoint, resume.

Per step: every rank samples its share of groups through the agent (the policy model doubles as
the local transformers backend, so rollouts always use the current weights), the episodes of all
ranks are gathered, and the Learner takes `optim.mini_batches` optimizer steps on them. Metrics go
to `output_dir/metrics.jsonl` (one line per step) and `reward.png`; checkpoints are HF model
directories (checkpoint.py). Rerunning the same command after a kill resumes from the newest one.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from memagent.config import AgentConfig
from memagent.loop.agent import MemAgent
from memagent.outputs import write_text
from memagent.rl import checkpoint
from memagent.rl.config import TrainConfig
from memagent.rl.episode import Episode
from memagent.rl.learner import Learner
from memagent.rl.rewards import reward_fn
from memagent.rl.rollout import RolloutStats, collect, evaluate
from memagent.rl.tasks import (
    CenterTruncated,
    EpisodeStream,
    NeedleStream,
    QuestionSource,
    SampleFileStream,
)
from memagent.types import SamplingParams

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"


def make_accelerator(cfg: TrainConfig) -> Any:
    from accelerate import Accelerator

    cuda = torch.cuda.is_available()
    if cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and cuda and torch.cuda.is_bf16_supported()):
        precision = "bf16"
    else:
        precision = "no"
    return Accelerator(mixed_precision=precision, cpu=not cuda)


def episode_metrics(episodes: list[Episode]) -> dict[str, float]:
    """Response lengths: memory updates and final answers, and how many hit their limit."""
    memory = [len(c.completion_ids) for e in episodes for c in e.conversations[:-1]]
    final = [len(e.conversations[-1].completion_ids) for e in episodes]
    convs = [c for e in episodes for c in e.conversations]
    return {
        "episodes": float(len(episodes)),
        "conversations_per_episode": len(convs) / len(episodes) if episodes else 0.0,
        "memory_tokens_mean": statistics.fmean(memory) if memory else 0.0,
        "final_tokens_mean": statistics.fmean(final) if final else 0.0,
        "truncated_fraction": statistics.fmean(c.truncated for c in convs) if convs else 0.0,
        "final_truncated_fraction": (
            statistics.fmean(e.conversations[-1].truncated for e in episodes) if episodes else 0.0
        ),
    }


def _merge_stats(parts: list[RolloutStats]) -> RolloutStats:
    out = RolloutStats()
    for p in parts:
        out.rewards += p.rewards
        out.memory_in_gold += p.memory_in_gold
        out.groups += p.groups
        out.dropped += p.dropped
        out.rounds = max(out.rounds, p.rounds)
        out.seconds = max(out.seconds, p.seconds)
        out.completion_tokens += p.completion_tokens
    return out


def plot_rewards(metrics_path: Path, out_png: Path, summary: dict[str, Any] | None = None) -> None:
    """Reward mean ± std per step, and the held-out reward before/after if known."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(x) for x in Path(metrics_path).read_text().splitlines() if x.strip()]
    if not rows:
        return
    steps = [r["step"] for r in rows]
    mean = [r["reward_mean"] for r in rows]
    std = [r["reward_std"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, mean, marker="o", label="training reward (sampled, T=1)")
    ax.fill_between(steps, [m - s for m, s in zip(mean, std, strict=True)],
                    [m + s for m, s in zip(mean, std, strict=True)], alpha=0.2)  # fmt: skip
    for key, style in (("eval_before", "r--"), ("eval_after", "g--")):
        if summary and summary.get(key):
            ax.axhline(
                summary[key]["reward"],
                color=style[0],
                ls="--",
                label=f"held-out {key[5:]} ({_sampling_label(summary[key])})",
            )
    ax.set_xlabel("step")
    ax.set_ylabel("reward")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    from memagent.outputs import atomic_output

    try:
        with atomic_output(out_png, "reward plot", binary=True) as f:
            fig.savefig(f, format="png", dpi=120)
    finally:
        plt.close(fig)


def _sampling_label(result: dict[str, Any]) -> str:
    """'greedy' or 'T=1, top_p=0.7, mean of 4' (results from before these keys were logged:
    greedy, one sample)."""
    temperature = result.get("temperature", 0.0)
    if not temperature:
        return "greedy"
    n = int(result.get("samples_per_question", 1))
    return f"T={temperature:g}, top_p={result.get('top_p', 1.0):g}, mean of {n}"


def make_source(cfg: TrainConfig, tokenizer: Any, chunk: int, rank: int = 0) -> QuestionSource:
    """The configured question source, its documents centre-truncated if data.max_document_tokens
    says so; ranks draw different needle streams."""
    d = cfg.data
    src: QuestionSource
    if d.task == "file":
        assert d.train_file is not None and d.eval_file is not None  # checked by DataConfig
        src = SampleFileStream(d.train_file, d.eval_file)
        src.position = rank * 1_000_000  # disjoint offsets per rank (cycling through the file)
    elif d.task == "episodes":
        src = EpisodeStream(tokenizer, chunk, d.min_chunks, d.max_chunks,
                            seed=d.seed + 7_777 * rank, tasks=d.tasks, haystacks=d.haystacks)
    else:
        src = NeedleStream(tokenizer, chunk, d.min_chunks, d.max_chunks, seed=d.seed + 7_777 * rank)
    if d.max_document_tokens is None:
        return src
    return CenterTruncated(src, tokenizer, d.max_document_tokens)


class Trainer:
    """Owns the accelerator, the policy/backend, the learner, the question stream and the files."""

    def __init__(self, cfg: TrainConfig) -> None:
        from memagent.llm import decoding_lookup
        from memagent.llm.registry import resolve_model
        from memagent.llm.transformers_backend import TransformersLLM

        self.cfg = cfg
        self.acc = make_accelerator(cfg)
        self.out = Path(cfg.output_dir)
        self.resume_from = checkpoint.latest(self.out)
        base = resolve_model(cfg.model, cfg.adapter, base=True)  # never the shipped default
        torch.manual_seed(cfg.seed)
        if cfg.train_adapter:  # the untouched base weights plus the trainable start adapter
            weights = resolve_model(cfg.model, base=True)
            self.llm = TransformersLLM.load(
                weights, device=str(self.acc.device), dtype="float32",
                max_batch=cfg.rollout.max_batch, lookup=decoding_lookup(cfg.rollout.decoding),
            )  # fmt: skip
            self.llm.set_model(_trainable_adapter(self.llm.model, self.resume_from or cfg.adapter))
        else:
            self.llm = TransformersLLM.load(  # CPU decoding is weight-bandwidth bound: batch wide
                self.resume_from or base, device=str(self.acc.device), dtype="float32",
                max_batch=cfg.rollout.max_batch, lookup=decoding_lookup(cfg.rollout.decoding),
            )  # fmt: skip
        if cfg.gradient_checkpointing:
            self.llm.model.gradient_checkpointing_enable()
        ref = None
        if cfg.loss.kl_coef > 0:  # the reference is always the starting model, even on resume
            ref = TransformersLLM.load(base, device=str(self.acc.device), dtype="float32").model
        self.learner = Learner(self.llm.model, cfg, self.acc, self.llm.pad_id, ref)
        from memagent.profile import PROFILES

        templates = PROFILES[cfg.profile].rollout_templates
        self.agent = MemAgent(
            self.llm, AgentConfig(budgets=cfg.rollout.budgets, templates=templates)
        )
        self.stream = make_source(cfg, self.llm.tokenizer, self.agent.budgets.chunk,
                                  rank=self.acc.process_index)  # fmt: skip
        self.held_out = make_source(cfg, self.llm.tokenizer, self.agent.budgets.chunk).held_out(
            cfg.data.eval_questions
        )
        self.reward = reward_fn(cfg.reward)
        self.state: dict[str, Any] = {"step": 0}
        if self.resume_from is not None:
            self.acc.load_state(str(self.resume_from / "accelerate"))
            self.state = checkpoint.read_state(self.resume_from)
            self.stream.position = self.state["stream_positions"][self.acc.process_index]
            if self.acc.is_main_process:
                checkpoint.truncate_jsonl(self.out / METRICS_FILE, self.state["step"])

    def _sample_from_policy(self) -> None:
        """Point the backend at the current policy: a LoRA policy merged into a fresh copy
        (rollout.merge_adapter), else the policy itself (then only its caches are dropped)."""
        policy = self.learner.policy
        dtype = self.cfg.rollout.dtype
        merge = self.cfg.rollout.merge_adapter and hasattr(policy, "merge_and_unload")
        if merge or dtype != "policy":
            self.llm.set_model(sampling_copy(policy, dtype, merge))
        elif self.llm.model is not policy:
            self.llm.set_model(policy)

    def _eval(self, tag: str) -> dict[str, float] | None:
        result = None
        self._sample_from_policy()
        if self.acc.is_main_process:
            e = self.cfg.eval
            # seeded: every evaluation of a run draws from the same stream, and the training
            # RNG is left alone
            sampling = SamplingParams(temperature=e.temperature, top_p=e.top_p, seed=self.cfg.seed)
            result = evaluate(
                self.agent, self.held_out, self.reward, sampling, e.samples_per_question
            )
            self._log({"event": tag, "step": self.state["step"], **result})
        self.acc.wait_for_everyone()
        return result

    def _log(self, row: dict[str, Any]) -> None:
        if not self.acc.is_main_process:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        name = METRICS_FILE if "event" not in row else "events.jsonl"
        with (self.out / name).open("a") as f:
            f.write(json.dumps(row) + "\n")

    def _gather(
        self, episodes: list[Episode], stats: RolloutStats
    ) -> tuple[list[Episode], RolloutStats]:
        if self.acc.num_processes == 1:
            return episodes, stats
        from accelerate.utils import gather_object

        parts = gather_object([(episodes, stats)])
        return [e for eps, _ in parts for e in eps], _merge_stats([s for _, s in parts])

    def step(self) -> dict[str, Any]:
        """Sample, train, log one step."""
        step = self.state["step"]
        t0 = time.perf_counter()
        torch.manual_seed(self.cfg.seed * 1_000_003 + step * 101 + self.acc.process_index)
        local_q = max(1, self.cfg.rollout.questions_per_step // self.acc.num_processes)
        self._sample_from_policy()
        episodes, stats = collect(self.agent, self.stream, self.cfg.rollout, self.reward, local_q)
        episodes, stats = self._gather(episodes, stats)
        row: dict[str, Any] = {"step": step + 1, **stats.metrics(), **episode_metrics(episodes)}
        if episodes:
            row.update(self.learner.train(episodes))
            self.llm.weights_changed()  # the backend's prefix caches hold the old weights' KV
        row["step_seconds"] = time.perf_counter() - t0
        self.state["step"] = step + 1
        self._log(row)
        return row

    def _save(self) -> None:
        from accelerate.utils import gather_object

        positions = gather_object([self.stream.position])
        checkpoint.save(
            self.out, self.state["step"], self.learner.model, self.llm.tokenizer.hf, self.acc,
            {**self.state, "stream_positions": positions},
        )  # fmt: skip

    def run(self, progress: bool = True) -> dict[str, Any]:
        """Train to cfg.steps (resuming if a checkpoint exists); returns the summary."""
        t0 = time.perf_counter()
        if "eval_before" not in self.state:
            self.state["eval_before"] = self._eval("eval_before")
        bar = _progress(progress and self.acc.is_main_process, self.cfg.steps, self.state["step"])
        while self.state["step"] < self.cfg.steps:
            row = self.step()
            bar.update(1)
            bar.set_postfix(
                reward=f"{row['reward_mean']:.2f}", kept=f"{row['kept_group_fraction']:.2f}"
            )
            s = self.state["step"]
            if self.cfg.eval_every and s % self.cfg.eval_every == 0 and s < self.cfg.steps:
                self._eval("eval")
            if s % self.cfg.save_every == 0 or s == self.cfg.steps:
                self._save()
            self._plot()
        bar.close()
        self.state["eval_after"] = self._eval("eval_after")
        return self._finish(time.perf_counter() - t0)

    def _plot(self, summary: dict[str, Any] | None = None) -> None:
        if self.acc.is_main_process and (self.out / METRICS_FILE).is_file():
            plot_rewards(self.out / METRICS_FILE, self.out / "reward.png", summary or self.state)

    def _finish(self, seconds: float) -> dict[str, Any]:
        summary = {
            "steps": self.state["step"],
            "wall_seconds_this_run": seconds,
            "resumed_from": str(self.resume_from) if self.resume_from else None,
            "eval_before": self.state.get("eval_before"),
            "eval_after": self.state.get("eval_after"),
            "config": json.loads(self.cfg.model_dump_json()),
        }
        if self.acc.is_main_process:
            final = self.out / "final"
            if self.cfg.train_adapter:  # final/ is a shippable float16 adapter with its recipe
                from memagent.rl.checkpoint import export_adapter

                self.learner.policy.save_pretrained(str(self.out / "final-fp32"))
                export_adapter(self.out / "final-fp32", final, {"config": summary["config"]})
            else:
                self.learner.policy.save_pretrained(str(final), safe_serialization=True)
                self.llm.tokenizer.hf.save_pretrained(str(final))
            write_text(self.out / SUMMARY_FILE, json.dumps(summary, indent=1), "training summary")
            self._plot(summary)
        self.acc.wait_for_everyone()
        return summary


class _NoBar:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **kw: Any) -> None: ...
    def close(self) -> None: ...


def sampling_copy(policy: Any, dtype: str = "policy", merge: bool = False) -> Any:
    """A frozen copy of the policy for rollouts (the policy keeps training), cast to `dtype`
    unless that is "policy". merge: a LoRA-wrapped policy's adapter merged in, so rollouts run
    plain linear layers, without the adapter's two extra products per layer and token."""
    import copy

    import torch

    with torch.no_grad():
        model = copy.deepcopy(policy)
        if merge:
            model = model.merge_and_unload()
    model = model.requires_grad_(False).eval()
    return model if dtype == "policy" else model.to(getattr(torch, dtype))


def _trainable_adapter(model: Any, adapter: str | Path | None) -> Any:
    """Wrap the base model with a LoRA adapter directory (a start adapter or a checkpoint's)."""
    from peft import PeftModel

    from memagent.errors import InputError

    try:
        return PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
    except (OSError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"adapter {adapter} cannot be trained on this model: {first}") from exc


def _progress(enabled: bool, total: int, initial: int) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="rl steps", unit="step")


def train(cfg: TrainConfig, progress: bool = True) -> dict[str, Any]:
    """Build a Trainer and run it to cfg.steps."""
    return Trainer(cfg).run(progress=progress)


__all__ = ["Trainer", "plot_rewards", "train"]
