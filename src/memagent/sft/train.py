"""The SFT loop: resume, optimizer steps over `example_for`'s conversations, probes, export.

Outputs under `output_dir`: checkpoints/step-N/ (adapter + optimizer + state), metrics.jsonl (loss,
tokens/s, and every `eval_every` steps the greedy find/keep/answer rates on the train and held-out
splits), loss.png, and final/adapter_model.safetensors (float16, with its recipe).
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from memagent.errors import InputError
from memagent.rl import checkpoint
from memagent.rl.checkpoint import export_adapter
from memagent.rl.config import TrainConfig
from memagent.sft.examples import Example, example_for, example_loss, lora_model
from memagent.sft.probe import probe_cases, run_probe

PROBE_SPLITS = ("train", "heldout")


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
    """Run (or resume) the SFT stage of `cfg`; returns {"steps", "final": the adapter directory}."""
    import torch

    _require_haystacks(cfg.sft.haystacks)
    torch.manual_seed(cfg.seed)
    tokenizer, model = _policy(cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.sft.lr, weight_decay=0.0)
    out = Path(cfg.output_dir)
    ckpt_root = checkpoint.checkpoint_root(out)
    out.mkdir(parents=True, exist_ok=True)
    start = _resume(model, optimizer, out)
    metrics_path = out / "metrics.jsonl"
    probes = {s: probe_cases(cfg, tokenizer, s) for s in PROBE_SPLITS}

    def probe_all() -> dict[str, float]:
        return {
            f"{split}/{k}": v
            for split, cases in probes.items()
            for k, v in run_probe(model, tokenizer, cases).items()
        }

    if start == 0 and cfg.sft.eval_every:
        _log(metrics_path, {"step": 0, **probe_all()})
    bar = _bar(progress, cfg.steps, start)
    t_last = time.perf_counter()
    for step in range(start, cfg.steps):
        lr = _lr_at(cfg, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        examples = [example_for(cfg, tokenizer, step, j) for j in range(cfg.sft.grad_accum)]
        loss_value = _optimizer_step(cfg, model, optimizer, params, examples)
        done = step + 1
        now = time.perf_counter()
        tokens = sum(len(ex.prompt_ids) + len(ex.reply_ids) for ex in examples)
        row: dict[str, Any] = {
            "step": done,
            "loss": loss_value,
            "lr": lr,
            "kinds": [ex.kind for ex in examples],
            "tokens_per_s": tokens / max(now - t_last, 1e-9),
        }
        t_last = now
        if cfg.sft.eval_every and (done % cfg.sft.eval_every == 0 or done == cfg.steps):
            row.update(probe_all())
            t_last = time.perf_counter()
        _log(metrics_path, row)
        if done % cfg.save_every == 0 or done == cfg.steps:
            _save(model, optimizer, ckpt_root, done, {"seed": cfg.seed})
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.3f}")
    bar.close()
    return _finish(cfg, model, out, metrics_path)


def _policy(cfg: TrainConfig) -> tuple[Any, Any]:
    """(tokenizer, the LoRA-wrapped base model in train mode), from an earlier adapter if given."""
    import torch
    from transformers import AutoModelForCausalLM

    from memagent.llm.hf_tokenizer import load_tokenizer
    from memagent.llm.registry import resolve_model

    base_dir = resolve_model(cfg.model, base=True)  # train from the untrained weights
    tokenizer = load_tokenizer(str(base_dir))
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    model = lora_model(cfg, model)
    if cfg.adapter is not None:
        _load_start_adapter(model, Path(cfg.adapter))  # continue from an earlier stage's adapter
    model.train()
    return tokenizer, model


def _resume(model: Any, optimizer: Any, out: Path) -> int:
    """Load the newest checkpoint under `out` into model and optimizer; the step to start at."""
    import torch

    if (last := checkpoint.latest(out)) is None:
        return 0
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
    return int(json.loads((last / "state.json").read_text())["step"])


def _optimizer_step(
    cfg: TrainConfig, model: Any, optimizer: Any, params: list[Any], examples: list[Example]
) -> float:
    """One optimizer step over the step's conversations; the step's mean weighted loss."""
    import torch

    # The step's weight total is known from the reply lengths, so each conversation's graph is
    # freed by its own backward: peak memory is one sequence.
    norm = sum(len(ex.reply_ids) + cfg.sft.decisive_weight - 1 for ex in examples)
    loss_value = 0.0
    for ex in examples:
        loss, _ = example_loss(model, ex, cfg.sft.decisive_weight, cfg.sft.autocast_bf16)
        (loss / norm).backward()
        loss_value += float(loss) / norm
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_value


def _log(metrics_path: Path, row: dict[str, Any]) -> None:
    with metrics_path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def _finish(cfg: TrainConfig, model: Any, out: Path, metrics_path: Path) -> dict[str, Any]:
    """final-fp32/, the shippable float16 final/ with its recipe, and loss.png."""
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
