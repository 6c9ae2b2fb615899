"""Checkpoints in Hugging Face format (loadable by `memagent ask --model DIR`) plus trainer state.

Layout of `output_dir/checkpoints/step-000012/`:
  config.json, model.safetensors, generation_config.json, tokenizer files   (the policy)
  accelerate/            optimizer, LR scheduler and RNG states (accelerator.save_state)
  state.json             {"step": 12, "stream_position": ..., "eval_before": ...}
A checkpoint is written to a temporary directory and renamed into place, so a kill mid-save leaves
the previous one intact; `latest` finds the newest complete one.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

from memagent.outputs import write_text

STATE_FILE = "state.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_root(output_dir: Path) -> Path:
    return Path(output_dir) / "checkpoints"


def latest(output_dir: Path) -> Path | None:
    """Newest complete checkpoint directory, or None."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return None
    found = [
        (int(m.group(1)), p)
        for p in root.iterdir()
        if (m := _STEP_DIR.match(p.name)) and (p / STATE_FILE).is_file()
    ]
    return max(found)[1] if found else None


def read_state(path: Path) -> dict[str, Any]:
    return dict(json.loads((Path(path) / STATE_FILE).read_text()))


def save(
    output_dir: Path,
    step: int,
    model: Any,
    tokenizer: Any,
    accelerator: Any,
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write step-NNNNNN atomically (all ranks call this; only the main one writes files)."""
    root = checkpoint_root(output_dir)
    final = root / f"step-{step:06d}"
    tmp = root / f".tmp-step-{step:06d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp / "accelerate"))
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.save_pretrained(
            str(tmp), state_dict=accelerator.get_state_dict(model), safe_serialization=True
        )
        tokenizer.save_pretrained(str(tmp))
        (tmp / STATE_FILE).write_text(json.dumps({**state, "step": step}, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        _prune(root, keep)
    accelerator.wait_for_everyone()
    return final


def _prune(root: Path, keep: int) -> None:
    steps = sorted((int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)))
    for _, p in steps[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)


def truncate_jsonl(path: Path, max_step: int) -> None:
    """Drop metric lines written after the checkpoint we resume from."""
    path = Path(path)
    if not path.is_file():
        return
    kept = [
        line
        for line in path.read_text().splitlines()
        if line.strip() and json.loads(line).get("step", 0) <= max_step
    ]
    write_text(path, "".join(line + "\n" for line in kept), "metrics file")


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

