"""Profiles (trained budgets as defaults), the keep reply, and the problem counted per repeat."""

import pytest

from memagent.config import AgentConfig, Budgets
from memagent.errors import BudgetError, InputError
from memagent.loop.agent import MemAgent
from memagent.profile import DEFAULT, EMBEDDED, PAPER, PROFILES
from memagent.types import Completion
from scripted import ScriptedLLM


def test_explicit_budgets_override_the_profile():
    b = EMBEDDED.budgets(chunk=256)
    assert (b.window, b.query, b.chunk, b.memory, b.output) == (2048, 256, 256, 192, 128)
    assert PAPER.budgets().chunk == 5000 and PAPER.budgets(memory=64).memory == 64
    assert "chunk 256" in EMBEDDED.describe(b)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profiles_defaults_fit_its_window(tokenizer, name):
    """A profile's budgets fit its own window as they are: nothing shrinks, nothing is refused,
    with the prompts it asks with and the prompts its RL rollouts use."""
    prof = PROFILES[name]
    for templates in (prof.templates, prof.rollout_templates):
        resolved = prof.budgets().resolve(tokenizer, templates)
        assert resolved.chunk == prof.chunk


def test_budgets_defaults_fit_with_the_paper_chunk(tokenizer):
    from memagent.prompts import PromptTemplates

    assert Budgets().resolve(tokenizer, PromptTemplates()).chunk == 5000


def test_problem_shown_twice_is_budgeted_twice(tokenizer):
    t = EMBEDDED.templates
    assert t.problem_repeats == 2
    room = 2048 - t.problem_repeats * 256 - 2 * 192
    with pytest.raises(BudgetError, match="lower --chunk"):
        Budgets(window=2048, query=256, chunk=room, memory=192).resolve(tokenizer, t)


class KeepThenFact(ScriptedLLM):
    """Replies KEEP to every section without 'magic'; copies the magic line otherwise."""

    def generate(self, requests, sampling):
        out = []
        for req in requests:
            text = req.messages[-1]["content"]
            section = (
                text.split("<section>\n")[-1].split("\n</section>")[0]
                if "<section>" in text
                else ""
            )
            if "<section>" not in text:
                reply = "\\boxed{" + text.split("magic numbers for tasty-apple is: ")[-1][:7] + "}"
            else:
                lines = [ln for ln in section.splitlines() if "magic" in ln]
                reply = lines[0] if lines else "KEEP"
            out.append(Completion(reply, 10, len(self.tokenizer.encode(reply)), "stop", 0.0))
        return out


def test_keep_reply_leaves_memory_unchanged_and_is_recorded(tokenizer):
    from test_agent import needle_doc

    config = AgentConfig(
        budgets=Budgets(window=2048, query=256, chunk=64, memory=96, output=32),
        templates=EMBEDDED.templates,
    )
    llm = KeepThenFact(tokenizer)
    result = MemAgent(llm, config).ask(needle_doc("4821937", at=10), "What is the magic number?")
    steps = [s for s in result.steps if s.kind == "memory"]
    first_fact = next(i for i, s in enumerate(steps) if not s.kept)
    assert all(s.kept and s.memory == "" for s in steps[:first_fact])
    assert all(s.kept for s in steps[first_fact + 1 :])
    assert all("4821937" in s.memory for s in steps[first_fact:])
    assert result.answer == "4821937"


def test_empty_memory_line_and_keep_come_from_the_templates(tokenizer):
    msgs = EMBEDDED.templates.memory_update_messages("Q?", "", "text")
    assert "No relevant information yet." in msgs[-1]["content"]
    assert msgs[-1]["content"].count("Q?") == 2
    keep = EMBEDDED.templates.is_keep
    assert keep(" KEEP\n") and keep("KEEP, v.\nA line") and keep("KEEP it")
    assert not keep("KEEPER, n.") and not keep("KEEP_ALL") and not keep("A line\nKEEP")
    assert not PAPER.templates.is_keep("KEEP")


def test_the_model_picks_its_profile_and_an_explicit_one_wins():
    from memagent.llm import BackendOptions
    from memagent.llm.registry import embedded_adapter_dir
    from memagent.llm.setup import resolve_setup

    def pick(name, **options):
        return resolve_setup(BackendOptions(**options), name).profile

    shipped = embedded_adapter_dir() is not None
    assert pick("auto") is (EMBEDDED if shipped else DEFAULT)
    assert pick("auto", base=True) is (EMBEDDED if shipped else DEFAULT)
    assert pick("auto", model="/some/model") is DEFAULT
    assert pick("auto", base_url="http://127.0.0.1:9/v1") is DEFAULT
    assert pick("paper", model="/some/model") is PAPER
    with pytest.raises(InputError, match="unknown profile 'fast'; use auto, default, paper"):
        pick("fast")


class EmptyAfterFirst(ScriptedLLM):
    """Scripted replies, except that every memory update after the first is blank."""

    def generate(self, requests, sampling):
        out = super().generate(requests, sampling)
        for req, c in zip(requests, out, strict=True):
            if self.calls > 1 and "<section>" in req.messages[-1]["content"]:
                c.text = "  \n"
        return out


def test_an_empty_memory_reply_keeps_the_previous_memory(tokenizer):
    from test_agent import SMALL, needle_doc

    result = MemAgent(EmptyAfterFirst(tokenizer), SMALL).ask(
        needle_doc("4821937", at=1), "What is the magic number?"
    )
    steps = [s for s in result.steps if s.kind == "memory"]
    assert "4821937" in steps[0].memory
    assert all(s.kept and s.memory == steps[0].memory for s in steps[1:])


def test_the_paper_profile_clears_the_memory_on_an_empty_reply_as_the_release_does(tokenizer):
    from dataclasses import replace

    from test_agent import SMALL, needle_doc

    config = replace(SMALL, templates=replace(SMALL.templates, empty_reply="clear"))
    result = MemAgent(EmptyAfterFirst(tokenizer), config).ask(
        needle_doc("4821937", at=1), "What is the magic number?"
    )
    steps = [s for s in result.steps if s.kind == "memory"]
    assert "4821937" in steps[0].memory
    assert all(not s.kept and s.memory == "" for s in steps[1:])
    assert PAPER.templates.empty_reply == PAPER.rollout_templates.empty_reply == "clear"
    assert EMBEDDED.templates.empty_reply == DEFAULT.templates.empty_reply == "keep"
    with pytest.raises(InputError, match="empty_reply must be one of keep, clear, not 'wipe'"):
        replace(SMALL.templates, empty_reply="wipe")


def test_dtype_is_the_flag_else_the_profiles_where_native():
    import torch

    from memagent.llm.setup import pick_dtype

    assert pick_dtype("float32", EMBEDDED) == "float32"
    assert pick_dtype(None, PAPER) is None
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert pick_dtype(None, EMBEDDED, "cpu") == ("bfloat16" if native else None)
    assert pick_dtype(None, EMBEDDED, "cuda:0") is None
