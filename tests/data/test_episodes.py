"""Oracle episodes for the memory policy: determinism, splits, and the oracle's own invariants."""

import re
from itertools import pairwise

import pytest

from memagent.data.episodes import (
    HELDOUT_HAYSTACKS,
    TASK_WEIGHTS,
    TRAIN_HAYSTACKS,
    EpisodeSpec,
    episode_document,
    generate_episode,
    haystack_installed,
    relevant_seen,
    split_of,
)
from memagent.data.episodes.haystacks import glossary_entries, python_text
from memagent.data.episodes.vocabulary import (
    HELDOUT_ATTRS,
    HELDOUT_SHAPES,
    TRAIN_ATTRS,
    TRAIN_SHAPES,
)
from memagent.errors import InputError
from memagent.profile import EMBEDDED

SPEC = EpisodeSpec(chunk=128, max_chunks=4)
# the embedded policy's words: data/ takes them from its caller, never from the profile itself
NOTHING_YET = EMBEDDED.templates.empty_memory
KEEP = EMBEDDED.templates.keep_reply or "KEEP"


def test_template_splits_are_disjoint_and_large_enough():
    assert len(TRAIN_SHAPES) >= 30 and len(set(TRAIN_SHAPES)) == len(TRAIN_SHAPES)
    assert not set(TRAIN_SHAPES) & set(HELDOUT_SHAPES)
    assert not {a for a, _ in TRAIN_ATTRS} & {a for a, _ in HELDOUT_ATTRS}
    assert not set(TRAIN_HAYSTACKS) & set(HELDOUT_HAYSTACKS)
    kinds = {k for _, k in TRAIN_ATTRS}
    assert kinds == {"number", "uuid", "word", "name", "date", "phrase"}


def test_same_arguments_same_episode_and_chunks_rebuild_the_document(tokenizer):
    a = generate_episode("train", 3, 11, tokenizer, SPEC, haystack="noise")
    b = generate_episode("train", 3, 11, tokenizer, SPEC, haystack="noise")
    assert a == b
    assert generate_episode("train", 3, 12, tokenizer, SPEC, haystack="noise") != a
    assert all(len(tokenizer.encode(c)) <= SPEC.chunk + 2 for c in a.chunks)
    assert 1 <= len(a.chunks) <= SPEC.max_chunks
    assert episode_document(a) == "".join(a.chunks)


@pytest.mark.parametrize("task", list(TASK_WEIGHTS))
def test_oracle_memory_keeps_exactly_the_relevant_sentences(tokenizer, task):
    for index in range(4):
        ep = generate_episode("train", 0, index, tokenizer, SPEC, task=task, haystack="nearmiss")
        convs = ep.conversations(NOTHING_YET, KEEP)
        assert convs[0][1] == NOTHING_YET  # before the first chunk
        seen: list[str] = []
        for (kind, memory_before, chunk, reply), new in zip(convs, [*ep.relevant, []], strict=True):
            if kind == "final":
                assert chunk is None and reply == "\\boxed{" + ", ".join(ep.answers) + "}"
                assert relevant_seen(memory_before, seen) == 1.0
                continue
            assert all(s in chunk for s in new)  # the sentence sits whole inside its chunk
            if new:
                assert kind == "find" and reply.splitlines() == seen + new
            else:
                assert kind == "keep" and reply == KEEP
            seen += new
        for answer in ep.answers:  # the final memory holds every gold value
            assert answer.casefold() in ep.memories[-1].casefold()
        for distractor in ep.meta["distractors"]:
            assert distractor not in ep.memories[-1]


def test_splits_never_share_keys_or_values(tokenizer):
    for split in ("train", "heldout"):
        for index in range(12):
            ep = generate_episode(split, 0, index, tokenizer, SPEC, haystack="noise")
            for answer in ep.answers:
                assert split_of(answer) == split
    held = generate_episode("heldout", 0, 1, tokenizer, SPEC, task="single", haystack="ruler_noise")
    assert held.haystack == "ruler_noise" and "The grass is green." in held.chunks[0]
    with pytest.raises(InputError, match="unknown split"):
        generate_episode("dev", 0, 0, tokenizer, SPEC)


