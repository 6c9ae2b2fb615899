"""RL training configuration: one small validated model per component, plus the file loader.

Each section (loss, advantage, rollout, optim, data, eval, sft) is a frozen pydantic model that
rejects unknown keys; cross-field checks raise errors that name the field and the fix. A config
file (YAML or TOML) may name a `preset` (see presets.py); its own keys then override the preset's.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from memagent.config import Budgets
from memagent.errors import InputError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LossConfig(_Section):
    """The policy loss (losses.py). Defaults are DAPO's."""

    clip_low: float = Field(0.2, gt=0, lt=1, description="ε_low: ratio floor is 1 - clip_low")
    clip_high: float = Field(0.28, gt=0, description="ε_high: ratio ceiling is 1 + clip_high")
    dual_clip: float | None = Field(None, description="c > 1 bounds negative-advantage loss; off")
    kl_coef: float = Field(0.0, ge=0, description="β of the k3 KL to the frozen reference")
    entropy_coef: float = Field(0.0, ge=0, description="entropy bonus coefficient")
    aggregation: Literal["token", "episode"] = "token"
    mask_truncated: bool = Field(False, description="drop completions cut at their token limit")

    @model_validator(mode="after")
    def _check(self) -> LossConfig:
        if self.dual_clip is not None and self.dual_clip <= 1.0:
            raise ValueError(
                f"loss.dual_clip must be > 1 (the release scripts use 3.0), got {self.dual_clip}; "
                "or remove it to turn dual-clip off"
            )
        return self


class AdvantageConfig(_Section):
    std_normalize: bool = Field(False, description="divide r - mean by the group std")
    eps: float = Field(1e-6, gt=0)


class RolloutConfig(_Section):
    """How rollouts are sampled and how many per step."""

    group_size: int = Field(16, ge=2, description="G: rollouts per question")
    questions_per_step: int = Field(8, ge=1, description="groups in one training step")
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    dynamic_sampling: bool = Field(False, description="drop zero-variance groups and refill")
    max_refill_rounds: int = Field(0, ge=0, description="extra sampling rounds to refill a step")
    budgets: Budgets = Field(
        default_factory=lambda: Budgets(chunk=5000),
        description="token budgets (memagent.config.Budgets; chunk 5000 unless given); a config "
        "may also write them flat, rollout.chunk / memory / output / query / window",
    )
    max_batch: int = Field(64, ge=1, description="requests per generate call (local backend)")
    merge_adapter: bool = Field(True, description="sample from a copy of a LoRA policy with "
        "its adapter merged in, made every step; false: from the wrapped policy itself")
    dtype: Literal["policy", "bfloat16"] = Field("policy", description="bfloat16: rollouts from a "
        "bfloat16 copy (native bf16 CPUs); the loss's old log-probs stay the policy's (docs/rl.md)")
    decoding: Literal["auto", "lookup", "plain"] = Field(
        "auto", description="lookup: drafts from the prompt checked several tokens per pass, "
        "tokens distributed as plain sampling's (llm/lookup_decode.py); plain: transformers' "
        "generate; auto: lookup on the CPU, plain on a GPU",
    )

    @model_validator(mode="before")
    @classmethod
    def _lift_budgets(cls, data: Any) -> Any:
        """Flat budget keys (`rollout: {chunk: 512}`) go into `budgets`, over the default chunk."""
        if not isinstance(data, dict):
            return data
        names = {f.name for f in fields(Budgets)}
        nested = data.get("budgets", {})
        if isinstance(nested, Budgets):
            nested = asdict(nested)
        if not isinstance(nested, dict):
            return data
        unknown = sorted(set(nested) - names)
        if unknown:
            raise ValueError(
                f"rollout.budgets: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(names))}"
            )
        flat = {k: v for k, v in data.items() if k in names}
        rest = {k: v for k, v in data.items() if k not in names}
        return {**rest, "budgets": Budgets(**{"chunk": 5000, **nested, **flat})}

    @model_validator(mode="after")
    def _check(self) -> RolloutConfig:
        if self.max_refill_rounds > 0 and not self.dynamic_sampling:
            raise ValueError(
                "rollout.max_refill_rounds > 0 only acts with rollout.dynamic_sampling: true; "
                "set dynamic_sampling: true or max_refill_rounds: 0"
            )
        return self


