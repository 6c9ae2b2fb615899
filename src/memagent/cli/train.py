"""`memagent train --config FILE`: RL of the memory policy (see memagent.rl and configs/rl/).

Rerunning the same command resumes from the newest checkpoint in the config's output_dir.
Multi-process: `accelerate launch --config_file configs/accelerate/ddp.yaml -m memagent.cli train
--config FILE` (every rank samples its share of rollouts; the learner runs under accelerate).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

Opt = typer.Option


def train_command(
    config: Annotated[Path, Opt("--config", "-c", help="Training config (.yaml/.yml/.toml).")],
    steps: Annotated[int | None, Opt(help="Override `steps` from the config.")] = None,
    output_dir: Annotated[Path | None, Opt(help="Override `output_dir` from the config.")] = None,
    model: Annotated[str | None, Opt("--model", "-m", help="Override the start model.")] = None,
    check: Annotated[bool, Opt("--check", help="Validate the config, print it, and exit.")] = False,
    progress: Annotated[bool, Opt(help="Show a progress bar.")] = True,
) -> int:
    """Train the memory agent with Multi-Conv RL (presets: paper-release, paper-release-14b, dapo)."""
    from memagent.rl.config import build_config, load_config

    cfg = load_config(config)
    overrides = {"steps": steps, "output_dir": output_dir, "model": model}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        cfg = build_config({**json.loads(cfg.model_dump_json()), **overrides}, str(config))
    if check:
        typer.echo(cfg.model_dump_json(indent=1))
        return 0
    if cfg.stage == "sft":
        from memagent.sft import train_sft

        summary = train_sft(cfg, progress=progress)
        typer.echo(f"sft steps {summary['steps']}  adapter: {summary['final']}")
        return 0
    from memagent.rl.trainer import train

    summary = train(cfg, progress=progress)
    before, after = summary.get("eval_before") or {}, summary.get("eval_after") or {}
    typer.echo(
        f"steps {summary['steps']}  held-out reward {before.get('reward', float('nan')):.3f} → "
        f"{after.get('reward', float('nan')):.3f}  model: {Path(cfg.output_dir) / 'final'}"
    )
    return 0
