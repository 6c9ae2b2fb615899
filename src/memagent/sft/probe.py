"""The greedy probe: fixed find / keep / answer conversations, replied to greedily and judged.

Run every `eval_every` steps on the train and held-out splits; its rates go to metrics.jsonl.
"""

from __future__ import annotations

import random
from typing import Any

from memagent.answer import extract_answer
from memagent.data.episodes import EpisodeSpec, generate_episode
from memagent.profile import EMBEDDED
from memagent.rl.config import TrainConfig
from memagent.scoring import string_match_all
from memagent.sft.examples import KINDS, Example, build_example, oracle_conversations


def probe_cases(cfg: TrainConfig, tokenizer: Any, split: str) -> list[Example]:
    """Fixed conversations (eval seed, shipped chunk) for the find/keep/answer probe."""
    per_kind = max(1, cfg.sft.eval_cases // 3)
    cases: dict[str, list[Example]] = {k: [] for k in KINDS}
    index = 0
    while any(len(v) < per_kind for v in cases.values()) and index < 10 * per_kind * 3:
        episode = generate_episode(
            split,
            cfg.seed + 7919,
            index,
            tokenizer,
            EpisodeSpec(
                chunk=cfg.sft.chunks[-1],
                max_chunks=4,
                haystacks=cfg.sft.haystacks if split == "train" else None,
            ),
        )
        rng = random.Random(f"probe|{index}")
        convs = oracle_conversations(episode)
        for kind in KINDS:
            options = [i for i, c in enumerate(convs) if c[0] == kind]
            if options and len(cases[kind]) < per_kind:
                cases[kind].append(build_example(tokenizer, episode, rng.choice(options)))
                break
        index += 1
    return [ex for kind in KINDS for ex in cases[kind]]


def judge(ex: Example, reply: str) -> dict[str, float]:
    """Per-case outcome of a greedy reply: found / false keep / kept / answered."""
    text = reply.strip()
    kept = text == EMBEDDED.templates.keep_reply
    if ex.kind == "find":
        new = ex.episode.relevant[ex.conversation]
        found = all(s.casefold() in text.casefold() for s in new)
        return {"find_recall": float(found), "false_keep": float(kept)}
    if ex.kind == "keep":
        return {"keep_rate": float(kept)}
    answer = extract_answer(text)
    boxed = answer.answer if answer.rule.value == "boxed" else None
    return {"answer_acc": string_match_all(boxed, ex.episode.answers)}


def run_probe(
    model: Any, tokenizer: Any, cases: list[Example], max_new: int = 96
) -> dict[str, float]:
    import torch

    sums: dict[str, list[float]] = {}
    model.eval()
    with torch.inference_mode():
        for ex in cases:
            ids = torch.tensor([ex.prompt_ids])
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new,
                do_sample=False,
                pad_token_id=tokenizer.eos_token_id,
            )
            reply = tokenizer.decode(out[0, ids.shape[1] :].tolist())
            for key, value in judge(ex, reply).items():
                sums.setdefault(key, []).append(value)
    model.train()
    return {k: sum(v) / len(v) for k, v in sums.items()}

