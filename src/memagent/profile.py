"""Profiles: the budgets, prompts and sampling a model was trained or evaluated at, as defaults.

- `paper`: the release bit for bit. Budgets query 1024 / chunk 5000 / memory 1024 / output 1024 in
  the release's vLLM window, 8192 + 1024 = 9216 tokens; the release's prompts whitespace included
  (`<problem> `); its evaluation client's final prompt ("Therefore, the answer is ...") read with
  its rule (the text after "the answer is", no fallback) and its evaluation sampling (temperature
  0.7, top_p 0.95). RL rollouts use the release's training prompts (boxed final answer):
  `rollout_templates`.
- `default`: what memagent runs for any other model: the same budgets and window, memagent's
  templates (no space after `<problem>`, answer in \\boxed{} with reported fallbacks), greedy.
- `smollm2-memagent`: the embedded SmolLM2-135M memory agent, trained on short chunks with a
  copy-the-sentence memory and a short keep reply (data/episodes/); run with anything else, it is
  an untrained policy again.
A profile only supplies defaults: explicit --chunk/--memory/--temperature/... still win.

`resolve_profile` picks one for a model (its own, or the one asked: an explicit profile always wins,
with a warning naming both when the model was not trained for it) and `agent_config` turns it into
the run's AgentConfig; `memagent.llm.setup.resolve_setup` does both, with the dtype, for every front
end (the library, ask, eval, serve).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from memagent.config import AgentConfig, Budgets
from memagent.errors import InputError
from memagent.prompts import (
    RELEASE_CONTEXT_ANSWER,
    RELEASE_FINAL_ANSWER_IS,
    RELEASE_FINAL_BOXED,
    RELEASE_MEMORY_UPDATE,
    PromptTemplates,
)
from memagent.types import SamplingParams

RELEASE_WINDOW = 8192 + 1024  # run_memory_7B.sh: vLLM max length = MAXLEN + MAX_NEW_TOKEN

EMBEDDED_MEMORY_UPDATE = """You read a long text one section at a time and keep a memory of the sentences that help answer a problem.

<problem>
{problem}
</problem>

<memory>
{memory}
</memory>

<section>
{chunk}
</section>

Problem: {problem}
If the section contains sentences that help answer the problem, reply with the updated memory: the lines already in the memory, then each new helpful sentence copied word for word on its own line. If the section adds nothing, reply KEEP.
Updated memory:
"""

EMBEDDED_FINAL_ANSWER = """Answer the problem using only the memory. Put the answer inside \\boxed{{}}.

<problem>
{problem}
</problem>

<memory>
{memory}
</memory>

