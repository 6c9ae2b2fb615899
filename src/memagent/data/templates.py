"""Question texts of the RULER tasks, verbatim, in two styles.

`ruler` (default): NVIDIA RULER's task templates (scripts/data/synthetic/constants.py) with the
`{context}` placeholder deleted and every other character kept, whitespace included. For a memory
agent the question is the problem and only the haystack is chunked, so the context leaves the
template and nothing is reworded. Few-shot examples (vt, cwe) are built as RULER builds them and
kept in front of the question, as RULER puts them in front of the input.

`release`: the texts of the MemAgent release (taskutils/memory_data/synthetic/constants.py), which
its authors wrote without a context slot; their OOD RULER numbers were measured with these. Their
vt answer prefix keeps the release's spelling ("assgined").

Both styles share the answer prefixes, recorded in each sample's meta (a memory agent does not
use them). One key with one value (niah) takes RULER's singular rewrite of the whole template,
answer prefix included: Some -> A, are all -> is, are -> is, answers -> answer, {type} singular.
"""

from __future__ import annotations

from memagent.errors import InputError

STYLES = ("ruler", "release")

RULER = {
    "niah": (
        "Some special magic {type_needle_v} are hidden within the following text. Make sure to "
        "memorize it. I will quiz you about the {type_needle_v} afterwards.\n{context}\nWhat are "
        "all the special magic {type_needle_v} for {query} mentioned in the provided text?"
    ),
    "variable_tracking": (
        "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n"
        "{context}\nQuestion: Find all variables that are assigned the value {query} in the text "
        "above."
    ),
    "common_words_extraction": (
        "Below is a numbered list of words. In these words, some appear more often than others. "
        "Memorize the ones that appear most often.\n{context}\nQuestion: What are the 10 most "
        "common words in the above list?"
    ),
    "freq_words_extraction": (
        "Read the following coded text and track the frequency of each coded word. Find the three "
        "most frequently appeared coded words. {context}\nQuestion: Do not provide any "
        "explanation. Please ignore the dots '....'. What are the three most frequently appeared "
        "words in the above coded text?"
    ),
    "qa": (
        "Answer the question based on the given documents. Only give me the answer and do not "
        "output any other words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the "
        "question based on the given documents. Only give me the answer and do not output any "
        "other words.\n\nQuestion: {query}"
    ),
}

RELEASE = {
    "niah": (
        "Some special magic {type_needle_v} are hidden within the following text. Make sure to "
        "memorize it. What are all the special magic {type_needle_v} for {query} mentioned in the "
        "provided text?"
    ),
    "variable_tracking": (
        "Memorize and track the chain(s) of variable assignment hidden in the following text. "
        "Question: Find all variables that are assigned the value {query} in the text above."
    ),
    "common_words_extraction": (
        "Below is a numbered list of words. In these words, some appear more often than others. "
        "Memorize the ones that appear most often. Question: What are the 10 most common words "
        "in the above list?"
    ),
    "freq_words_extraction": (
        "Read the following coded text and track the frequency of each coded word. Find the three "
        "most frequently appeared coded words. Question: Do not provide any explanation. Please "
        "ignore the dots '....'. What are the three most frequently appeared words in the above "
        "coded text?"
    ),
    "qa": "Answer the question based on the given documents. {query}",
}

ANSWER_PREFIX = {
    "niah": " The special magic {type_needle_v} for {query} mentioned in the provided text are",
    "variable_tracking": (
        " Answer: According to the chain(s) of variable assignment in the text above, {num_v} "
        "variables are assigned the value {query}, they are: "
    ),
    "common_words_extraction": " Answer: The top 10 words that appear most often in the list are:",
    "freq_words_extraction": (
        " Answer: According to the coded text above, the three most frequently appeared words are:"
    ),
    "qa": " Answer:",
}
RELEASE_VT_PREFIX = ANSWER_PREFIX["variable_tracking"].replace("assigned the", "assgined the")


def check_style(style: str) -> str:
    if style not in STYLES:
        raise InputError(f"unknown question style {style!r}; use {' or '.join(STYLES)}")
    return style


def template(task: str, style: str) -> str:
    """The task's template in a style; RULER's still holds `{context}` (see `question`)."""
    return (RULER if check_style(style) == "ruler" else RELEASE)[task]


def singular(text: str) -> str:
    """RULER's rewrite of a niah template for one key with one value (niah.py, verbatim)."""
    text = text.replace("Some", "A").replace("are all", "is").replace("are", "is")
    return text.replace("answers", "answer")


def question(task: str, style: str, **fields: str) -> str:
    """The template in `style` with `{context}` deleted and the other fields filled in."""
    return template(task, style).replace("{context}", "").format(**fields)
