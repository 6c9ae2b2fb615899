"""Variable chains (the vt tasks): assignments that pass a value from name to name.

`vt` writes them in sentences, `vt_code` in one programming language's syntax per episode,
`vt_any` and `vt_syntax` in a syntax assembled per episode from keywords x sigils x operators x
endings. The held-out split's syntaxes are never drawn in train, nor is RULER's own.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from itertools import pairwise

from memagent.data.episodes.vocabulary import draw, fill

VT_SHAPES_TRAIN = ("{b} := {a}", "Let {b} equal {a}.", "Set {b} to the value of {a}.",
                    "{b} takes the value of {a}.", "assign {b} = {a}")  # fmt: skip
VT_SHAPES_HELDOUT = ("{b} is a copy of {a}.", "Now {b} holds {a}.")
# vt_code: one programming-language syntax per episode, (first assignment, each hop). v3 kept
# RULER's "VAR A = 12345" but not the hops "VAR B = VAR A": a hop names no value and no asked key,
# only a variable already in memory. RULER's own syntax is in neither split.
VT_CODE_TRAIN = (
    ("let {a} = {v};", "let {b} = {a};"),
    ("const {a} = {v};", "const {b} = {a};"),
    ("${a} = {v};", "${b} = ${a};"),
    ("set {a} {v}", "set {b} ${a}"),
    ("{a} <- {v}", "{b} <- {a}"),
    ("DEFINE {a} AS {v}", "DEFINE {b} AS {a}"),
    ("int {a} = {v};", "int {b} = {a};"),
    ("{a}={v}", "{b}=${a}"),
    ("MOV {a}, {v}", "MOV {b}, {a}"),
)
VT_CODE_HELDOUT = (
    ("my ${a} = {v};", "my ${b} = ${a};"),
    ("(setq {a} {v})", "(setq {b} {a})"),
    ("auto {a} = {v};", "auto {b} = {a};"),
)
# vt_any (train split): a syntax assembled per episode, so no single form is learned. v5 learned
# its nine train syntaxes and kept hops written in them, but not in an unseen one ("(setq B A)",
# RULER's "VAR B = VAR A"). No keyword of the held-out syntaxes, nor RULER's VAR, is drawn.
VT_KEYWORDS = ("", "", "let ", "const ", "set ", "def ", "val ", "dim ", "local ", "global ",
                "int ", "float ", "string ", "new ", "put ", "store ", "make ", "assign ",
                "declare ", "define ", "LET ", "SET ", "DEF ", "DIM ", "VAL ", "CONST ", "static ",
                "mut ", "register ", "field ", "param ", "export ")  # fmt: skip
VT_SIGILS = ("", "", "$", "@", "%", "&", "*", "#")
VT_OPERATORS = ("=", "=", ":=", "<-", "is", "as", "gets", "becomes", "to", ":", "=:", "<=")
VT_ENDS = ("", "", ";", ".", ",")


def vt_syntax(rng: random.Random, repeat_keyword: bool = False) -> tuple[str, str]:
    """(first assignment, hop) in a syntax drawn from keywords x sigils x operators x endings.
    `repeat_keyword` (vt_syntax): half the hops with a keyword repeat it before the source variable
    ("SET B := SET A"), so a hop reads like a first assignment whose value is a name in memory."""
    kw, sigil = rng.choice(VT_KEYWORDS), rng.choice(VT_SIGILS)
    op, end = rng.choice(VT_OPERATORS), rng.choice(VT_ENDS)
    source = f"{sigil}{{a}}"
    if repeat_keyword and kw and rng.random() < 0.5:  # drawn only here: vt_any is unchanged
        source = kw + source
    return f"{kw}{sigil}{{a}} {op} {{v}}{end}", f"{kw}{sigil}{{b}} {op} {source}{end}"


VT_QUESTIONS = (
    "Which variables end up holding the value {value}? Follow every assignment.",
    "Find all variables that are assigned the value {value}, directly or through other variables.",
)


def _var_name(rng: random.Random) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "".join(rng.choice(letters) for _ in range(rng.choice((3, 4, 5)))).upper()


def chain_needles(
    rng: random.Random,
    split: str,
    preamble: str,
    first: Callable[[str, str], str],
    hop: Callable[[str, str], str],
) -> tuple[str, list[str], list[str], list[str], list[str]]:
    """A variable chain (first(name, value), then hop(previous, next) per link) and a distractor
    chain of 0-3 other names, as generate.needles returns them; `first`/`hop` write one task's syntax."""
    taken: set[str] = set()
    value = draw(lambda: str(rng.randint(10000, 99999)), split, taken)
    names = [draw(lambda: _var_name(rng), split, taken) for _ in range(rng.randint(2, 5))]
    lines = [first(names[0], value)] + [hop(a, b) for a, b in pairwise(names)]
    other_value = draw(lambda: str(rng.randint(10000, 99999)), split, taken)
    others = [draw(lambda: _var_name(rng), split, taken) for _ in range(rng.randint(0, 3))]
    distract = [first(others[0], other_value)] if others else []
    distract += [hop(a, b) for a, b in pairwise(others)]
    question = preamble + fill(rng.choice(VT_QUESTIONS), value=value)
    return question, lines, distract, names, [value]

