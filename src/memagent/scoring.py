"""Answer scoring shared by evaluation and RL: one normalizer, a few metrics, one dispatch.

Every metric returns a float in [0, 1] (reports multiply by 100). A missing or empty prediction
scores 0 and is never dropped from a denominator: the paper's script drops failed responses, which
flatters a model that fails often, so we count them as wrong.

Metrics (the names samples carry in their `metric` field):
  exact_match        normalized prediction equals a normalized gold (the paper's training reward)
  substring_2way     normalized gold in prediction or prediction in gold (the paper's eval metric)
  recall             fraction of gold values found in the normalized prediction (multi-value)
  string_match_all   RULER: mean over references of case-insensitive "reference in prediction"
  string_match_part  RULER: max over references of the same test (its QA tasks)
  substring_2way_first  the MemAgent release's QA metric (ruler_hqa.py, ruler_general.py qa_*):
                     two-way substring match against answers[0] only, with SQuAD's own
                     normaliser (lower(), ASCII punctuation). One difference kept on purpose: a
                     prediction that normalises to "" scores 0 (the release scores it 1, since ""
                     is a substring of every gold), like every other metric here.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Sequence

from memagent.errors import InputError

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCT = frozenset(string.punctuation)


def _is_punct(ch: str) -> bool:
    # SQuAD strips ASCII punctuation only; we also strip Unicode punctuation (curly quotes,
    # dashes) so that "“Paris”" and "Paris" agree.
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def normalize_answer(text: str) -> str:
    """SQuAD normalization: case-fold, drop punctuation, drop articles, collapse whitespace.

    Case-folding (not lower()) keeps the result the same for upper- and lower-case input of
    letters such as "ß". Punctuation is removed before articles so "t.he" and "the" agree.
    """
    text = text.casefold()
    text = "".join(ch for ch in text if not _is_punct(ch))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _golds(answers: Sequence[str]) -> list[str]:
    return [g for g in (normalize_answer(a) for a in answers) if g]


def exact_match(prediction: str | None, answers: Sequence[str]) -> float:
    """1.0 if the normalized prediction equals any normalized gold answer."""
    if not prediction:
        return 0.0
    pred = normalize_answer(prediction)
    return float(bool(pred) and pred in _golds(answers))


def training_reward(answer: str | None, answers: Sequence[str]) -> float:
    """The paper's RL reward on an already extracted (\\boxed{}) answer: normalized exact match.

    Extraction of the last \\boxed{} lives in memagent.answer; this function only compares.
    """
    return exact_match(answer, answers)


def substring_2way(prediction: str | None, answers: Sequence[str]) -> float:
    """The paper's evaluation metric: gold in prediction or prediction in gold, normalized.

    An empty normalized prediction would be a substring of every gold, so it scores 0.
    """
    if not prediction:
        return 0.0
    pred = normalize_answer(prediction)
    if not pred:
        return 0.0
    return float(any(g in pred or pred in g for g in _golds(answers)))


def squad_normalize(text: str) -> str:
    """SQuAD's normalize_answer as the release copies it: lower, drop ASCII punctuation, drop
    articles, collapse whitespace (no case-folding or Unicode punctuation, unlike ours)."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def substring_2way_first(prediction: str | None, answers: Sequence[str]) -> float:
    """The release's evaluation metric: sub-EM of the prediction against answers[0] only."""
    if not prediction or not answers:
        return 0.0
    pred, gold = squad_normalize(prediction), squad_normalize(answers[0])
    if not pred:
        return 0.0
    return float(gold in pred or pred in gold)


def recall(prediction: str | None, answers: Sequence[str]) -> float:
    """Fraction of gold values that occur in the normalized prediction (multi-value answers)."""
    golds = _golds(answers)
    if not prediction or not golds:
        return 0.0
    pred = normalize_answer(prediction)
    return sum(g in pred for g in golds) / len(golds)


def string_match_all(prediction: str | None, answers: Sequence[str]) -> float:
    """RULER's all-of metric: mean over references of case-insensitive containment."""
    if not prediction or not answers:
        return 0.0
    pred = prediction.lower()
    return sum(a.lower() in pred for a in answers) / len(answers)


def string_match_part(prediction: str | None, answers: Sequence[str]) -> float:
    """RULER's part-of metric (QA tasks): 1.0 if any reference occurs in the prediction."""
    if not prediction or not answers:
        return 0.0
    pred = prediction.lower()
    return float(any(a.lower() in pred for a in answers))


Metric = Callable[[str | None, Sequence[str]], float]

METRICS: dict[str, Metric] = {
    "exact_match": exact_match,
    "substring_2way": substring_2way,
    "recall": recall,
    "string_match_all": string_match_all,
    "string_match_part": string_match_part,
    "substring_2way_first": substring_2way_first,
}


def score(metric: str, prediction: str | None, answers: Sequence[str]) -> float:
    """Score one prediction with the named metric; the single entry point for eval and RL."""
    try:
        fn = METRICS[metric]
    except KeyError:
        raise InputError(f"unknown metric {metric!r}; choose one of {sorted(METRICS)}") from None
    if isinstance(answers, str):
        raise TypeError("answers must be a list of strings, not a single string")
    return fn(prediction, answers)
