"""SFT examples: one oracle conversation of a generated episode, tokenized, and its loss.

Each optimizer step is a pure function of (seed, step): `grad_accum` conversations, each drawn from
its own generated episode (`example_for`), so a resumed run sees exactly the batches it would have
seen. The conversations are written in the embedded profile's words (its empty memory and keep
reply), which data/ takes from here. Loss is on the reply tokens only, with the first reply token
weighted up (`example_loss`); logits are computed only for the reply positions.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from typing import Any

from memagent.data.episodes import EpisodeSpec, OracleEpisode, generate_episode
from memagent.profile import EMBEDDED
from memagent.rl.config import TrainConfig

KINDS = ("find", "keep", "final")


@dataclass(frozen=True)
class Example:
    kind: str
    prompt_ids: list[int]
    reply_ids: list[int]  # the reply plus the end-of-turn token
    reply: str
    episode: OracleEpisode
    conversation: int


def oracle_conversations(episode: OracleEpisode) -> list[tuple[str, str, str | None, str]]:
    """The episode's conversations in the embedded profile's words (empty memory, keep reply)."""
    templates = EMBEDDED.templates
    return episode.conversations(templates.empty_memory, templates.keep_reply or "KEEP")


def conversation_messages(episode: OracleEpisode, index: int) -> tuple[Any, str]:
    """(chat messages, oracle reply) of one conversation of an episode, in the embedded profile."""
    _kind, memory, chunk, reply = oracle_conversations(episode)[index]
    templates = EMBEDDED.templates
    if chunk is None:
        return templates.final_answer_messages(episode.question, memory), reply
    return templates.memory_update_messages(episode.question, memory, chunk), reply


def chunk_for_step(cfg: TrainConfig, step: int, rng: random.Random) -> int:
    """Curriculum: short chunks first, then the shipped size."""
    sft = cfg.sft
    sizes = sft.warm_chunks if step < sft.warm_steps else sft.chunks
    return rng.choice(sizes)


def example_for(
    cfg: TrainConfig, tokenizer: Any, step: int, slot: int, split: str = "train"
) -> Example:
    """The `slot`-th conversation of optimizer step `step` (pure function of the config's seed)."""
    rng = random.Random(f"sft|{cfg.seed}|{split}|{step}|{slot}")
    sft = cfg.sft
    chunk = chunk_for_step(cfg, step, rng)
    index = step * sft.grad_accum + slot
    tasks = tuple(sft.tasks.items()) if sft.tasks is not None else None
    spec = EpisodeSpec(chunk=chunk, max_chunks=sft.max_chunks, haystacks=sft.haystacks,
                       task_weights=tasks)
    episode = generate_episode(split, cfg.seed, index, tokenizer, spec)
    convs = oracle_conversations(episode)
    by_kind = {k: [i for i, c in enumerate(convs) if c[0] == k] for k in KINDS}
    weights = [sft.mix[k] if by_kind[k] else 0.0 for k in KINDS]
    kind = rng.choices(KINDS, weights=weights)[0]
    return build_example(tokenizer, episode, rng.choice(by_kind[kind]))


def build_example(tokenizer: Any, episode: OracleEpisode, index: int) -> Example:
    messages, reply = conversation_messages(episode, index)
    prompt_ids = tokenizer.chat_ids(messages)
    end = tokenizer.eos_token_id
    reply_ids = tokenizer.encode(reply) + ([end] if end is not None else [])
    kind = oracle_conversations(episode)[index][0]
    return Example(kind, prompt_ids, reply_ids, reply, episode, index)


def lora_model(cfg: TrainConfig, model: Any) -> Any:
    from peft import LoraConfig, get_peft_model

    sft = cfg.sft
    config = LoraConfig(
        r=sft.lora_rank,
        lora_alpha=sft.lora_alpha,
        lora_dropout=0.0,
        target_modules=list(sft.lora_targets),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def example_loss(
    model: Any, ex: Example, decisive_weight: float, autocast: bool
) -> tuple[Any, float]:
    """Weighted reply-token cross-entropy (sum) and the weight total, for one conversation."""
    import torch

    ids = torch.tensor([ex.prompt_ids + ex.reply_ids])
    n = len(ex.reply_ids)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with ctx:
        out = model(input_ids=ids, logits_to_keep=n + 1)
    logits = out.logits[0, :-1].float()  # position t predicts reply token t
    target = torch.tensor(ex.reply_ids)
    nll = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    weights = torch.ones(n)
    weights[0] = decisive_weight
    return (nll * weights).sum(), float(weights.sum())

