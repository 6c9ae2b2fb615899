"""RL config: presets, YAML/TOML loading, and errors that say the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from memagent.errors import InputError
from memagent.rl.config import TrainConfig, build_config, load_config


def test_paper_release_preset_matches_the_released_scripts() -> None:
    c = build_config({"preset": "paper-release"})
    assert (c.loss.clip_low, c.loss.clip_high, c.loss.dual_clip) == (0.2, 0.2, 3.0)
    assert c.loss.kl_coef == 0.001 and c.loss.aggregation == "token"
    assert not c.advantage.std_normalize and not c.rollout.dynamic_sampling
    assert (c.optim.lr, c.optim.warmup_steps, c.optim.weight_decay) == (1e-6, 20, 0.01)
    assert c.reward == "boxed"


def test_dapo_preset() -> None:
    c = build_config({"preset": "dapo"})
    assert (c.loss.clip_low, c.loss.clip_high, c.loss.kl_coef) == (0.2, 0.28, 0.0)
    assert c.rollout.dynamic_sampling and c.rollout.max_refill_rounds > 0


def test_file_keys_override_the_preset(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("preset: dapo\nsteps: 7\nloss:\n  clip_high: 0.3\n")
    c = load_config(f)
    assert (c.steps, c.loss.clip_high, c.loss.clip_low) == (7, 0.3, 0.2)


def test_toml_is_accepted(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('preset = "paper-release"\n[rollout]\ngroup_size = 4\n')
    assert load_config(f).rollout.group_size == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("loss:\n  clip_hihg: 0.3\n", ["c.yaml", "loss.clip_hihg", "did you mean 'clip_high'"]),
        ("loss:\n  dual_clip: 0.5\n", ["c.yaml", "dual_clip must be > 1"]),
        ("rollout:\n  group_size: 1\n", ["rollout.group_size", "greater than or equal to 2"]),
        ("loss:\n  aggregation: sample\n", ["loss.aggregation", "'token' or 'episode'"]),
        ("preset: grpo\n", ["key 'preset'", "paper-release, dapo"]),
        ("rollout:\n  max_refill_rounds: 2\n", ["set dynamic_sampling: true"]),
        ("- a\n- b\n", ["top level must be a mapping"]),
        ("loss: [\n", ["not valid YAML"]),
    ],
)
def test_errors_name_file_key_and_what_is_allowed(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(InputError) as info:
        load_config(f)
    for piece in expected:
        assert piece in str(info.value)


def test_defaults_validate() -> None:
    assert TrainConfig().loss.aggregation == "token"
