"""Rollouts: G sampled runs of the agent loop per question, turned into Episodes.

The agent's own Job state machine does the reading; we only ask it to keep every (request,
completion) pair with token ids and the sampling policy's log-probs, then score the final reply.
Dynamic sampling drops groups whose rewards are all equal and refills from new questions, for at
most `max_refill_rounds` extra rounds; the step then trains on whatever was kept.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from memagent.errors import BackendError
from memagent.loop.agent import MemAgent
from memagent.loop.job import Job
from memagent.rl.advantages import filter_groups
from memagent.rl.config import RolloutConfig
from memagent.rl.episode import Conversation, Episode
from memagent.rl.rewards import RewardFn
from memagent.rl.tasks import Question, QuestionSource
from memagent.types import SamplingParams


def _episode(job: Job, q: Question, reward: RewardFn) -> Episode:
    convs = []
    for _request, c in job.conversations:
        if c.prompt_token_ids is None or c.completion_token_ids is None or c.logprobs is None:
            raise BackendError(
                "the backend returned no token ids or log-probs; RL needs a backend that fills "
                "Completion.prompt_token_ids, completion_token_ids and logprobs"
            )
        convs.append(
            Conversation(
                prompt_ids=list(c.prompt_token_ids),
                completion_ids=list(c.completion_token_ids),
                old_logprobs=list(c.logprobs),
                truncated=c.finish_reason == "length",
            )
        )
    final = job.conversations[-1][1].text
    result = job.result()
    return Episode(
        group_id=q.id,
        conversations=convs,
        reward=reward(final, q.answers),
        meta={
            "chunks": result.chunks,
            "answer": result.answer,
            "rule": result.rule.value,
            "memory_in_gold": float(any(a in result.memory for a in q.answers)),
        },
    )


def run_group(
    agent: MemAgent,
    questions: Sequence[Question],
    group_size: int,
    sampling: SamplingParams,
    want_logprobs: bool,
) -> list[Job]:
    """group_size finished jobs per question, in question order; job.tag = (question index, g)."""
    jobs = [
        agent.job(
            q.document, q.question, tag=(i, g), want_logprobs=want_logprobs,
            keep_conversations=want_logprobs,
        )
        for i, q in enumerate(questions)
        for g in range(group_size)
    ]  # fmt: skip
    agent.run(jobs, sampling=sampling)
    return jobs


def rollout(
    agent: MemAgent,
    questions: Sequence[Question],
    group_size: int,
    sampling: SamplingParams,
    reward: RewardFn,
) -> list[Episode]:
    """group_size sampled episodes per question, grouped by question id, in question order."""
    jobs = run_group(agent, questions, group_size, sampling, want_logprobs=True)
    return [_episode(job, questions[job.tag[0]], reward) for job in jobs]


@dataclass
class RolloutStats:
    """What a step's sampling saw, before and after dynamic sampling."""

    rewards: list[float] = field(default_factory=list)  # every sampled episode
    groups: int = 0
    dropped: int = 0
    rounds: int = 0
    seconds: float = 0.0
    completion_tokens: int = 0
    memory_in_gold: list[float] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        r = self.rewards
        return {
            "reward_mean": statistics.fmean(r) if r else 0.0,
            "reward_std": statistics.pstdev(r) if len(r) > 1 else 0.0,
            "zero_variance_fraction": self.dropped / self.groups if self.groups else 0.0,
            "kept_group_fraction": 1 - self.dropped / self.groups if self.groups else 0.0,
            "rollout_rounds": float(self.rounds),
            "rollout_seconds": self.seconds,
            "rollout_tokens_per_s": self.completion_tokens / self.seconds if self.seconds else 0.0,
            "memory_has_answer": statistics.fmean(self.memory_in_gold) if r else 0.0,
        }


def collect(
    agent: MemAgent,
    stream: QuestionSource,
    cfg: RolloutConfig,
    reward: RewardFn,
    n_questions: int | None = None,
) -> tuple[list[Episode], RolloutStats]:
    """One step's episodes: n_questions groups, filtered and refilled if dynamic sampling is on."""
    sampling = SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p)
    want = n_questions or cfg.questions_per_step
    stats = RolloutStats()
    kept: list[Episode] = []
    t0 = time.perf_counter()
    need = want
    while need > 0 and stats.rounds <= cfg.max_refill_rounds:
        episodes = rollout(agent, stream.take(need), cfg.group_size, sampling, reward)
        stats.rounds += 1
        stats.rewards += [e.reward for e in episodes]
        stats.memory_in_gold += [e.meta["memory_in_gold"] for e in episodes]
        stats.completion_tokens += sum(
            len(c.completion_ids) for e in episodes for c in e.conversations
        )
        result = filter_groups(episodes)
        stats.groups += result.n_groups
        stats.dropped += result.n_dropped
        if not cfg.dynamic_sampling:
            kept = episodes
            break
        kept += result.kept
        need = want - len({e.group_id for e in kept})
    stats.seconds = time.perf_counter() - t0
    if cfg.dynamic_sampling:  # keep at most `want` groups (a refill round can overshoot)
        first = list(dict.fromkeys(e.group_id for e in kept))[:want]
        kept = [e for e in kept if e.group_id in set(first)]
    return kept, stats


def evaluate(
    agent: MemAgent,
    questions: Sequence[Question],
    reward: RewardFn,
    sampling: SamplingParams | None = None,
    samples_per_question: int = 1,
) -> dict[str, float]:
    """Mean reward over samples_per_question rollouts of each held-out question (greedy unless
    sampling is given). Every question has as many samples, so the mean over all of them is the
    release's mean@n: the mean over questions of each question's mean reward."""
    sampling = sampling or SamplingParams(temperature=0.0)
    t0 = time.perf_counter()
    jobs = run_group(agent, questions, samples_per_question, sampling, want_logprobs=False)
    results = [(job.result(), questions[job.tag[0]]) for job in jobs]
    return {
        "reward": statistics.fmean(reward(r.raw_answer, q.answers) for r, q in results),
        "memory_has_answer": statistics.fmean(
            float(any(a in r.memory for a in q.answers)) for r, q in results
        ),
        "boxed": statistics.fmean(float(r.boxed) for r, _ in results),
        "final_cut": statistics.fmean(
            float(r.steps[-1].finish_reason == "length") for r, _ in results
        ),
        "n": float(len(questions)),
        "samples_per_question": float(samples_per_question),
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "seconds": time.perf_counter() - t0,
    }
