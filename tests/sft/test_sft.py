"""SFT warm start and adapters (memagent/sft/), on a tiny random Llama with the real tokenizer
(seconds).

These check the machinery (loss on reply tokens only, resume, export, merge, errors); whether the
policy learns is measured by the committed runs under results/, not here.
"""

import json
from pathlib import Path

import pytest

from memagent.errors import InputError, ModelNotFound
from memagent.rl.config import build_config


@pytest.fixture
def tiny(tiny_llama_dir, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MEMAGENT_CACHE", str(tmp_path / "cache"))
    return tiny_llama_dir


def _cfg(model: Path, out: Path, steps: int, adapter: Path | None = None, **sft) -> object:
    return build_config(
        {
            "stage": "sft",
            "adapter": str(adapter) if adapter else None,
            "model": str(model),
            "output_dir": str(out),
            "steps": steps,
            "save_every": 1,
            "seed": 0,
            "sft": {
                "lora_rank": 4,
                "lora_alpha": 8,
                "grad_accum": 2,
                "chunks": [64],
                "max_chunks": 2,
                "warm_steps": 0,
                "eval_every": 2,
                "eval_cases": 3,
                "haystacks": ["noise", "pydoc", "code"],  # built in: no system package needed
                "warmup_steps": 1,
                **sft,
            },
        }
    )


def test_examples_are_pure_functions_of_seed_and_step(tokenizer, tiny, tmp_path):
    from memagent.sft.examples import example_for

    cfg = _cfg(tiny, tmp_path / "run", 2)
    a, b = example_for(cfg, tokenizer, 5, 1), example_for(cfg, tokenizer, 5, 1)
    assert a.prompt_ids == b.prompt_ids and a.reply_ids == b.reply_ids
    assert a.reply_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(a.reply_ids[:-1]) == a.reply


def test_loss_is_on_reply_tokens_with_the_decision_weighted(tokenizer, tiny, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from memagent.sft.examples import example_for, example_loss

    cfg = _cfg(tiny, tmp_path / "run", 2)
    model = AutoModelForCausalLM.from_pretrained(str(tiny))
    ex = example_for(cfg, tokenizer, 0, 0)
    loss1, w1 = example_loss(model, ex, 1.0, False)
    loss3, w3 = example_loss(model, ex, 3.0, False)
    assert w1 == len(ex.reply_ids) and w3 == w1 + 2
    ids = torch.tensor([ex.prompt_ids + ex.reply_ids])
    logits = model(input_ids=ids).logits[0, len(ex.prompt_ids) - 1 : -1]
    full = torch.nn.functional.cross_entropy(logits, torch.tensor(ex.reply_ids), reduction="sum")
    assert float(loss1) == pytest.approx(float(full), rel=1e-4)
    assert float(loss3) > float(loss1)


def test_sft_trains_checkpoints_resumes_and_exports(tokenizer, tiny, tmp_path):
    from safetensors.torch import load_file

    from memagent.sft import train_sft

    out = tmp_path / "run"
    train_sft(_cfg(tiny, out, 2), progress=False)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2] and "heldout/find_recall" in rows[0]
    assert (out / "checkpoints" / "step-000002" / "state.json").is_file()
    summary = train_sft(_cfg(tiny, out, 4), progress=False)  # resumes at step 2
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4]
    final = Path(summary["final"])
    weights = load_file(str(final / "adapter_model.safetensors"))
    assert weights and all(str(t.dtype) == "torch.float16" for t in weights.values())
    recipe = json.loads((final / "recipe.json").read_text())
    assert recipe["config"]["steps"] == 4 and len(recipe["adapter_sha256"]) == 64
    assert (out / "loss.png").stat().st_size > 1000


def _adapter(base: Path, out: Path, seed: int = 0) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(str(base)),
        LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    model.save_pretrained(str(out))
    return out


def test_adapter_is_merged_once_and_changes_the_model(tokenizer, tiny, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from memagent.llm.registry import resolve_model

    adapter = _adapter(tiny, tmp_path / "adapter")
    merged = resolve_model(str(tiny), adapter)
    assert merged != tiny and resolve_model(str(tiny), adapter) == merged  # cached
    ids = torch.tensor([tokenizer.encode("hello there")])
    base_logits = AutoModelForCausalLM.from_pretrained(str(tiny))(input_ids=ids).logits
    merged_logits = AutoModelForCausalLM.from_pretrained(str(merged))(input_ids=ids).logits
    assert not torch.allclose(base_logits, merged_logits)


def test_bad_adapters_are_one_line_errors(tokenizer, tiny, tmp_path):
    from memagent.llm.registry import resolve_model
    from rl_helpers import tiny_model_dir as make

    with pytest.raises(ModelNotFound, match=r"adapter .* not found"):
        resolve_model(str(tiny), tmp_path / "nowhere")
    corrupt = _adapter(tiny, tmp_path / "corrupt")
    (corrupt / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError, match="unreadable"):
        resolve_model(str(tiny), corrupt)
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    other = make(tokenizer, tmp_path / "other")
    cfg = LlamaConfig.from_pretrained(str(other))
    cfg.hidden_size, cfg.intermediate_size = 48, 96
    LlamaForCausalLM(cfg).save_pretrained(str(other))
    foreign = _adapter(other, tmp_path / "foreign")
    with pytest.raises(InputError, match="does not fit base model") as err:
        resolve_model(str(tiny), foreign)
    assert "\n" not in str(err.value)
    del torch


def test_missing_training_haystack_is_a_one_line_error_naming_the_package(monkeypatch, tmp_path):
    from memagent.data.episodes import haystacks
    from memagent.sft.train import _require_haystacks

    monkeypatch.setitem(haystacks.DICT_FILES, "gcide", tmp_path / "gcide.dict.dz")
    monkeypatch.setattr(haystacks, "FORTUNES_DIR", tmp_path / "fortunes")
    with pytest.raises(InputError, match=r"apt-get install .*dict-gcide.*fortunes") as err:
        _require_haystacks(None)
    assert "\n" not in str(err.value)
    _require_haystacks(("noise", "pydoc"))  # built-in sources need nothing


def test_unknown_haystack_in_config_is_refused(tiny, tmp_path):
    with pytest.raises(ValueError, match=r"unknown.*essay"):
        build_config({"stage": "sft", "sft": {"haystacks": ["noise", "essay"]}})


def test_sft_continues_from_a_start_adapter_and_refuses_another_rank(tokenizer, tiny, tmp_path):
    import torch
    from safetensors.torch import load_file

    from memagent.sft import train_sft

    first = tmp_path / "first"
    train_sft(_cfg(tiny, first, 1), progress=False)
    start = first / "final"
    # one step that cannot move the weights: the start adapter must come through unchanged
    train_sft(_cfg(tiny, tmp_path / "second", 1, start, lr=1e-12, min_lr=0.0), progress=False)
    a = load_file(str(start / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "second" / "final" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and any(float(t.abs().sum()) > 0 for t in a.values())
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-3) for k in a)
    recipe = json.loads((tmp_path / "second" / "final" / "recipe.json").read_text())
    assert len(recipe["start_adapter_sha256"]) == 64 and recipe["python"]
    wrong = _cfg(tiny, tmp_path / "third", 1, start, lora_rank=8)
    with pytest.raises(InputError, match=r"does not fit sft\.lora_rank") as err:
        train_sft(wrong, progress=False)
    assert "\n" not in str(err.value)