class OptimConfig(_Section):
    lr: float = Field(1e-6, gt=0)
    warmup_steps: int = Field(20, ge=0)
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = Field(1.0, description="max grad norm; null = no clipping")
    micro_batch_size: int = Field(2, ge=1, description="conversations per forward/backward")
    mini_batches: int = Field(1, ge=1, description="optimizer steps per rollout batch")
    minibatch_order: Literal["episode", "turn"] = Field(
        "episode",
        description="episode: mini-batches of whole episodes; turn: every conversation in turn "
        "order (first memory updates of all episodes, then second, ..., final answers last) cut "
        "into mini_batches contiguous near-equal slices, as the release's verl fork does",
    )
    warmup_per: Literal["optimizer_step", "training_step"] = Field(
        "optimizer_step", description="what warmup_steps counts (the release: training steps)"
    )
    warmup_from_zero: bool = Field(
        False, description="lr x step/warmup from 0 (verl); false: from 1/(warmup+1)"
    )
    autocast_bf16: bool = Field(False, description="the learner's forward and backward under "
        "bfloat16 autocast; weights and AdamW stay float32 (docs/rl.md)")

    @model_validator(mode="after")
    def _check(self) -> OptimConfig:
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"optim.grad_clip must be > 0 or null, got {self.grad_clip}")
        return self


class DataConfig(_Section):
    """The training task: generated needle documents, or `memagent data` JSONL files."""

    task: Literal["needle", "episodes", "file"] = Field(
        "needle", description="needle; episodes: the SFT task mix (data/episodes/); file: JSONL"
    )
    min_chunks: int = Field(2, ge=1, description="needle: fewest chunks per document")
    max_chunks: int = Field(4, ge=1, description="needle: most chunks per document")
    train_file: Path | None = Field(None, description="file: samples to train on")
    eval_file: Path | None = Field(None, description="file: held-out samples")
    eval_questions: int = Field(50, ge=1, description="held-out questions for before/after")
    max_document_tokens: int | None = Field(
        default=None,
        ge=2,
        description="centre-truncate every document, training and held-out, to its first and last "
        "max_document_tokens // 2 tokens of the policy's tokenizer (chunking.center_truncate), as "
        "the release does to training and validation contexts (8 x 5000); null = whole documents",
    )
    tasks: dict[str, float] | None = Field(
        None, description="episodes: task weights of the training and held-out questions "
        "(data/episodes/); None: TASK_WEIGHTS"
    )
    haystacks: tuple[str, ...] | None = Field(
        None, description="episodes: train haystack kinds drawn; None: all of them (the held-out "
        "questions keep the held-out haystacks)"
    )
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.task == "file" and (self.train_file is None or self.eval_file is None):
            raise ValueError("data.task: file needs data.train_file and data.eval_file (JSONL)")
        if (self.tasks is not None or self.haystacks is not None) and self.task != "episodes":
            raise ValueError(f"data.tasks and data.haystacks need data.task: episodes, not {self.task}")
        _check_episode_mix("data", self.tasks, self.haystacks)
        if self.min_chunks > self.max_chunks:
            raise ValueError(
                f"data.min_chunks ({self.min_chunks}) > data.max_chunks ({self.max_chunks}); "
                "lower min_chunks or raise max_chunks"
            )
        return self


