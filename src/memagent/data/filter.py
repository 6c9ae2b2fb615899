"""The release's closed-book filter for RULER-HotpotQA: drop questions a model answers without context.

As released (taskutils/memory_data/filter.py, filter2.py, hotpotqa_verifier.py):
- each model (Qwen2.5-7B and Qwen2.5-7B-Instruct) gets the bare question as one user turn,
  `"{question}\\nYour final answer in \\\\boxed{}.\\n"`, 2 samples, temperature 1.0, top_p 0.7,
  at most 512 new tokens;
- a reply *hits* when its last \\boxed{} (in its last 300 characters, lower-cased, MATH
  `strip_string` normalised) equals a gold answer, or when a gold answer occurs anywhere in it
  (case-insensitive);
- a question with any hit, from any model and sample, is dropped; the first `keep` survivors in
  file order are kept (128 dev, 8192 train).
Only the comparison is restated here; the code is ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from memagent.data.loaders import QAItem
from memagent.types import LLM, ChatRequest, SamplingParams

FILTER_PROMPT = "{question}\nYour final answer in \\boxed{{}}.\n"
FILTER_SAMPLES = 2
FILTER_SAMPLING = SamplingParams(temperature=1.0, top_p=0.7)
FILTER_MAX_TOKENS = 512
FILTER_MODELS = ("Qwen2.5-7B", "Qwen2.5-7B-Instruct")
FILTER_KEEP = {"dev": 128, "train": 8192}


def _last_boxed_release(text: str) -> str | None:
    """hotpotqa_verifier.last_boxed_only_string: '\\boxed ' form first, else the last '\\boxed'
    (or '\\fbox') with its braces matched from there."""
    if "\\boxed " in text:
        return "\\boxed " + text.split("\\boxed ")[-1].split("$")[0]
    idx = text.rfind("\\boxed")
    if idx < 0:
        idx = text.rfind("\\fbox")
        if idx < 0:
            return None
    depth = 0
    for i in range(idx, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[idx : i + 1]
    return None


def _unbox(boxed: str) -> str | None:
    if boxed.startswith("\\boxed "):
        return boxed[len("\\boxed ") :]
    if boxed.startswith("\\boxed{") and boxed.endswith("}"):
        return boxed[len("\\boxed{") : -1]
    return None  # e.g. \fbox{...}: the release's assert fails and the reply scores 0


def strip_string(text: str) -> str:
    """MATH's strip_string as hotpotqa_verifier applies it (no-ops on plain text removed)."""
    for old, new in (
        ("\n", ""), ("\\!", ""), ("\\\\", "\\"), ("tfrac", "frac"), ("dfrac", "frac"),
        ("\\left", ""), ("\\right", ""), ("^{\\circ}", ""), ("^\\circ", ""), ("\\$", ""),
        ("\\%", ""), (" .", " 0."), ("{.", "{0."),
    ):
        text = text.replace(old, new)
    return text.replace(" ", "")


def boxed_hit(reply: str, gold: str) -> bool:
    """hotpotqa_verifier.compute_score > 0."""
    boxed = _last_boxed_release(reply[-300:].lower())
    answer = _unbox(boxed) if boxed is not None else None
    return answer is not None and strip_string(answer) == strip_string(gold.lower())


def closed_book_hit(reply: str | None, answers: Sequence[str]) -> bool:
    """A boxed exact match or a gold substring, against any gold answer."""
    if not reply:
        return False
    return any(boxed_hit(reply, g) or g.lower() in reply.lower() for g in answers)


@dataclass
class FilterResult:
    kept: list[int]  # indices into the items, in order
    hits: dict[int, list[str]] = field(default_factory=dict)  # dropped index -> models that hit
    replies: dict[int, dict[str, list[str]]] = field(default_factory=dict)  # index -> model -> texts


def closed_book_filter(
    items: Sequence[QAItem],
    llms: Sequence[LLM],
    samples: int = FILTER_SAMPLES,
    sampling: SamplingParams = FILTER_SAMPLING,
    max_tokens: int = FILTER_MAX_TOKENS,
    keep: int | None = None,
) -> FilterResult:
    """Ask every model each question `samples` times without context; keep the questions that
    none answered (the first `keep` of them, in order, when given)."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    requests = [
        ChatRequest(({"role": "user", "content": FILTER_PROMPT.format(question=it.question)},),
                    max_tokens)
        for it in items
    ]
    result = FilterResult(kept=[])
    for llm in llms:
        name = llm.name
        for _ in range(samples):  # one call per sample: the backend batches the questions
            completions = llm.generate(requests, sampling)
            if len(completions) != len(requests):
                raise ValueError(f"{name} returned {len(completions)} replies for {len(requests)}")
            for i, (item, done) in enumerate(zip(items, completions, strict=True)):
                result.replies.setdefault(i, {}).setdefault(name, []).append(done.text)
                if closed_book_hit(done.text, item.answers):
                    result.hits.setdefault(i, [])
                    if name not in result.hits[i]:
                        result.hits[i].append(name)
    survivors = [i for i in range(len(items)) if i not in result.hits]
    result.kept = survivors if keep is None else survivors[:keep]
    return result