Your answer:
"""


@dataclass(frozen=True)
class Profile:
    name: str
    window: int
    query: int
    chunk: int | None
    memory: int
    output: int
    templates: PromptTemplates
    # The dtype the model was trained in, used where the hardware runs it natively (None: backend's
    # default). The embedded agent was trained under bfloat16 autocast.
    dtype: str | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)  # evaluation / ask sampling
    # Prompts of RL rollouts where they differ from `templates` (the release trains with a boxed
    # final answer and evaluates with "the answer is"); None: `templates`.
    train_templates: PromptTemplates | None = None

    @property
    def rollout_templates(self) -> PromptTemplates:
        return self.train_templates if self.train_templates is not None else self.templates

    def sampling_with(
        self, temperature: float | None = None, top_p: float | None = None, seed: int | None = None
    ) -> SamplingParams:
        """The profile's sampling with the caller's explicit values taking precedence."""
        return SamplingParams(
            temperature=temperature if temperature is not None else self.sampling.temperature,
            top_p=top_p if top_p is not None else self.sampling.top_p,
            seed=seed if seed is not None else self.sampling.seed,
        )

    def budgets(
        self,
        window: int | None = None,
        query: int | None = None,
        chunk: int | None = None,
        memory: int | None = None,
        output: int | None = None,
    ) -> Budgets:
        """The profile's budgets with the caller's explicit values taking precedence."""
        return Budgets(
            window=window if window is not None else self.window,
            query=query if query is not None else self.query,
            chunk=chunk if chunk is not None else self.chunk,
            memory=memory if memory is not None else self.memory,
            output=output if output is not None else self.output,
        )

    def describe(self, budgets: Budgets) -> str:
        return (
            f"profile {self.name}: window {budgets.window}, query {budgets.query}, chunk "
            f"{budgets.chunk if budgets.chunk is not None else 'auto'}, memory {budgets.memory}, "
            f"output {budgets.output}"
        )


PAPER = Profile(
    "paper",
    window=RELEASE_WINDOW,
    query=1024,
    chunk=5000,
    memory=1024,
    output=1024,
    templates=PromptTemplates(
        memory_update=RELEASE_MEMORY_UPDATE,
        final_answer=RELEASE_FINAL_ANSWER_IS,
        empty_reply="clear",
        answer_style="answer_is",
        context_answer=RELEASE_CONTEXT_ANSWER,
    ),
    sampling=SamplingParams(temperature=0.7, top_p=0.95),  # taskutils/memory_eval/run.py
    train_templates=PromptTemplates(
        memory_update=RELEASE_MEMORY_UPDATE, final_answer=RELEASE_FINAL_BOXED, empty_reply="clear"
    ),
)
DEFAULT = Profile("default", RELEASE_WINDOW, 1024, 5000, 1024, 1024, PromptTemplates())
EMBEDDED = Profile(
    "smollm2-memagent",
    window=2048,
    query=256,
    chunk=512,
    memory=192,
    output=128,
    templates=PromptTemplates(
        memory_update=EMBEDDED_MEMORY_UPDATE,
        final_answer=EMBEDDED_FINAL_ANSWER,
        empty_memory="No relevant information yet.",
        keep_reply="KEEP",
        hygiene="extractive",
        answer_grounding="memory",
    ),
    dtype="bfloat16",
)
PROFILES = {p.name: p for p in (DEFAULT, PAPER, EMBEDDED)}


class ProfileWarning(UserWarning):
    """A profile asked of a model it was not trained for (the asked one is used)."""


def resolve_profile(
    asked: str | Profile | None, model_profile: str | None, model: str = "this model"
) -> Profile:
    """The profile a run uses: `asked` (a name or a Profile) when given, else (None or "auto") the
    model's own (`model_profile`, the name of the profile it was trained at; None: `DEFAULT`).

    An explicit profile always wins; asked of a model that was trained at another profile, or
    the embedded agent's profile asked of another model, it warns (ProfileWarning) naming both.
    """
    own = PROFILES[model_profile] if model_profile else DEFAULT
    if asked is None or asked == "auto":
        return own
    if isinstance(asked, Profile):
        profile = asked
    elif asked in PROFILES:
        profile = PROFILES[asked]
    else:
        raise InputError(f"unknown profile {asked!r}; use auto, {', '.join(PROFILES)}")
    if profile.name != own.name and (own is not DEFAULT or profile is EMBEDDED):
        warnings.warn(
            f"{model} was not trained for profile {profile.name} (its own: {own.name}); "
            f"running it under {profile.name} as asked",
            ProfileWarning,
            stacklevel=3,
        )
    return profile


def agent_config(
    profile: Profile,
    budgets: Budgets | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    prompts: str | Path | None = None,
) -> AgentConfig:
    """The run's AgentConfig from a profile: `budgets` (default: the profile's), the explicit
    sampling values over the profile's sampling, a prompts TOML file over its templates."""
    return AgentConfig(
        budgets=budgets if budgets is not None else profile.budgets(),
        sampling=profile.sampling_with(temperature, top_p, seed),
        templates=(PromptTemplates.from_file(Path(prompts), base=profile.templates) if prompts
                   else profile.templates),
    )
