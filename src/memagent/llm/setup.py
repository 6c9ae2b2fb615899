"""Model -> profile -> budgets, prompts, answer rule, sampling and dtype: one call for every front end.

`resolve_setup` is how the library (`memagent.ask`, `MemAgent(load_llm())`), `memagent ask`,
`memagent eval` and `memagent serve` build their agent, so the embedded model runs under the profile
its adapter was trained at (`smollm2-memagent`) whichever door it comes through:

    setup = resolve_setup(BackendOptions(), chunk=256)   # the embedded agent, one budget changed
    agent = setup.agent()                                # MemAgent(load_llm(setup.backend), setup.config)

A profile asked explicitly always wins (with a warning naming both where the model was not trained
for it, `memagent.profile.resolve_profile`); explicit budgets and sampling win over the profile's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from memagent.config import AgentConfig, Budgets
from memagent.llm import BackendOptions
from memagent.profile import DEFAULT, PROFILES, Profile, agent_config, resolve_profile

if TYPE_CHECKING:
    from memagent.loop.agent import MemAgent
    from memagent.types import LLM


@dataclass(frozen=True)
class AgentSetup:
    """A run resolved from its model up: the profile, the agent's config (budgets, prompts and
    answer rule, sampling) and the backend options with the dtype picked."""

    profile: Profile
    config: AgentConfig
    backend: BackendOptions

    @property
    def budgets(self) -> Budgets:
        return self.config.budgets

    def describe(self) -> str:
        """One line: the profile and its budgets as this run has them."""
        return self.profile.describe(self.budgets)

    def agent(self, llm: LLM | None = None) -> MemAgent:
        """The agent of this setup, on `llm` (default: `load_llm(self.backend)`)."""
        from memagent import llm as backends
        from memagent.loop.agent import MemAgent

        return MemAgent(llm if llm is not None else backends.load_llm(self.backend), self.config)


def model_profile(options: BackendOptions) -> str | None:
    """The name of the profile the options' model runs under when none is asked: the embedded
    profile for the embedded model (trained, or its base beside it, for comparison) when this
    build ships the trained adapter; None (memagent's default) for every other model and servers."""
    from memagent.llm.registry import embedded_adapter_dir

    embedded = options.base_url is None and options.model is None and options.adapter is None
    if embedded and embedded_adapter_dir() is not None:
        return "smollm2-memagent"
    return None


def model_label(options: BackendOptions) -> str:
    """The options' model as a warning names it (before it is loaded)."""
    from memagent.llm.registry import EMBEDDED_NAME
    from memagent.urls import strip_credentials

    if options.base_url is not None:
        return f"{options.model or 'the server model'} at {strip_credentials(options.base_url)}"
    if options.model is None:
        if options.base:
            return f"the embedded {EMBEDDED_NAME} without its adapter"
        return f"the embedded {EMBEDDED_NAME}" + (" with its adapter" if options.adapter is None
                                                   else f" + adapter {options.adapter}")
    return f"model {options.model}"


def pick_dtype(explicit: str | None, profile: Profile, device: str | None = None) -> str | None:
    """`explicit` (--dtype), else the profile's trained dtype where this machine runs it natively,
    else None (the backend's default by device)."""
    if explicit is not None or profile.dtype != "bfloat16":
        return explicit or profile.dtype
    import torch

    if (device or "").startswith("cuda") or (device is None and torch.cuda.is_available()):
        return None  # the backend already picks bfloat16 on a GPU that supports it
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return "bfloat16" if native else None


def backend_dtype(options: BackendOptions, profile: Profile | None = None) -> str | None:
    """The dtype to load with: options.dtype "auto" is `pick_dtype` under `profile` (default: the
    model's own), None the backend's default by device, anything else itself."""
    from memagent.llm.int8 import engine_dtype, pick_engine

    local = options.backend in ("auto", "transformers") and options.base_url is None
    if local and pick_engine(options) == "int8":  # int8 layers: an explicit other dtype is refused
        engine_dtype("int8", None, options.dtype)
        return "int8"
    if options.dtype != "auto":
        return options.dtype
    if profile is None:
        own = model_profile(options)
        profile = PROFILES[own] if own else DEFAULT
    return pick_dtype(None, profile, options.device)


def resolve_setup(
    options: BackendOptions | None = None,
    profile: str | Profile | None = "auto",
    *,
    window: int | None = None,
    query: int | None = None,
    chunk: int | None = None,
    memory: int | None = None,
    output: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    prompts: str | Path | None = None,
) -> AgentSetup:
    """The run for these backend options: the profile (`profile`, else "auto": the model's own),
    the budgets and sampling given here over the profile's, a prompts TOML file over its
    templates, and the weights' dtype (options.dtype "auto": the profile's where native)."""
    opts = options or BackendOptions()
    prof = resolve_profile(profile, model_profile(opts), model_label(opts))
    budgets = prof.budgets(window, query, chunk, memory, output)
    config = agent_config(prof, budgets, temperature, top_p, seed, prompts)
    return AgentSetup(prof, config, replace(opts, dtype=backend_dtype(opts, prof)))
