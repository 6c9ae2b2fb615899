"""memagent: read documents of any length with a small-window LLM and an overwritten memory."""

from collections.abc import Iterable
from typing import Any

# First: the `memagent` command exits cleanly on a Ctrl-C while it is still importing.
from memagent import _startup  # noqa: F401
from memagent.answer import AnswerRule, extract_answer
from memagent.config import AgentConfig, Budgets
from memagent.errors import BackendError, BudgetError, InputError, MemAgentError
from memagent.llm import BackendOptions, load_llm
from memagent.llm.setup import AgentSetup, resolve_setup
from memagent.loop.agent import MemAgent
from memagent.loop.job import Job, Result, Step
from memagent.profile import PROFILES, Profile, ProfileWarning
from memagent.prompts import Layout, PromptTemplates
from memagent.types import LLM, ChatRequest, Completion, SamplingParams

__all__ = [
    "LLM",
    "PROFILES",
    "AgentConfig",
    "AgentSetup",
    "AnswerRule",
    "BackendError",
    "BackendOptions",
    "BudgetError",
    "Budgets",
    "ChatRequest",
    "Completion",
    "InputError",
    "Job",
    "Layout",
    "MemAgent",
    "MemAgentError",
    "Profile",
    "ProfileWarning",
    "PromptTemplates",
    "Result",
    "SamplingParams",
    "Step",
    "ask",
    "extract_answer",
    "load_llm",
    "resolve_setup",
]
__version__ = "0.1.0"


def ask(
    document: str | Iterable[str],
    question: str,
    options: BackendOptions | None = None,
    *,
    profile: str | Profile | None = "auto",
    **overrides: Any,
) -> Result:
    """Answer `question` about `document` (a string, or an iterable of text blocks) the way
    `memagent ask` does: the model of `options` (default: the embedded agent) under its profile
    (the one it was trained at) unless `profile` names another; `overrides` are `resolve_setup`'s
    (window, query, chunk, memory, output, temperature, top_p, seed, prompts). Loads the model on
    every call: to ask many, keep `resolve_setup(...).agent()` and call its `ask`."""
    return resolve_setup(options, profile, **overrides).agent().ask(document, question)
