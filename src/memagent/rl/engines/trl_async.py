"""Multi-node GPU training on TRL's AsyncGRPOTrainer, with memagent's own rollouts and advantages.

Optional extra (`pip install 'memagent[trl]'`: TRL ≥ 1.16, whose `trl.experimental.async_grpo` has
the `rollout_worker` hook; a vLLM ≥ 0.17 server for generation). TRL is imported only inside
`build_trainer`.

How it plugs in. AsyncGRPOTrainer accepts a `rollout_worker`: an object with a `rollout_buffer`
queue of samples (`input_ids`, `completion_mask`, `old_log_probs` — all aligned with input_ids —,
`advantage`, `group_id`, `model_version`, `metrics`), a `metrics_queue`, and start / stop /
update_model_version / check_health. `MemAgentRolloutWorker` is one: it runs the built-in trainer's
`collect()` (the agent's Job loop, dynamic sampling with refill) against the vLLM server TRL
trains, over its OpenAI-compatible endpoint with token ids and log-probs; computes advantages with
`memagent.rl.advantages` (per episode, before broadcasting); and enqueues one sample per
conversation, each carrying its episode's advantage. Nothing of the episode/advantage logic is
written twice. TRL keeps pushing new weights to vLLM over NCCL (a custom worker does not change
that) and drops samples older than `max_staleness` policy versions.

What the engine's learner does, and how it differs from the built-in one:
- loss: token mean over each micro-batch's trained tokens (the paper's token-level aggregation),
  clip [1 - epsilon, 1 + epsilon_high] from loss.clip_low / clip_high; no dual clip, no KL term,
  no `episode` aggregation (use the built-in trainer for those);
- batching: TRL packs a stream of samples into prefix-sharing rows; a group's conversations share
  `group_id` (so their common prompt prefix is forwarded once), but one episode's conversations may
  land in consecutive optimizer steps. Their advantages are fixed already, so only the grouping of
  the mean changes.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memagent.rl.advantages import episode_advantages
from memagent.rl.config import TrainConfig
from memagent.rl.episode import Episode
from memagent.rl.rewards import RewardFn
from memagent.rl.rollout import collect
from memagent.rl.tasks import QuestionSource

log = logging.getLogger(__name__)


@dataclass
class ConversationSample:
    """One conversation in the shape of the samples on TRL's rollout queue (its RolloutSample)."""

    input_ids: np.ndarray  # [L] prompt + completion
    completion_mask: np.ndarray  # [L] 0 on the prompt, the conversation's mask on the completion
    old_log_probs: np.ndarray  # [L] sampling log-prob of token t at index t; 0 on the prompt
    advantage: float
    model_version: int
    group_id: int
    metrics: dict[str, float] = field(default_factory=dict)
    prompt: list[dict[str, str]] = field(default_factory=list)  # for TRL's trace logging only
    completion: list[dict[str, str]] = field(default_factory=list)
    enqueued_at: float | None = None


def conversation_samples(
    episodes: Sequence[Episode],
    advantages: Sequence[float],
    model_version: int,
    group_ids: Callable[[str], int],
    mask_truncated: bool = False,
) -> list[ConversationSample]:
    """One sample per conversation of every episode, each with its episode's advantage."""
    out = []
    for ep, adv in zip(episodes, advantages, strict=True):
        for conv in ep.conversations:
            mask = (
                [0] * len(conv.completion_ids) if mask_truncated and conv.truncated else conv.mask
            )
            assert mask is not None
            n_prompt = len(conv.prompt_ids)
            out.append(
                ConversationSample(
                    input_ids=np.asarray(list(conv.prompt_ids) + list(conv.completion_ids)),
                    completion_mask=np.asarray([0] * n_prompt + [int(m) for m in mask]),
                    old_log_probs=np.asarray([0.0] * n_prompt + list(conv.old_logprobs)),
                    advantage=float(adv),
                    model_version=model_version,
                    group_id=group_ids(ep.group_id),
                    metrics={
                        "reward": float(ep.reward),
                        "chunks": float(len(ep.conversations) - 1),
                    },
                    enqueued_at=time.time(),
                )
            )
    return out


