"""Supervised warm start of the memory policy: LoRA on oracle conversations (data/episodes.py).

Each optimizer step is a pure function of (seed, step): `grad_accum` conversations, each drawn from
its own generated episode, so a resumed run sees exactly the batches it would have seen. Loss is on
the reply tokens only (memory update, KEEP, or the boxed answer), with the first reply token
weighted up: it carries the decision (KEEP or start copying a sentence) that a plain mean would
drown among the copied tokens. Logits are computed only for the reply positions.

Outputs under `output_dir`: checkpoints/step-N/ (adapter + optimizer + state), metrics.jsonl (loss,
tokens/s, and every `eval_every` steps the greedy find/keep/answer rates on the train and held-out
splits), loss.png, and final/adapter_model.safetensors.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import platform
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memagent.answer import extract_answer
from memagent.data.episodes import EpisodeSpec, OracleEpisode, generate_episode
from memagent.errors import InputError
from memagent.profile import EMBEDDED
from memagent.rl import checkpoint
from memagent.rl.config import TrainConfig
from memagent.scoring import string_match_all

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
    return Example(oracle_conversations(episode)[index][0], prompt_ids, reply_ids, reply, episode, index)


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


# ------------------------------------------------------------------ greedy probe
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


# ------------------------------------------------------------------ the loop
def _lr_at(cfg: TrainConfig, step: int) -> float:
    sft = cfg.sft
    if step < sft.warmup_steps:
        return sft.lr * (step + 1) / sft.warmup_steps
    progress = (step - sft.warmup_steps) / max(1, cfg.steps - sft.warmup_steps)
    return sft.min_lr + 0.5 * (sft.lr - sft.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def _save(model: Any, optimizer: Any, root: Path, step: int, extra: dict[str, Any]) -> Path:
    import torch

    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    torch.save(
        {"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()},
        tmp / "trainer.pt",
    )
    (tmp / "state.json").write_text(json.dumps({"step": step, **extra}))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in sorted(root.glob("step-*"))[:-2]:  # keep the two newest
        shutil.rmtree(old, ignore_errors=True)
    return final


def train_sft(cfg: TrainConfig, progress: bool = True) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM

    from memagent.llm.hf_tokenizer import load_tokenizer
    from memagent.llm.registry import resolve_model

    _require_haystacks(cfg.sft.haystacks)
    torch.manual_seed(cfg.seed)
    base_dir = resolve_model(cfg.model, base=True)  # train from the untrained weights
    tokenizer = load_tokenizer(str(base_dir))
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    model = lora_model(cfg, model)
    if cfg.adapter is not None:
        _load_start_adapter(model, Path(cfg.adapter))  # continue from an earlier stage's adapter
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.sft.lr, weight_decay=0.0)
    out = Path(cfg.output_dir)
    ckpt_root = checkpoint.checkpoint_root(out)
    out.mkdir(parents=True, exist_ok=True)
    start = 0
    if (last := checkpoint.latest(out)) is not None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        try:
            set_peft_model_state_dict(model, load_file(str(last / "adapter_model.safetensors")))
            state = torch.load(last / "trainer.pt", weights_only=False)
        except (OSError, RuntimeError, KeyError) as exc:
            raise InputError(
                f"checkpoint {last} is unreadable ({exc}); delete it to resume from the one before"
            ) from exc
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        start = json.loads((last / "state.json").read_text())["step"]
    metrics_path = out / "metrics.jsonl"
    probes = {s: probe_cases(cfg, tokenizer, s) for s in ("train", "heldout")}

    def log(row: dict[str, Any]) -> None:
        with metrics_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    def probe_all() -> dict[str, float]:
        return {
            f"{split}/{k}": v
            for split, cases in probes.items()
            for k, v in run_probe(model, tokenizer, cases).items()
        }

    if start == 0 and cfg.sft.eval_every:
        log({"step": 0, **probe_all()})
    bar = _bar(progress, cfg.steps, start)
    t_last, tokens_since = time.perf_counter(), 0
    for step in range(start, cfg.steps):
        lr = _lr_at(cfg, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        examples = [example_for(cfg, tokenizer, step, j) for j in range(cfg.sft.grad_accum)]
        # The step's weight total is known from the reply lengths, so each conversation's graph is
        # freed by its own backward: peak memory is one sequence.
        norm = sum(len(ex.reply_ids) + cfg.sft.decisive_weight - 1 for ex in examples)
        loss_value = 0.0
        for ex in examples:
            loss, _ = example_loss(model, ex, cfg.sft.decisive_weight, cfg.sft.autocast_bf16)
            (loss / norm).backward()
            loss_value += float(loss) / norm
            tokens_since += len(ex.prompt_ids) + len(ex.reply_ids)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        done = step + 1
        now = time.perf_counter()
        row: dict[str, Any] = {
            "step": done,
            "loss": loss_value,
            "lr": lr,
            "kinds": [ex.kind for ex in examples],
            "tokens_per_s": tokens_since / max(now - t_last, 1e-9),
        }
        t_last, tokens_since = now, 0
        if cfg.sft.eval_every and (done % cfg.sft.eval_every == 0 or done == cfg.steps):
            row.update(probe_all())
            t_last = time.perf_counter()
        log(row)
        if done % cfg.save_every == 0 or done == cfg.steps:
            _save(model, optimizer, ckpt_root, done, {"seed": cfg.seed})
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.3f}")
    bar.close()
    final = out / "final"
    model.save_pretrained(out / "final-fp32")
    recipe: dict[str, Any] = {
        "config": json.loads(cfg.model_dump_json()),
        "python": platform.python_version(),  # pydoc/code haystacks are this Python's stdlib
    }
    if cfg.adapter is not None:
        start = Path(cfg.adapter) / "adapter_model.safetensors"
        recipe["start_adapter_sha256"] = hashlib.sha256(start.read_bytes()).hexdigest()
    export_adapter(out / "final-fp32", final, recipe)
    plot_sft(metrics_path, out / "loss.png")
    return {"steps": cfg.steps, "final": str(final)}


def export_adapter(src: Path, dst: Path, recipe: dict[str, Any]) -> Path:
    """Write a shippable copy of a LoRA adapter: float16 weights, no local paths, the recipe.

    float16 halves the file (a rank-32 adapter on every linear layer of SmolLM2-135M: 19.5 MB);
    the merged model is computed in float32 from it.
    """
    import torch
    from safetensors.torch import load_file, save_file

    weights = load_file(str(src / "adapter_model.safetensors"))
    dst.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.to(torch.float16).contiguous() for k, v in weights.items()},
        str(dst / "adapter_model.safetensors"),
    )
    config = json.loads((src / "adapter_config.json").read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = "SmolLM2-135M-Instruct (memagent embedded)"
    (dst / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    digest = hashlib.sha256((dst / "adapter_model.safetensors").read_bytes()).hexdigest()
    (dst / "recipe.json").write_text(
        json.dumps({**recipe, "adapter_sha256": digest}, indent=2, sort_keys=True) + "\n"
    )
    return dst


def _require_haystacks(kinds: tuple[str, ...] | None) -> None:
    """The recipe draws from every listed haystack: a missing one would silently change the data."""
    from memagent.data.episodes import (
        DICT_FILES,
        DICT_PACKAGES,
        TRAIN_HAYSTACKS,
        haystack_installed,
    )

    missing = [k for k in kinds or TRAIN_HAYSTACKS if not haystack_installed(k)]
    if missing:
        packages = " ".join(DICT_PACKAGES[k] for k in missing)
        where = ", ".join(str(DICT_FILES.get(k, k)) for k in missing)
        raise InputError(
            f"training haystacks {', '.join(missing)} are not installed ({where}); "
            f"apt-get install -y --no-install-recommends {packages}"
        )


def _load_start_adapter(model: Any, adapter: Path) -> None:
    """Load an exported adapter's weights into the fresh LoRA (same rank and targets)."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict
    from safetensors.torch import load_file

    weights_file = adapter / "adapter_model.safetensors"
    try:
        weights = {k: v.float() for k, v in load_file(str(weights_file)).items()}
    except (OSError, RuntimeError, ValueError) as exc:
        raise InputError(f"start adapter {weights_file} is unreadable: {exc}") from exc
    expected = {k: tuple(v.shape) for k, v in get_peft_model_state_dict(model).items()}
    got = {k: tuple(v.shape) for k, v in weights.items()}
    if got != expected:
        differ = sorted(set(got) ^ set(expected)) or sorted(k for k in got if got[k] != expected[k])
        k = differ[0]
        raise InputError(
            f"start adapter {adapter} does not fit sft.lora_rank/lora_targets: {k} is "
            f"{got.get(k, 'missing')} in the file, {expected.get(k, 'absent')} in the model"
        )
    set_peft_model_state_dict(model, weights)


