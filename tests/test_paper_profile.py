"""`--profile paper`: the release's window, prompts (whitespace included), answer rule, sampling."""

import pytest

from memagent.answer import AnswerRule, extract_release_answer
from memagent.config import AgentConfig
from memagent.errors import InputError
from memagent.loop.agent import MemAgent
from memagent.profile import PAPER, PROFILES
from memagent.prompts import PromptTemplates
from memagent.types import Completion
from scripted import ScriptedLLM


def test_paper_budgets_window_and_sampling():
    b = PAPER.budgets()
    assert (b.window, b.query, b.chunk, b.memory, b.output) == (8192 + 1024, 1024, 5000, 1024, 1024)
    assert (PAPER.sampling.temperature, PAPER.sampling.top_p) == (0.7, 0.95)
    s = PAPER.sampling_with(temperature=0.0)
    assert (s.temperature, s.top_p) == (0.0, 0.95)
    assert PROFILES["default"].sampling.temperature == 0.0


def test_paper_prompts_are_the_releases_whitespace_included():
    t = PAPER.templates
    update = t.memory_update_messages("Q?", "", "S")[-1]["content"]
    assert "\n\n<problem> \nQ?\n</problem>\n\n<memory>\nNo previous memory\n</memory>\n\n" in update
    assert update.endswith("<section>\nS\n</section>\n\nUpdated memory:\n")
    final = t.final_answer_messages("Q?", "M")[-1]["content"]
    assert final.startswith(
        "You are presented with a problem and a previous memory. Please answer the problem based "
        'on the previous memory and format your response as follows "Therefore, the answer is '
        '(insert answer here)".\n\n<problem> \nQ?\n</problem>\n\n<memory>\nM\n</memory>\n\n'
    )
    assert final.endswith("Your answer:\n") and t.answer_style == "answer_is"
    train_final = PAPER.rollout_templates.final_answer_messages("Q?", "M")[-1]["content"]
    assert "put the answer in \\boxed{}.\n\n<problem> \nQ?\n" in train_final
    assert PAPER.rollout_templates.answer_style == "boxed"
    # memagent's default templates keep no space after the tag
    assert "<problem>\nQ?" in PromptTemplates().final_answer_messages("Q?", "M")[-1]["content"]


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("Reasoning... Therefore, the answer is Paris.", "Paris"),
        ("Therefore, the answer is **Miller v. California**.", "Miller v. California"),
        ("the answer is A. Later the answer is B.", "B"),
        ("<think>the answer is X</think>So the answer is Y", "Y"),
        ("Therefore, The Answer Is Paris", None),  # case-sensitive, as released
        ("\\boxed{Paris}", None),  # no fallback: missing -> wrong
        ("the answer is .", None),
        ("", None),
    ],
)
def test_release_answer_rule(reply, answer):
    ex = extract_release_answer(reply)
    assert ex.answer == answer
    assert ex.rule is (AnswerRule.ANSWER_IS if answer else AnswerRule.NONE)


def test_answer_style_is_checked():
    with pytest.raises(InputError, match="answer_style must be one of boxed, answer_is"):
        PromptTemplates(answer_style="last_line")


class AnswersPlainly(ScriptedLLM):
    def generate(self, requests, sampling):
        out = []
        for req in requests:
            text = req.messages[-1]["content"]
            reply = "noted" if "<section>" in text else "I think \\boxed{42}, so the answer is 42."
            out.append(Completion(reply, 10, 5, "stop", 0.0))
        return out


def test_the_agent_applies_the_profiles_answer_rule(tokenizer):
    config = AgentConfig(budgets=PAPER.budgets(), templates=PAPER.templates)
    result = MemAgent(AnswersPlainly(tokenizer), config).ask("some text " * 50, "Q?")
    assert (result.answer, result.rule) == ("42", AnswerRule.ANSWER_IS)
    boxed = AgentConfig(budgets=PAPER.budgets(), templates=PAPER.rollout_templates)
    result = MemAgent(AnswersPlainly(tokenizer), boxed).ask("some text " * 50, "Q?")
    assert (result.answer, result.rule) == ("42", AnswerRule.BOXED)


