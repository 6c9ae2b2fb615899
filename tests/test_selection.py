"""Selection instead of free generation (memagent.selection): candidates, the choice, the job."""

from dataclasses import replace

import pytest

from memagent.config import AgentConfig, Budgets
from memagent.errors import InputError
from memagent.loop.agent import MemAgent
from memagent.prompts import PromptTemplates
from memagent.selection import best, candidates
from memagent.types import Completion

NEEDLE = "One of the special magic numbers for crystal-mango is: 1234567."
CHUNK = f"Among the Greeks a coffin ate bodies. It was stone.\n{NEEDLE}\nMore text follows."


def test_candidates_are_keep_then_one_reply_per_new_sentence():
    assert candidates(CHUNK, "", "KEEP") == [
        "KEEP", "Among the Greeks a coffin ate bodies.", "It was stone.", NEEDLE,
        "More text follows."]
    assert candidates(". \n...\nWord.", "", "KEEP") == ["KEEP", "Word."]  # nothing to read: not offered
    memory = "It was stone."
    got = candidates(CHUNK, memory, "KEEP")
    assert got[0] == "KEEP" and len(got) == 4  # the sentence the memory holds is not offered
    assert got[1] == f"{memory}\nAmong the Greeks a coffin ate bodies."
    assert candidates(CHUNK, "", "KEEP", fits=lambda r: len(r) < 15) == [
        "KEEP", "It was stone."]


def test_best_is_the_argmax_and_a_tie_goes_to_keep():
    assert best([-3.0, -1.0, -2.0]) == 1
    assert best([-1.0, -1.0]) == 0
    with pytest.raises(ValueError):
        best([])


def test_select_needs_a_keep_reply():
    with pytest.raises(InputError, match="decision 'select' needs a keep_reply"):
        PromptTemplates(decision="select")
    with pytest.raises(InputError, match="decision must be one of"):
        PromptTemplates(decision="beam")


class ScoringLLM:
    """Scores a candidate 0 if its new line has 'magic', -1 for the keep reply, -5 otherwise."""

    name, dtype, scheduling, max_concurrency, can_score = "scoring", "none", "rounds", None, True

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.requests = []

    def resolve_model(self):
        return self.name

    def cancel_pending(self):
        pass

    def generate(self, requests, sampling):
        out = []
        for r in requests:
            self.requests.append(r)
            if r.candidates:
                scores = [0.0 if "magic" in c.splitlines()[-1] else -1.0 if c == "KEEP"
                          else -5.0 for c in r.candidates]
                out.append(Completion("", 10, 0, scores=scores))
            else:
                out.append(Completion("\\boxed{1234567}", 10, 5))
        return out


SELECT = AgentConfig(
    budgets=Budgets(window=2048, query=256, chunk=64, memory=96, output=32),
    templates=PromptTemplates(keep_reply="KEEP", decision="select", hygiene="extractive"),
)
DOC = ("The grass is green. The sky is blue.\n" * 12 + NEEDLE + "\n"
       + "The grass is green. The sky is blue.\n" * 12)


def test_job_keeps_the_most_probable_candidate_and_records_the_choice(tokenizer):
    llm = ScoringLLM(tokenizer)
    result = MemAgent(llm, SELECT).ask(DOC, "What is the magic number for crystal-mango?")
    memory_steps = [s for s in result.steps if s.kind == "memory"]
    assert result.memory == NEEDLE and result.answer == "1234567"
    assert all(s.selection is not None for s in memory_steps)
    chosen = [s for s in memory_steps if s.selection and s.selection["chosen"] > 0]
    assert len(chosen) == 1 and chosen[0].memory == NEEDLE  # once held, it is never offered again
    assert all(r.candidates[0] == "KEEP" for r in llm.requests if r.candidates)
    assert "selection" in memory_steps[0].to_json()


def test_select_on_a_backend_that_cannot_score_is_one_clear_error(tokenizer):
    from scripted import ScriptedLLM

    with pytest.raises(InputError, match="decision 'select' needs a backend that scores"):
        MemAgent(ScriptedLLM(tokenizer), SELECT)
    off = replace(SELECT, templates=replace(SELECT.templates, decision="generate"))
    assert all("selection" not in s.to_json() for s in
               MemAgent(ScriptedLLM(tokenizer), off).ask(DOC, "magic?").steps)


@pytest.mark.slow
def test_scores_equal_a_full_forward_pass(embedded_llm):
    """One prefill + batched candidates gives each candidate's log-probability as a forward pass
    over prompt + candidate does (float32)."""
    import torch

    from memagent.llm.candidates import score_candidates

    llm = embedded_llm
    prompt = llm.tokenizer.chat_ids(({"role": "user", "content": f"Copy the number. {NEEDLE}"},))
    end = [llm.tokenizer.eos_token_id]
    conts = [llm.tokenizer.encode(t) + end for t in ("KEEP", NEEDLE, "1234567", "x")]
    got = score_candidates(llm.model, prompt, conts, llm.pad_id, max_batch=3)
    for c, score in zip(conts, got, strict=True):
        ids = torch.as_tensor(prompt + c)[None]
        with torch.inference_mode():
            lp = torch.log_softmax(llm.model(input_ids=ids).logits[0].float(), -1)
        want = sum(float(lp[len(prompt) - 1 + j, t]) for j, t in enumerate(c))
        assert score == pytest.approx(want, abs=2e-3)
    assert got[1] > got[3]  # the copied sentence is more probable than a stray token
