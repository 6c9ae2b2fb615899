"""Shared fixtures. The real embedded model is loaded once per test session (slow tests only)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fault_server import fault_server  # noqa: F401  (rule-following server that fails on cue)
from server import openai_server  # noqa: F401  (real OpenAI-compatible server fixture)

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def embedded_model_dir() -> Path:
    """The embedded SmolLM2 model converted to safetensors (cached in the user's cache dir)."""
    from memagent.llm.registry import resolve_model

    return resolve_model(None)


@pytest.fixture(scope="session")
def tokenizer(embedded_model_dir: Path):
    """The embedded model's real tokenizer (fast; no model weights loaded)."""
    from memagent.llm.hf_tokenizer import load_tokenizer

    return load_tokenizer(str(embedded_model_dir))


@pytest.fixture(scope="session")
def embedded_llm(embedded_model_dir: Path):
    """The real embedded model on the transformers backend, loaded once."""
    from memagent.llm.transformers_backend import TransformersLLM

    return TransformersLLM.load(str(embedded_model_dir))


@pytest.fixture
def tiny_llama_dir(tokenizer, tmp_path: Path) -> Path:
    """A 2-layer random Llama over the embedded tokenizer, saved as an HF model directory: real
    model code in seconds, never evidence that anything works (rl_helpers.tiny_llama)."""
    from rl_helpers import tiny_model_dir

    return tiny_model_dir(tokenizer, tmp_path / "tiny")


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # `ask` and `eval` read a server and key from these (as OpenAI clients do): a developer's own
    # settings must not send the suite's runs to their server.
    for var in ("MEMAGENT_BASE_URL", "OPENAI_BASE_URL", "MEMAGENT_API_KEY", "OPENAI_API_KEY"):
        os.environ.pop(var, None)