class Records(ScriptedLLM):
    """Keeps every prompt; answers in both styles, so the profile's rule decides the answer."""

    def generate(self, requests, sampling):
        self.requests.extend(requests)
        return [Completion("I think \\boxed{41}, so the answer is 42.", 10, 5, "stop", 0.0)
                for _ in requests]


@pytest.mark.parametrize("method", ["full", "rag"])
def test_the_baselines_ask_and_score_as_the_release_does_under_the_paper_profile(tokenizer, method):
    from memagent.data import Sample
    from memagent.eval.methods import make_method

    sample = Sample(id="s", task="t", context="  Paris is in France.\n", question=" Where is Paris? ",
                    answers=["France"], metric="recall")
    for templates, expected in ((PAPER.templates, ("42", "answer_is")), (None, ("41", "boxed"))):
        config = AgentConfig(budgets=PAPER.budgets(), **({"templates": templates} if templates else {}))
        llm = Records(tokenizer)
        [prediction] = make_method(method, llm, config, tokenizer).predict([sample])
        assert (prediction.answer, prediction.rule) == expected
        prompt = llm.requests[0].messages[-1]["content"]
        if templates is None:  # memagent's own boxed prompt
            assert prompt.startswith("You are presented with a problem and a context.")
            continue
        # taskutils/memory_eval/utils/openai_api.py template_0shot, context and question stripped
        assert prompt == (
            "Please read the following text and answer the question below.\n\n<text>\n"
            "Paris is in France.\n</text>\n\nWhere is Paris?\n\nFormat your response as follows: "
            '"Therefore, the answer is (insert answer here)".'
        )


@pytest.mark.parametrize("command", ["ask", "eval"])
def test_unknown_profile_is_one_line_exit_3(tmp_path, capsys, command):
    from memagent.cli import main

    doc = tmp_path / "d.txt"
    doc.write_text("hello")
    args = {
        "ask": ["ask", str(doc), "-q", "Q?"],
        "eval": ["eval", "--tasks", "niah_single_1", "--lengths", "1k", "--out", str(tmp_path / "o")],
    }[command]
    with pytest.raises(SystemExit) as info:
        main([*args, "--profile", "papr"])
    err = capsys.readouterr().err
    assert info.value.code == 3
    assert err.strip() == "error: unknown profile 'papr'; use auto, default, paper, smollm2-memagent"


@pytest.mark.parametrize("method", ["full", "rag"])
def test_a_prompt_files_context_answer_is_what_the_baselines_ask(tokenizer, tmp_path, method):
    from memagent.data import Sample
    from memagent.eval.methods import make_method

    f = tmp_path / "p.toml"
    f.write_text('context_answer = "DOC[{context}] Q[{problem}] Answer in \\\\boxed{{}}."\n')
    config = AgentConfig(budgets=PAPER.budgets(), templates=PromptTemplates.from_file(f))
    sample = Sample(id="s", task="t", context="Paris is in {France}.\n", question="Where? ",
                    answers=["France"], metric="recall")
    llm = Records(tokenizer)
    [prediction] = make_method(method, llm, config, tokenizer).predict([sample])
    assert llm.requests[0].messages[-1]["content"] == (
        "DOC[Paris is in {France}.] Q[Where?] Answer in \\boxed{}."
    )
    assert (prediction.answer, prediction.rule) == ("41", "boxed")  # the file's answer_style


def test_a_context_answer_without_its_context_fails_at_load(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('context_answer = "Q: {problem}"\n')
    with pytest.raises(InputError, match="prompt template 'context_answer' lacks \\{context\\}"):
        PromptTemplates.from_file(f)