class MemAgentRolloutWorker:
    """TRL rollout worker (RolloutWorkerProtocol) producing memagent Multi-Conv samples."""

    def __init__(
        self, agent: Any, source: QuestionSource, cfg: TrainConfig, reward: RewardFn,
        queue_maxsize: int = 0,
    ) -> None:  # fmt: skip
        self.agent = agent
        self.source = source
        self.cfg = cfg
        self.reward = reward
        self.rollout_buffer: queue.Queue[ConversationSample] = queue.Queue(maxsize=queue_maxsize)
        self.metrics_queue: queue.Queue[dict[str, float]] = queue.Queue()
        self.model_version = 0
        self._group_ids: dict[str, int] = {}
        self._next_group = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._heartbeat = time.monotonic()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="memagent-rollouts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def update_model_version(self, version: int) -> None:
        self.model_version = version

    def check_health(self, stale_after_s: float) -> None:
        if self._error is not None:
            raise RuntimeError("memagent rollout worker failed") from self._error
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            raise RuntimeError("memagent rollout worker stopped unexpectedly")
        if time.monotonic() - self._heartbeat > stale_after_s:
            raise TimeoutError(f"no rollouts for {stale_after_s:.0f}s: is the vLLM server up?")

    def produce_once(self) -> int:
        """One step's worth of groups → samples on the queue; returns how many were queued."""
        version = self.model_version  # episodes are tagged with the policy they started under
        kept, stats = collect(self.agent, self.source, self.cfg.rollout, self.reward)
        a = self.cfg.advantage
        advs = episode_advantages(kept, a.std_normalize, a.eps)
        samples = conversation_samples(
            kept, advs, version, self._group_id, self.cfg.loss.mask_truncated
        )
        for sample in samples:
            self.rollout_buffer.put(sample)
        m = stats.metrics()
        self.metrics_queue.put({f"memagent/{k}": v for k, v in m.items()})
        self._heartbeat = time.monotonic()
        return len(samples)

    def _group_id(self, question_id: str) -> int:
        if question_id not in self._group_ids:
            self._group_ids[question_id] = next(self._next_group)
        return self._group_ids[question_id]

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.produce_once()
        except BaseException as exc:  # surfaced to the trainer through check_health
            log.exception("memagent rollout worker failed")
            self._error = exc


def _import_trl() -> tuple[Any, Any]:
    """(AsyncGRPOTrainer, AsyncGRPOConfig) from TRL's async_grpo package."""
    try:
        from trl.experimental.async_grpo import AsyncGRPOConfig, AsyncGRPOTrainer
    except ImportError as exc:
        raise ImportError(
            "the TRL engine needs TRL >= 1.16 with trl.experimental.async_grpo "
            "(and `datasets`): pip install 'memagent[trl]'"
        ) from exc
    return AsyncGRPOTrainer, AsyncGRPOConfig


def build_trainer(
    cfg: TrainConfig,
    model: str,
    vllm_url: str,
    source: QuestionSource,
    reward: RewardFn,
    make_agent: Callable[[], Any] | None = None,
    weight_transfer: Any = None,
    **trl_args: Any,
) -> Any:
    """An AsyncGRPOTrainer whose samples come from memagent rollouts on the vLLM server at vllm_url.

    `model` is the HF model id or directory both TRL and the server load; `trl_args` go to
    AsyncGRPOConfig (per_device_train_batch_size, weight_sync_steps, max_staleness, bf16, ...).
    Launch under accelerate (e.g. configs/accelerate/fsdp.yaml); the server runs apart
    (`trl vllm-serve` or `vllm serve` with TRL's weight-transfer extension, see TRL's docs).
    `weight_transfer` replaces TRL's NCCL weight sync (TRL's WeightTransferProtocol; the CPU test
    passes a no-op one and rolls out on a local model through `make_agent`).
    """
    from accelerate import PartialState
    from datasets import Dataset

    trainer_cls, config_cls = _import_trl()
    args = config_cls(
        output_dir=str(cfg.output_dir),
        learning_rate=cfg.optim.lr,
        weight_decay=cfg.optim.weight_decay,
        warmup_steps=cfg.optim.warmup_steps,
        max_grad_norm=cfg.optim.grad_clip or 0.0,
        max_steps=cfg.steps,
        epsilon=cfg.loss.clip_low,
        epsilon_high=cfg.loss.clip_high,
        temperature=cfg.rollout.temperature,
        top_p=cfg.rollout.top_p,
        num_generations=cfg.rollout.group_size,
        vllm_server_base_url=vllm_url,
        **trl_args,
    )
    worker = None
    if PartialState().is_main_process:  # TRL drives rollouts from rank 0 only
        agent = make_agent() if make_agent is not None else vllm_agent(cfg, model, vllm_url)
        worker = MemAgentRolloutWorker(agent, source, cfg, reward)
    placeholder = Dataset.from_dict({"prompt": [[{"role": "user", "content": ""}]]})
    return trainer_cls(
        model=model, reward_funcs=None, args=args, train_dataset=placeholder,
        rollout_worker=worker, weight_transfer=weight_transfer,
    )  # fmt: skip


def vllm_agent(cfg: TrainConfig, model: str, vllm_url: str) -> Any:
    """The agent on the vLLM server: token ids + log-probs, budgets in the policy's tokens."""
    from memagent.config import AgentConfig
    from memagent.llm.hf_tokenizer import HFTokenizer
    from memagent.llm.openai_compat import OpenAICompatLLM
    from memagent.loop.agent import MemAgent

    tokenizer = HFTokenizer.from_dir(model)  # a local directory or a hub id
    llm = OpenAICompatLLM(
        vllm_url, model=model, tokenizer=tokenizer, max_concurrency=64,
        extra_body={"return_token_ids": True},
    )  # fmt: skip
    llm.tokenizer = tokenizer  # type: ignore[attr-defined]
    return MemAgent(llm, AgentConfig(budgets=cfg.rollout.budgets))
