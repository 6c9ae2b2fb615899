import re

import pytest

from memagent.errors import InputError
from memagent.prompts import NO_MEMORY, Layout, PromptTemplates


def test_memory_update_contains_all_parts_in_paper_order():
    [msg] = PromptTemplates().memory_update_messages("Q?", "", "CHUNK")
    text = msg["content"]
    assert (
        text.index("<problem>\nQ?")
        < text.index(f"<memory>\n{NO_MEMORY}")
        < text.index("<section>\nCHUNK")
    )
    assert text.rstrip().endswith("Updated memory:")


def test_final_prompt_has_no_section_and_asks_for_boxed():
    [msg] = PromptTemplates().final_answer_messages("Q?", "mem")
    assert "<section>" not in msg["content"] and "\\boxed{}" in msg["content"]


def test_braces_and_placeholders_inside_documents_are_left_alone():
    [msg] = PromptTemplates().memory_update_messages(
        "{memory}?", "m {chunk}", "code { x } {problem}"
    )
    text = msg["content"]
    assert "<problem>\n{memory}?" in text and "m {chunk}" in text and "code { x } {problem}" in text


def test_chunk_first_layout_puts_section_first():
    [msg] = PromptTemplates.for_layout(Layout.CHUNK_FIRST).memory_update_messages("Q", "M", "C")
    assert msg["content"].index("<section>") < msg["content"].index("<problem>")


def test_templates_from_file(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('memory_update = "P={problem} M={memory} C={chunk}"\nsystem = "be brief"\n')
    t = PromptTemplates.from_file(f)
    msgs = t.memory_update_messages("q", "m", "c")
    assert msgs[0] == {"role": "system", "content": "be brief"}
    assert msgs[1]["content"] == "P=q M=m C=c"


def test_bad_template_files_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="lacks \\{chunk\\}"):
        PromptTemplates(memory_update="{problem} {memory}")
    f = tmp_path / "bad.toml"
    f.write_text("memory_update = ")
    with pytest.raises(InputError, match="not valid TOML"):
        PromptTemplates.from_file(f)
    f.write_text('colour = "x"\n')
    with pytest.raises(InputError, match="unknown keys"):
        PromptTemplates.from_file(f)
    with pytest.raises(InputError, match="not found"):
        PromptTemplates.from_file(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("memory_update = 42", "'memory_update' must be a string, not an integer"),
        ("system = 5", "'system' must be a string, not an integer"),
        ("keep_reply = true", "'keep_reply' must be a string, not a boolean"),
        ("[final_answer]\ntext = 'x'", "'final_answer' must be a string, not a table"),
        ("empty_memory = ['a']", "'empty_memory' must be a string, not an array"),
    ],
)
def test_template_values_must_be_strings(tmp_path, text, message):
    f = tmp_path / "p.toml"
    f.write_text(text)
    with pytest.raises(InputError, match=message):
        PromptTemplates.from_file(f)


def test_a_directory_or_non_utf8_prompt_file_is_named(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        PromptTemplates.from_file(tmp_path)
    f = tmp_path / "latin1.toml"
    f.write_bytes(b'system = "caf\xe9"')
    with pytest.raises(InputError, match="not valid TOML"):
        PromptTemplates.from_file(f)
    with pytest.raises(InputError, match="'system' must be a string"):
        PromptTemplates(system=5)  # type: ignore[arg-type]


def test_a_prompt_file_sets_the_empty_reply_rule(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('empty_reply = "clear"\n')
    assert PromptTemplates.from_file(f).empty_reply == "clear"
    f.write_text('empty_reply = "wipe"\n')
    with pytest.raises(InputError, match="empty_reply must be one of keep, clear"):
        PromptTemplates.from_file(f)


def test_a_prompt_file_layers_over_the_profiles_templates(tmp_path):
    """--prompts changes the keys it names; the rest (and the answer rule) stay the profile's."""
    from memagent.config import Budgets
    from memagent.profile import PAPER, agent_config

    f = tmp_path / "p.toml"
    f.write_text('final_answer = "Q {problem} M {memory} Therefore, the answer is"\n')
    t = agent_config(PAPER, Budgets(), None, None, None, f).templates
    assert t.final_answer.startswith("Q {problem}")
    assert (t.memory_update, t.context_answer) == (PAPER.templates.memory_update,
                                                   PAPER.templates.context_answer)
    assert (t.answer_style, t.empty_reply) == ("answer_is", "clear")
    assert PromptTemplates.from_file(f).memory_update == PromptTemplates().memory_update
    f.write_text('memory_update = "{problem} {memory}"\n')
    with pytest.raises(InputError, match=f"prompt file {f}: prompt template 'memory_update' lacks"):
        PromptTemplates.from_file(f, base=PAPER.templates)


def test_template_placeholders_are_checked_when_the_file_is_read(tmp_path):
    """Issue 25 item 7: a typo'd placeholder or a stray brace is refused with the file, the key,
    the line and the placeholder; doubled braces are literal and pass."""
    f = tmp_path / "p.toml"
    f.write_text('final_answer = """{problem}\\n{memory}\\n\\\\boxed{{}} {{x}}"""\n')
    assert "{x}" in PromptTemplates.from_file(f).final_answer_messages("q", "m")[0]["content"]
    for text, fragment in [
        ('memory_update = """{problem}\\n{memory}\\n{chunk}\\n{Memory}"""',
         "'memory_update' line 4: unknown placeholder {Memory}; 'memory_update' takes {problem}"),
        ("context_answer = '{problem} {context} {chunk}'", "unknown placeholder {chunk}"),
        ("final_answer = '{problem} {memory} }'", "unbalanced '}'; write }} for a literal"),
        ("final_answer = '{problem} {memory} {'", "unbalanced '{'"),
    ]:
        f.write_text(text + "\n")
        with pytest.raises(InputError, match=re.escape(f"prompt file {f}: ") + ".*" +
                           re.escape(fragment)):
            PromptTemplates.from_file(f)
