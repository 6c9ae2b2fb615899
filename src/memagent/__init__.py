"""memagent: read documents of any length with a small-window LLM and an overwritten memory."""

# First: the `memagent` command exits cleanly on a Ctrl-C while it is still importing.
from memagent import _startup  # noqa: F401
from memagent.answer import AnswerRule, extract_answer
from memagent.config import AgentConfig, Budgets
from memagent.errors import BackendError, BudgetError, InputError, MemAgentError
from memagent.llm import BackendOptions, load_llm
from memagent.loop.agent import MemAgent
from memagent.loop.job import Job, Result, Step
from memagent.prompts import Layout, PromptTemplates
from memagent.types import LLM, ChatRequest, Completion, SamplingParams

__all__ = [
    "LLM",
    "AgentConfig",
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
    "PromptTemplates",
    "Result",
    "SamplingParams",
    "Step",
    "extract_answer",
    "load_llm",
]
__version__ = "0.1.0"