class EvalConfig(_Section):
    """The held-out evaluation (eval_before, every eval_every steps, eval_after): how its answers
    are sampled. Default: one greedy rollout per question. The release validates with n = 4
    sampled rollouts per question (`val_kwargs`); its headline number, mean@4, is the mean reward
    over those samples, which `reward` reports here too."""

    samples_per_question: int = Field(default=1, ge=1, description="rollouts per held-out question")
    temperature: float = Field(default=0.0, ge=0, description="0 = greedy")
    top_p: float = Field(default=1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> EvalConfig:
        if self.samples_per_question > 1 and self.temperature == 0:
            raise ValueError(
                f"eval.samples_per_question is {self.samples_per_question} but eval.temperature is "
                "0 (greedy): every sample would be the same answer; set a temperature > 0 or "
                "samples_per_question: 1"
            )
        return self


class SFTConfig(_Section):
    """Supervised warm start (stage: sft): LoRA on oracle memory conversations (memagent/sft/)."""

    lora_rank: int = Field(32, ge=1)
    lora_alpha: int = Field(64, ge=1)
    lora_targets: tuple[str, ...] = (
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
    )  # fmt: skip
    lr: float = Field(4e-4, gt=0)
    min_lr: float = Field(4e-5, ge=0)
    warmup_steps: int = Field(10, ge=0)
    grad_accum: int = Field(4, ge=1, description="conversations per optimizer step")
    chunks: tuple[int, ...] = Field((256, 512, 512), description="chunk sizes drawn per episode")
    warm_chunks: tuple[int, ...] = Field((128, 256), description="chunk sizes before warm_steps")
    warm_steps: int = Field(0, ge=0, description="curriculum: optimizer steps on warm_chunks")
    max_chunks: int = Field(8, ge=1, description="most chunks per generated episode")
    haystacks: tuple[str, ...] | None = Field(
        None, description="train haystack kinds drawn (data/episodes/); None: all of them"
    )
    mix: dict[str, float] = Field(
        {"find": 0.5, "keep": 0.3, "final": 0.2}, description="conversation kinds drawn"
    )
    tasks: dict[str, float] | None = Field(
        None, description="episode task weights (data/episodes/); None: TASK_WEIGHTS"
    )
    decisive_weight: float = Field(3.0, ge=1, description="loss weight of the first reply token")
    autocast_bf16: bool = Field(False, description="bfloat16 autocast on CPU (avx512_bf16/AMX)")
    eval_every: int = Field(50, ge=0, description="greedy probe every N steps; 0 = never")
    eval_cases: int = Field(15, ge=3, description="probe conversations per split")

    @model_validator(mode="after")
    def _check(self) -> SFTConfig:
        if set(self.mix) - {"find", "keep", "final"} or sum(self.mix.values()) <= 0:
            raise ValueError("sft.mix takes weights for find, keep and final (sum > 0)")
        _check_episode_mix("sft", self.tasks, self.haystacks)
        return self


def _check_episode_mix(
    section: str, tasks: dict[str, float] | None, haystacks: tuple[str, ...] | None
) -> None:
    """Episode task weights and train haystacks, as SFT and RL's episodes task take them."""
    from memagent.data.episodes import TASK_WEIGHTS, TRAIN_HAYSTACKS

    if tasks is not None and (
        set(tasks) - set(TASK_WEIGHTS) or sum(tasks.values()) <= 0 or min(tasks.values()) < 0
    ):
        raise ValueError(
            f"{section}.tasks takes weights >= 0 (sum > 0) for {', '.join(TASK_WEIGHTS)}"
        )
    if unknown := set(haystacks or ()) - set(TRAIN_HAYSTACKS):
        raise ValueError(
            f"{section}.haystacks: unknown {sorted(unknown)}; choose from "
            f"{', '.join(TRAIN_HAYSTACKS)}"
        )


class TrainConfig(_Section):
    """Everything `memagent train --config FILE` reads."""

    stage: Literal["rl", "sft"] = Field("rl", description="rl: Multi-Conv DAPO; sft: warm start")
    preset: Literal["paper-release", "paper-release-14b", "dapo"] | None = None
    model: str | None = Field(None, description="model dir; null = the embedded SmolLM2-135M")
    adapter: Path | None = Field(
        None, description="LoRA adapter merged into the start model (RL from an SFT warm start)"
    )
    train_adapter: bool = Field(
        False,
        description="rl: train the `adapter:` LoRA itself (unmerged) instead of every weight, so the "
        "result ships as a small adapter",
    )
    output_dir: Path = Path("runs/rl")
    steps: int = Field(100, ge=1)
    save_every: int = Field(10, ge=1)
    eval_every: int = Field(0, ge=0, description="held-out eval every N steps; 0 = start/end only")
    seed: int = 0
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    gradient_checkpointing: bool = True
    profile: Literal["paper", "default", "smollm2-memagent"] = Field(
        "paper", description="prompt templates of the rollouts (profile.py rollout_templates)"
    )
    reward: Literal["boxed", "release_boxed", "contains"] = Field(
        "contains",
        description="boxed exact match (paper), release_boxed (the release's hotpotqa reward: last "
        "300 characters, lowercased, MATH strip_string) or gold-in-answer match",
    )
    loss: LossConfig = LossConfig()
    advantage: AdvantageConfig = AdvantageConfig()
    rollout: RolloutConfig = RolloutConfig()
    optim: OptimConfig = OptimConfig()
    data: DataConfig = DataConfig()
    eval: EvalConfig = EvalConfig()
    sft: SFTConfig = SFTConfig()

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.train_adapter and self.adapter is None:
            raise ValueError("train_adapter: true needs adapter: (the LoRA to continue training)")
        per_step = self.rollout.group_size * self.rollout.questions_per_step
        if self.optim.minibatch_order == "turn":  # every episode: >= 1 update + a final answer
            what, most = "conversations (at least 2 per episode)", 2 * per_step
        else:
            what, most = "episodes", per_step
        if self.optim.mini_batches > most:
            raise ValueError(
                f"optim.mini_batches ({self.optim.mini_batches}) exceeds the {most} {what} of a "
                "step (rollout.group_size * rollout.questions_per_step); lower it"
            )
        return self


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the section that holds the key at `loc`."""
    model: type[BaseModel] = TrainConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        ann = field.annotation if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    names = list(model.model_fields)
    if model is RolloutConfig:  # budgets may be written flat
        names += [f.name for f in fields(Budgets)]
    return names


def _explain(err: ValidationError, source: str) -> InputError:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(e["loc"])
            near = difflib.get_close_matches(str(e["loc"][-1]), allowed, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            msg = f"unknown key{hint}; allowed here: {', '.join(allowed)}"
        lines.append(f"{source}: key '{key}': {msg}")
    return InputError("invalid training config\n  " + "\n  ".join(lines))


def build_config(data: dict[str, Any], source: str = "<config>") -> TrainConfig:
    """Validate a config dict, applying its preset first."""
    from memagent.rl.presets import PRESETS

    preset = data.get("preset")
    if preset is not None and preset not in PRESETS:
        raise InputError(
            f"{source}: key 'preset': unknown preset {preset!r}; allowed: {', '.join(PRESETS)}"
        )
    merged = _deep_merge(PRESETS[preset], data) if preset else data
    try:
        return TrainConfig.model_validate(merged)
    except ValidationError as exc:
        raise _explain(exc, source) from exc


def load_config(path: Path) -> TrainConfig:
    """Read a YAML (.yaml/.yml) or TOML (.toml) training config, or say what is wrong with it."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"config {path} is a directory: give a .yaml or .toml file (e.g. "
                         "configs/rl/rl-smollm2-v6.yaml)")
    if not path.is_file():
        from memagent.sources import dangling_link

        why = dangling_link(path)
        raise InputError(f"config {why}" if why else f"config file not found: {path}"
                         if not path.exists() else
                         f"config {path} is not a regular file: give a .yaml or .toml file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InputError(f"cannot read config {path}: {why}") from None
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise InputError(f"{path}: config must end in .yaml, .yml or .toml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(
            f"{path}: the top level must be a mapping of keys, got {type(data).__name__}"
        )
    return build_config(data, str(path))
