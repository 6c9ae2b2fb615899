import pytest

from memagent.answer import AnswerRule, extract_answer, last_boxed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so \\boxed{42}.", "42"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("first \\boxed{a} then \\boxed{b}", "b"),
        ("\\boxed {spaced}", "spaced"),
        ("\\boxed{open {nested} still", None),
        ("no box here", None),
    ],
)
def test_last_boxed_matches_braces(text, expected):
    assert last_boxed(text) == expected


def test_rules_fire_in_order_and_are_reported():
    assert extract_answer("x \\boxed{Paris}").rule is AnswerRule.BOXED
    e = extract_answer("I think the answer is Paris.\nThanks")
    assert (e.answer, e.rule) == ("Paris", AnswerRule.ANSWER_IS)
    e = extract_answer("blah\n\nParis\n")
    assert (e.answer, e.rule) == ("Paris", AnswerRule.LAST_LINE)
    e = extract_answer("   \n ")
    assert (e.answer, e.rule) == (None, AnswerRule.NONE)
    assert e.raw == "   \n "


def test_empty_box_falls_back():
    e = extract_answer("The answer is 7.\n\\boxed{}")
    assert e.rule is AnswerRule.ANSWER_IS and e.answer == "7"