def test_ruler_heldout_split_draws_only_heldout_keys_and_values(tokenizer):
    from memagent.data import GenOptions, generate_sample

    sample = generate_sample(
        "niah_multikey_2", 0, GenOptions(target=512, split="heldout"), tokenizer
    )
    assert all(split_of(a) == "heldout" for a in sample.answers)
    vt = generate_sample("vt", 0, GenOptions(target=512, split="heldout"), tokenizer)
    assert all(split_of(a) == "heldout" for a in vt.answers)
    with pytest.raises(InputError, match="split"):
        GenOptions(target=512, split="train")


@pytest.mark.parametrize("haystack", ["pydoc", "code", "mixed"])
def test_built_in_haystacks_need_no_system_package(tokenizer, haystack):
    ep = generate_episode("train", 0, 2, tokenizer, EpisodeSpec(chunk=128, min_chunks=3, max_chunks=3),
                          haystack=haystack)  # fmt: skip
    assert ep.haystack == haystack and len(ep.chunks) == 3
    text = episode_document(ep)
    assert all(s in text for new in ep.relevant for s in new)
    if haystack == "code":  # stdlib source lines, one per line
        code = set(python_text()[1])
        lines = [ln for ln in text.splitlines() if ln.strip()]
        assert sum(ln in code for ln in lines) >= len(lines) - len(ep.meta["distractors"]) - 3


def test_episode_spec_restricts_the_haystacks_drawn(tokenizer):
    spec = EpisodeSpec(chunk=128, max_chunks=2, haystacks=("noise", "bios"))
    drawn = {generate_episode("train", 0, i, tokenizer, spec).haystack for i in range(12)}
    assert drawn == {"noise", "bios"}


@pytest.mark.skipif(not haystack_installed("glossary"), reason="needs Debian's dict-gcide")
def test_glossary_alternates_headword_lines_and_definitions_and_never_keeps_them(tokenizer):
    spec = EpisodeSpec(chunk=256, min_chunks=2, max_chunks=2)
    ep = generate_episode("train", 0, 5, tokenizer, spec, task="single", haystack="glossary")
    needles = {s for new in ep.relevant for s in new} | set(ep.meta["distractors"])
    lines = [ln for ln in episode_document(ep).splitlines() if ln.strip() and ln not in needles]
    heads = {(w.casefold(), p) for w, p, _ in glossary_entries()}
    pattern = re.compile(r"^([A-Za-z'-]+)(?:, |: | \()([a-z.]+)\)?$")  # the four headword styles
    head_lines = [m for ln in lines if (m := pattern.match(ln))]
    assert len(head_lines) >= len(lines) // 2 - 2  # every other line, but for the cut ends
    assert all((m[1].casefold(), m[2]) in heads for m in head_lines)
    assert not any(m[0] in memory for m in head_lines for memory in ep.memories)


def test_vt_code_chains_are_code_in_split_syntaxes_and_drawn_only_when_weighted(tokenizer):
    from memagent.data.episodes.chains import VT_CODE_HELDOUT, VT_CODE_TRAIN

    assert not set(VT_CODE_TRAIN) & set(VT_CODE_HELDOUT)
    assert not any("VAR" in first + hop for first, hop in VT_CODE_TRAIN + VT_CODE_HELDOUT)
    only_code = EpisodeSpec(chunk=128, max_chunks=4, task_weights=(("vt_code", 1.0),))
    for split, syntaxes in (("train", VT_CODE_TRAIN), ("heldout", VT_CODE_HELDOUT)):
        for index in range(6):
            ep = generate_episode(split, 1, index, tokenizer, only_code, haystack="noise")
            assert ep.task == "vt_code"
            chain = ep.memories[-1].splitlines()
            assert len(chain) == len(ep.answers)  # the first assignment and every hop
            _first, hop = next((f, h) for f, h in syntaxes if chain[0] == f.format(
                a=ep.answers[0], v=ep.question.split("value ")[1].split()[0].rstrip("?,.")))
            for (a, b), line in zip(pairwise(ep.answers), chain[1:], strict=True):
                assert line == hop.format(a=a, b=b)  # as written: "let" stays lower-case
    drawn = {generate_episode("train", 0, i, tokenizer, SPEC, haystack="noise").task
             for i in range(120)}
    assert "vt_code" not in drawn and "vt" in drawn  # weight 0 by default: older recipes unchanged


