"""Memory hygiene (memagent.hygiene) on hand-made replies, and as the job applies it."""

from dataclasses import replace

import pytest

from memagent.config import Budgets
from memagent.errors import InputError
from memagent.hygiene import clean, repeated_sentences, sentences
from memagent.loop.job import Job, Step
from memagent.prompts import PromptTemplates
from memagent.types import Completion

COFFIN = ("Among the Greeks a coffin which being made of a certain kind of carnivorous stone, had "
          "the peculiar property of devouring the body placed in it.")
NEEDLE = "One of the special magic numbers for crystal-mango is: 1234567."
CHUNK = f"SARCOPHAGUS, n.\n{COFFIN}\nSome other text here.\n{NEEDLE}\nMore text follows."
PLACEHOLDER = "No relevant information yet."


def test_sentences_split_at_sentence_ends_but_not_after_abbreviations():
    line = 'It ends here.  Then Dr. Smith came! "Quoted." KEEP, v.t. To hold. e.g. not split'
    assert sentences(line) == [
        "It ends here.", "Then Dr. Smith came!", '"Quoted."', "KEEP, v.t. To hold. e.g. not split"
    ]
    assert sentences("   ") == []


def test_readme_failure_three_copies_become_one():
    reply = f"{COFFIN}\n{COFFIN}\n{COFFIN[:60]}"  # the third copy cut by the memory budget
    out = clean(reply, CHUNK, "", "dedupe")
    assert out.text == COFFIN
    assert (out.repeats, out.unsupported, out.rejected) == (2, 0, False)
    assert "2 repeated sentences" in out.note


def test_repeats_after_whitespace_normalisation_and_within_one_line():
    reply = f"{NEEDLE}\n  {NEEDLE.replace(' ', '   ')}\n{COFFIN} {NEEDLE}"
    out = clean(reply, CHUNK, "", "extractive")
    assert out.text == f"{NEEDLE}\n{COFFIN}"
    assert out.repeats == 2 and not repeated_sentences(out.text)


def test_a_reply_that_breaks_no_rule_is_kept_byte_for_byte():
    reply = f"{NEEDLE}\r\n{COFFIN}"
    out = clean(reply, CHUNK, "", "extractive")
    assert out.text == reply and out.counts() == {"repeats": 0, "unsupported": 0, "rejected": 0}
    assert out.note == ""


def test_extractive_drops_a_sentence_in_neither_chunk_nor_memory():
    memory = "The old fact is here."
    reply = f"{memory}\n{NEEDLE}\nThe magic number is 7654321."  # the last one is made up
    out = clean(reply, CHUNK, memory, "extractive")
    assert out.text == f"{memory}\n{NEEDLE}"
    assert (out.unsupported, out.rejected) == (1, False)
    assert "neither the chunk nor the memory" in out.note
    # dedupe alone does not check spans
    assert clean(reply, CHUNK, memory, "dedupe").text == reply


def test_a_re_spaced_copy_is_still_a_span():
    chunk = "some text.\nOne of the special magic numbers\nfor crystal-mango is: 1234567. end"
    assert clean(NEEDLE, chunk, "", "extractive").text == NEEDLE


def test_the_placeholder_counts_as_the_previous_memory():
    out = clean(PLACEHOLDER, CHUNK, "", "extractive", PLACEHOLDER)
    assert out.text == PLACEHOLDER and not out.unsupported


def test_a_reply_left_empty_is_rejected_and_the_previous_memory_kept():
    memory = f"{NEEDLE}"
    out = clean("Blue is a colour.\nRed is another.", CHUNK, memory, "extractive")
    assert out.text == memory
    assert (out.unsupported, out.rejected) == (2, True)
    assert out.counts()["rejected"] == 1
    assert out.note.endswith("previous memory kept")


def test_off_is_the_identity_and_an_unknown_mode_is_refused():
    reply = f"{COFFIN}\n{COFFIN}\nMade up."
    assert clean(reply, CHUNK, "", "off").text == reply
    with pytest.raises(ValueError, match="hygiene mode"):
        clean(reply, CHUNK, "", "strict")
    with pytest.raises(InputError, match="hygiene must be one of"):
        PromptTemplates(hygiene="strict")