def _bar(enabled: bool, total: int, initial: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc="sft", unit="step")


def plot_sft(metrics_path: Path, out_png: Path) -> None:
    """Loss curve and the greedy probe rates per split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [r["step"] for r in rows if "loss" in r]
    losses = [r["loss"] for r in rows if "loss" in r]
    if losses:
        window = 20
        smooth = [
            sum(losses[max(0, i - window + 1) : i + 1])
            / len(losses[max(0, i - window + 1) : i + 1])
            for i in range(len(losses))
        ]
        ax1.plot(steps, losses, alpha=0.3, label="loss")
        ax1.plot(steps, smooth, label=f"mean of {window}")
        ax1.set_yscale("log")
    ax1.set_xlabel("optimizer step")
    ax1.set_title("SFT loss (weighted reply tokens)")
    ax1.legend()
    for split, style in (("train", "-"), ("heldout", "--")):
        for key in ("find_recall", "keep_rate", "answer_acc"):
            pts = [(r["step"], r[f"{split}/{key}"]) for r in rows if f"{split}/{key}" in r]
            if pts:
                ax2.plot(*zip(*pts, strict=True), style, marker="o", label=f"{split} {key}")
    ax2.set_ylim(-0.05, 1.05)
    ax2.set_xlabel("optimizer step")
    ax2.set_title("greedy probe (fixed conversations)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