def _heldout_chain_is_in_a_vt_code_syntax(tokenizer, spec, seed):
    """The held-out split of vt_any and vt_syntax is vt_code's: its first line is written in one of
    the held-out code syntaxes."""
    from memagent.data.episodes.chains import VT_CODE_HELDOUT

    heldout = generate_episode("heldout", seed, 0, tokenizer, spec, haystack="noise")
    first = heldout.memories[-1].splitlines()[0]
    return any(first == f.format(a=heldout.answers[0], v=first.split()[-1].rstrip(";)"))
               for f, _ in VT_CODE_HELDOUT)


def test_vt_any_draws_a_syntax_per_episode_and_holds_out_vt_codes(tokenizer):
    from memagent.data.episodes.chains import VT_KEYWORDS

    held_out_words = {"my", "setq", "auto", "var"}  # vt_code's held-out keywords, RULER's VAR
    assert not {k.strip().casefold() for k in VT_KEYWORDS} & held_out_words
    spec = EpisodeSpec(chunk=128, max_chunks=4, task_weights=(("vt_any", 1.0),))
    firsts = set()
    for index in range(12):
        ep = generate_episode("train", 2, index, tokenizer, spec, haystack="noise")
        chain = ep.memories[-1].splitlines()
        assert len(chain) == len(ep.answers)
        for (a, b), line in zip(pairwise(ep.answers), chain[1:], strict=True):
            assert b in line and a in line and line.index(b) < line.index(a)  # "B <op> A"
        firsts.add(chain[0].replace(ep.answers[0], "{a}").split()[0])
    assert len(firsts) >= 6  # a syntax per episode, not one form
    assert _heldout_chain_is_in_a_vt_code_syntax(tokenizer, spec, seed=2)


def test_vt_syntax_hops_sometimes_repeat_the_keyword_and_hold_out_vt_codes(tokenizer):
    spec = EpisodeSpec(chunk=128, max_chunks=4, task_weights=(("vt_syntax", 1.0),))
    repeated = plain = 0
    for index in range(40):
        ep = generate_episode("train", 3, index, tokenizer, spec, haystack="noise")
        chain = ep.memories[-1].splitlines()
        assert ep.task == "vt_syntax" and len(chain) == len(ep.answers)
        keyword = chain[0][: chain[0].index(ep.answers[0])]  # keyword and sigil, maybe ""
        for (a, b), line in zip(pairwise(ep.answers), chain[1:], strict=True):
            assert line.index(b) < line.index(a)  # "B <op> A"
            if keyword.strip() and keyword.rstrip("$@%&*#"):
                repeated += line.count(keyword) == 2
                plain += line.count(keyword) == 1
    assert repeated and plain  # both forms of hop are drawn
    assert _heldout_chain_is_in_a_vt_code_syntax(tokenizer, spec, seed=3)


def _shape_of(sentence):
    """(shape, attr, key, value) of a sentence written in one of the train shapes."""
    for shape in TRAIN_SHAPES:
        pattern = re.escape(shape)
        for field in ("attr", "key", "value"):
            pattern = pattern.replace(re.escape("{" + field + "}"), f"(?P<{field}>.+?)")
        if m := re.fullmatch(pattern, sentence):
            return shape, m["attr"], m["key"], m["value"]
    raise AssertionError(f"no train shape writes {sentence!r}")


def test_multikey_dense_negatives_differ_from_the_asked_statement_only_in_key_and_value(tokenizer):
    """Hard negatives: one wording, the asked attribute, other keys (and values)."""
    spec = EpisodeSpec(chunk=512, max_chunks=8)
    for index in range(4):
        ep = generate_episode("train", 2, index, tokenizer, spec, task="multikey_dense",
                              haystack="noise")  # fmt: skip
        (asked,) = [s for chunk in ep.relevant for s in chunk]
        shape, attr, key, value = _shape_of(asked)
        assert ep.answers == [value] and key in ep.question
        assert 12 <= len(ep.meta["distractors"]) <= 48
        for negative in ep.meta["distractors"]:
            n_shape, n_attr, n_key, n_value = _shape_of(negative)
            assert (n_shape, n_attr) == (shape, attr) and n_key != key and n_value != value
        assert ep.memories[-1] == asked  # the oracle keeps the asked statement alone
