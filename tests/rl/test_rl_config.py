"""RL config: presets, YAML/TOML loading, and errors that say the file, the key and the fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memagent.errors import InputError
from memagent.rl.config import TrainConfig, build_config, load_config
from memagent.rl.presets import PRESETS


def _leaves(tree: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*path, key))
        else:
            yield (*path, key), value


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_value_reaches_the_config(name: str) -> None:
    """Each key a preset sets arrives in the built config as the preset says (none dropped,
    renamed or overridden by a default on the way), whatever the preset's numbers are."""
    c = build_config({"preset": name})
    for path, value in _leaves(PRESETS[name]):
        got: Any = c
        for key in path:
            got = getattr(got, key)
        assert got == value, ".".join(path)


def test_presets_differ_where_the_recipes_do() -> None:
    """The released scripts: symmetric clip with a dual clip, a KL loss, plain r - mean, no
    zero-variance filter. DAPO: clip-higher, no KL, std-normalized advantages, dynamic sampling
    with refills."""
    release, dapo = build_config({"preset": "paper-release"}), build_config({"preset": "dapo"})
    assert release.loss.clip_low == release.loss.clip_high < dapo.loss.clip_high
    assert release.loss.dual_clip is not None and dapo.loss.dual_clip is None
    assert release.loss.kl_coef > 0 and dapo.loss.kl_coef == 0
    assert dapo.advantage.std_normalize and not release.advantage.std_normalize
    assert dapo.rollout.dynamic_sampling and dapo.rollout.max_refill_rounds > 0
    assert not release.rollout.dynamic_sampling


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
        ("preset: grpo\n", ["key 'preset'", "paper-release, paper-release-14b, dapo"]),
        ("rollout:\n  max_refill_rounds: 2\n", ["set dynamic_sampling: true"]),
        ("eval:\n  samples_per_question: 4\n", ["key 'eval'", "set a temperature > 0"]),
        ("eval:\n  top_k: 5\n", ["eval.top_k", "allowed here: samples_per_question"]),
        ("data:\n  max_document_tokens: 1\n", ["data.max_document_tokens", "greater than or"]),
        ("sft:\n  tasks: {vt_cod: 1.0}\n", ["sft.tasks takes weights", "vt_code"]),
        ("sft:\n  tasks: {vt: -1.0, single: 2.0}\n", ["sft.tasks takes weights >= 0"]),
        ("data:\n  tasks: {vt: 1.0}\n", ["data.tasks and data.haystacks need data.task: episodes"]),
        ("data:\n  task: episodes\n  haystacks: [devil]\n", ["data.haystacks: unknown ['devil']"]),
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


def test_rollout_budgets_are_budgets_flat_or_nested() -> None:
    from memagent.config import Budgets

    flat = build_config({"rollout": {"chunk": 512, "memory": 192, "window": 2048}})
    nested = build_config({"rollout": {"budgets": {"chunk": 512, "memory": 192, "window": 2048}}})
    assert flat.rollout.budgets == nested.rollout.budgets == Budgets(
        window=2048, chunk=512, memory=192
    )
    assert TrainConfig().rollout.budgets == Budgets(chunk=5000)  # the rollout default chunk
    again = build_config(flat.model_dump(mode="json"))  # `train --steps N` rebuilds from a dump
    assert again.rollout.budgets == flat.rollout.budgets
    with pytest.raises(InputError, match="unknown key 'junk'"):
        build_config({"rollout": {"budgets": {"junk": 1}}})
    with pytest.raises(InputError, match="budget 'window' must be >= 1"):
        build_config({"rollout": {"window": 0}})
    with pytest.raises(InputError, match=r"did you mean 'chunk'.*allowed here:.*window"):
        build_config({"rollout": {"chnk": 3}})


def test_rl_episodes_draw_the_configured_tasks_and_train_haystacks(tokenizer) -> None:
    """data.tasks weights both splits' episode tasks; data.haystacks picks the training split's
    sources only (held-out questions keep the held-out haystacks)."""
    from memagent.data.episodes import TRAIN_HAYSTACKS
    from memagent.rl.trainer import make_source

    data = {"task": "episodes", "min_chunks": 1, "max_chunks": 2, "tasks": {"vt_any": 1.0},
            "haystacks": ["noise", "pydoc"]}
    source = make_source(build_config({"data": data}), tokenizer, chunk=128)
    train, held = source.take(6), source.held_out(3)
    assert {q.meta["task"] for q in train + held} == {"vt_any"}
    assert {q.meta["haystack"] for q in train} <= {"noise", "pydoc"}
    assert not {q.meta["haystack"] for q in held} & set(TRAIN_HAYSTACKS)
    default = make_source(build_config({"data": {**data, "tasks": None, "haystacks": None}}),
                          tokenizer, chunk=128)
    assert len({q.meta["task"] for q in default.take(12)}) > 1


def test_every_shipped_config_validates() -> None:
    """The recipes under configs/rl/ are documentation people run: none may drift out of the
    schema (a renamed key would fail only when someone tried it)."""
    root = Path(__file__).resolve().parents[2] / "configs" / "rl"
    files = sorted(root.glob("*.yaml"))
    assert len(files) >= 10
    for path in files:
        load_config(path)