def test_prompt_file_turns_hygiene_off(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('hygiene = "off"\n')
    base = PromptTemplates(keep_reply="KEEP", hygiene="extractive")
    assert PromptTemplates.from_file(path, base=base).hygiene == "off"


def test_profiles_hygiene_defaults():
    from memagent.profile import PROFILES

    assert PROFILES["smollm2-memagent"].templates.hygiene == "extractive"
    assert PROFILES["default"].templates.hygiene == "off"
    assert PROFILES["paper"].templates.hygiene == "off"


# -- in the job -----------------------------------------------------------------------------------


def _run_job(tokenizer, templates, replies, chunks_text):
    from memagent.chunking import Chunk

    chunks = []
    tokens = chars = 0
    for i, text in enumerate(chunks_text):
        n = len(tokenizer.encode(text))
        chars += len(text)
        chunks.append(Chunk(i, text, n, tokens, chars))
        tokens += n
    budgets = Budgets(window=2048, query=256, chunk=512, memory=192, output=64).resolve(
        tokenizer, templates)
    job = Job("What is the special magic number for crystal-mango?", iter(chunks), tokenizer,
              budgets, templates)
    for reply in [*replies, "\\boxed{1234567}"]:
        job.next_request()
        job.consume(Completion(reply, 10, 5))
    return job


EMBEDDED_LIKE = PromptTemplates(keep_reply="KEEP", empty_memory=PLACEHOLDER, hygiene="extractive")


def test_job_records_repairs_and_rejects_per_step(tokenizer):
    chunks = [CHUNK, "Nothing here at all.", "Still nothing."]
    replies = [f"{COFFIN}\n{COFFIN}\n{NEEDLE}", "KEEP", "The answer is 99."]
    job = _run_job(tokenizer, EMBEDDED_LIKE, replies, chunks)
    memory_steps = [s for s in job.steps if s.kind == "memory"]
    assert [s.memory for s in memory_steps] == [f"{COFFIN}\n{NEEDLE}"] * 3
    assert memory_steps[0].hygiene == {
        "repeats": 1, "unsupported": 0, "rejected": 0,
        "note": "reply repaired: dropped 1 repeated sentence"}
    assert memory_steps[1].hygiene == {"repeats": 0, "unsupported": 0, "rejected": 0}
    assert memory_steps[2].hygiene is not None and memory_steps[2].hygiene["rejected"] == 1
    assert memory_steps[0].memory_tokens == len(tokenizer.encode(f"{COFFIN}\n{NEEDLE}"))
    # the step's JSON carries the counts, and a Step rebuilt from it (a resumed trace) equals it
    assert Step(**memory_steps[2].to_json()) == memory_steps[2]


def test_job_with_hygiene_off_keeps_the_reply_and_its_json_has_no_hygiene_key(tokenizer):
    off = replace(EMBEDDED_LIKE, hygiene="off")
    replies = [f"{COFFIN}\n{COFFIN}", "The answer is 99."]
    job = _run_job(tokenizer, off, replies, [CHUNK, "Nothing."])
    memory_steps = [s for s in job.steps if s.kind == "memory"]
    assert [s.memory for s in memory_steps] == [f"{COFFIN}\n{COFFIN}", "The answer is 99."]
    assert all("hygiene" not in s.to_json() for s in job.steps)


# -- in eval's records and report ------------------------------------------------------------------


def test_eval_sums_hygiene_per_sample_and_reports_it_per_cell(tokenizer, tmp_path):
    from memagent.eval.methods import hygiene_totals
    from memagent.eval.report import _hygiene_table

    job = _run_job(tokenizer, EMBEDDED_LIKE, [f"{COFFIN}\n{COFFIN}\n{NEEDLE}", "KEEP", "Made up."],
                   [CHUNK, "Nothing here at all.", "Still nothing."])
    on = hygiene_totals(job.steps)
    assert on == {"repeats": 1, "unsupported": 1, "repaired": 1, "rejected": 1, "repeat_steps": 0,
                  "ungrounded": 0}
    off = _run_job(tokenizer, replace(EMBEDDED_LIKE, hygiene="off"), [f"{COFFIN}\n{COFFIN}", "KEEP"],
                   [CHUNK, "Nothing."])
    assert hygiene_totals(off.steps)["repeat_steps"] == 2  # counted from the memories themselves
    records = [{"task": "t", "length": 8192, "hygiene": on}, {"task": "t", "length": 8192,
               "hygiene": hygiene_totals(off.steps)}, {"task": "t", "length": 8192}]
    table = _hygiene_table(records)
    assert table[0].startswith("## Memory hygiene")
    assert "| t | 8K | 2 | 1 | 1 | 1 | 1 | 2 (1) | 0 |" in table
    assert _hygiene_table([{"task": "t", "length": 8192}]) == []
