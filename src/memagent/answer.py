"""Pull the final answer out of the model's last reply.

The paper's rule is the last brace-matched `\\boxed{...}`. Small models often forget it, so we fall
back, in order, to "the answer is ...", then the last non-empty line, and report which rule fired:
a score computed on a fallback answer is honest about how it was obtained.
`extract_release_answer` is the release's evaluation rule instead (taskutils/memory_eval): the
text after the last "the answer is", with no fallback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class AnswerRule(str, Enum):
    BOXED = "boxed"
    ANSWER_IS = "answer_is"
    LAST_LINE = "last_line"
    NONE = "none"  # the reply was empty: no answer at all


@dataclass(frozen=True)
class Extraction:
    answer: str | None
    rule: AnswerRule
    raw: str

    @property
    def boxed(self) -> bool:
        return self.rule is AnswerRule.BOXED


_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_IS = re.compile(
    r"(?:the\s+(?:final\s+)?answer\s+is|answer\s*:)\s*[:\-]?\s*(.+)", re.IGNORECASE
)


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` with nested braces matched; None if absent or unclosed."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i].strip()
    return None


def _clean(answer: str) -> str:
    answer = answer.strip().strip("*").strip()
    return answer.rstrip(".").strip()


def extract_answer(text: str) -> Extraction:
    """Apply the rules in order; the first that yields a non-empty answer wins."""
    boxed = last_boxed(text)
    if boxed:
        return Extraction(_clean(boxed), AnswerRule.BOXED, text)
    matches = list(_ANSWER_IS.finditer(text))
    if matches:
        candidate = _clean(matches[-1].group(1).splitlines()[0])
        if candidate:
            return Extraction(candidate, AnswerRule.ANSWER_IS, text)
    lines = [ln for ln in (_clean(x) for x in text.splitlines()) if ln]
    if lines:
        return Extraction(lines[-1], AnswerRule.LAST_LINE, text)
    return Extraction(None, AnswerRule.NONE, text)


def extract_release_answer(text: str) -> Extraction:
    """The release's evaluation rule (utils.extract_solution + utils.extract_answer).

    The reply is stripped, cut after the last `</think>` if it has one, stripped of `*`; the answer
    is what follows the last (case-sensitive) "the answer is", stripped of spaces and of leading or
    trailing periods. No "the answer is", or nothing after it: no answer (scored wrong).
    """
    reply = text.strip()
    if "</think>" in reply:
        reply = reply.split("</think>")[-1].strip() or reply
    reply = reply.replace("*", "")
    if "the answer is" not in reply:
        return Extraction(None, AnswerRule.NONE, text)
    answer = reply.rsplit("the answer is", 1)[-1].strip()
    for token in ("<\uff5cAssistant\uff5c>", "<\uff5cend\u2581of\u2581sentence\uff5c>"):
        answer = answer.replace(token, "")
    answer = answer.strip().strip(".").strip()
    return Extraction(answer or None, AnswerRule.ANSWER_IS if answer else AnswerRule.NONE, text)
