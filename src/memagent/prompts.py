"""The two prompts of the MemAgent loop and their rendering into chat messages.

Defaults restate the paper's released templates: a memory-update prompt (problem, previous memory,
section -> "Updated memory:") and a final-answer prompt (problem, memory -> answer in \\boxed{}).
The release writes `<problem> ` with a space before the newline; the defaults do not, the
RELEASE_* templates do (profile `paper`). The release's evaluation client asks the final answer as
"Therefore, the answer is ..." (RELEASE_FINAL_ANSWER_IS, read with answer_style "answer_is").
Users replace them from a TOML file with `memory_update` and `final_answer` keys (and
`context_answer`, the one-turn prompt of the full-context and retrieval baselines).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from memagent.answer import Extraction, extract_answer, extract_release_answer
from memagent.errors import InputError
from memagent.hygiene import GROUNDING_MODES, HYGIENE_MODES
from memagent.selection import DECISIONS
from memagent.types import Message

NO_MEMORY = "No previous memory"

MEMORY_UPDATE = """You are presented with a problem, a section of an article that may contain the answer to the problem, and a previous memory. Please read the provided section carefully and update the memory with the new information that helps to answer the problem. Be sure to retain all relevant details from the previous memory while adding any new, useful information.

<problem>
{problem}
</problem>

<memory>
{memory}
</memory>

<section>
{chunk}
</section>

Updated memory:
"""

FINAL_ANSWER = """You are presented with a problem and a previous memory. Please answer the problem based on the previous memory and put the answer in \\boxed{{}}.

<problem>
{problem}
</problem>

<memory>
{memory}
</memory>

Your answer:
"""

# The release's text, whitespace included (recurrent/impls/memory.py TEMPLATE / TEMPLATE_FINAL_BOXED,
# taskutils/memory_eval/utils/recurrent.py TEMPLATE_FINAL): "<problem> " carries a trailing space.
RELEASE_MEMORY_UPDATE = MEMORY_UPDATE.replace("<problem>\n", "<problem> \n")
RELEASE_FINAL_BOXED = FINAL_ANSWER.replace("<problem>\n", "<problem> \n")
RELEASE_FINAL_ANSWER_IS = FINAL_ANSWER.replace("<problem>\n", "<problem> \n").replace(
    "and put the answer in \\boxed{{}}.",
    'and format your response as follows "Therefore, the answer is (insert answer here)".',
)

# The one-turn prompt of the `full` and `rag` baselines: the whole (or retrieved) context in the
# prompt, answered at once.
CONTEXT_ANSWER = """You are presented with a problem and a context. Please answer the problem based on the context and put the answer in \\boxed{{}}.

<problem>
{problem}
</problem>

<context>
{context}
</context>

Your answer:
"""

# The release's full-context client (taskutils/memory_eval/utils/openai_api.py, template_0shot).
RELEASE_CONTEXT_ANSWER = """Please read the following text and answer the question below.

<text>
{context}
</text>

{problem}

Format your response as follows: "Therefore, the answer is (insert answer here)"."""

# How the final reply becomes an answer: "boxed" (answer.extract_answer: the last \\boxed{}, then
# reported fallbacks) or "answer_is" (the release's evaluation: what follows the last "the answer
# is", no fallback).
ANSWER_STYLES = ("boxed", "answer_is")
EMPTY_REPLIES = ("keep", "clear")

# Fields each template must contain, so a user file that forgets one fails at load, not mid-run.
_REQUIRED = {
    "memory_update": ("{problem}", "{memory}", "{chunk}"),
    "final_answer": ("{problem}", "{memory}"),
    "context_answer": ("{problem}", "{context}"),
}
_KEYS = ("memory_update", "final_answer", "context_answer", "system", "empty_memory", "keep_reply",
         "empty_reply", "hygiene", "decision", "answer_grounding")


class Layout(str, Enum):
    """Where the chunk sits in the memory-update prompt.

    paper: problem, memory, chunk (the paper's order; the fixed instruction + problem form a prefix
    shared by every chunk of one job). chunk_first: the chunk before problem and memory, so many
    questions over the same document share the chunk's prefill on prefix-caching servers.
    """

    PAPER = "paper"
    CHUNK_FIRST = "chunk_first"


CHUNK_FIRST_MEMORY_UPDATE = """Below is a section of an article. After it come a problem and a previous memory.

<section>
{chunk}
</section>

The section above may contain the answer to the problem below. Please update the memory with the new information from the section that helps to answer the problem. Be sure to retain all relevant details from the previous memory while adding any new, useful information.

<problem>
{problem}
</problem>

<memory>
{memory}
</memory>

Updated memory:
"""


@dataclass(frozen=True)
class PromptTemplates:
    memory_update: str = MEMORY_UPDATE
    final_answer: str = FINAL_ANSWER
    system: str | None = None  # an optional system message before the user turn
    # What the prompt shows while the memory is empty.
    empty_memory: str = NO_MEMORY
    # A short reply meaning "nothing new in this section": the loop keeps the previous memory, so a
    # trained policy spends a few tokens, not a full rewrite, on chunks without news. None: off.
    keep_reply: str | None = None
    # An empty memory reply: "keep" the previous memory (memagent: a hiccup never wipes what was
    # found) or "clear" it (the release: the memory is the reply, even "").
    empty_reply: str = "keep"
    answer_style: str = "boxed"  # one of ANSWER_STYLES
    # The baselines' prompt (eval's `full` and `rag`), answered by the same answer_style.
    context_answer: str = CONTEXT_ANSWER
    # What a memory reply must pass before it becomes the memory (memagent.hygiene): off, dedupe
    # (no sentence twice) or extractive (dedupe, and every sentence a span of chunk or memory).
    hygiene: str = "off"
    # How a memory step's reply is made (memagent.selection): "generate" (the policy writes) or
    # "select" (the most probable of the keep reply and one new chunk sentence; needs keep_reply).
    decision: str = "generate"
    # What the final answer may name (memagent.hygiene.ground): "off" (anything) or "memory" (only
    # what the final memory or the question holds; an answer with nothing left is no answer).
    answer_grounding: str = "off"

    def __post_init__(self) -> None:
        if self.answer_style not in ANSWER_STYLES:
            raise InputError(
                f"answer_style must be one of {', '.join(ANSWER_STYLES)}, not {self.answer_style!r}"
            )
        if self.decision not in DECISIONS:
            raise InputError(
                f"decision must be one of {', '.join(DECISIONS)}, not {self.decision!r}"
            )
        if self.decision == "select" and self.keep_reply is None:
            raise InputError("decision 'select' needs a keep_reply (the reply that keeps the memory)")
        if self.answer_grounding not in GROUNDING_MODES:
            raise InputError(
                f"answer_grounding must be one of {', '.join(GROUNDING_MODES)}, "
                f"not {self.answer_grounding!r}"
            )
        if self.hygiene not in HYGIENE_MODES:
            raise InputError(
                f"hygiene must be one of {', '.join(HYGIENE_MODES)}, not {self.hygiene!r}"
            )
        if self.empty_reply not in EMPTY_REPLIES:
            raise InputError(
                f"empty_reply must be one of {', '.join(EMPTY_REPLIES)}, not {self.empty_reply!r}"
            )
        for name in ("memory_update", "final_answer", "context_answer", "empty_memory", "system",
                     "keep_reply"):
            value = getattr(self, name)
            optional = name in ("system", "keep_reply")
            if not isinstance(value, str) and not (optional and value is None):
                raise InputError(
                    f"prompt template '{name}' must be a string, not {_toml_type(value)}"
                )
        for name, fields in _REQUIRED.items():
            text = getattr(self, name)
            missing = [f for f in fields if f not in text]
            if missing:
                raise InputError(f"prompt template '{name}' lacks {', '.join(missing)}")

    @classmethod
    def for_layout(cls, layout: Layout) -> PromptTemplates:
        if layout is Layout.CHUNK_FIRST:
            return cls(memory_update=CHUNK_FIRST_MEMORY_UPDATE)
        return cls()

    @classmethod
    def from_file(cls, path: str | Path, base: PromptTemplates | None = None) -> PromptTemplates:
        """Templates from a TOML file (`memory_update`, `final_answer`, `context_answer`,
        `system`, `empty_memory`, `keep_reply`, `empty_reply`, `hygiene`, `decision`,
        `answer_grounding`) over
        `base` (a profile's templates; memagent's defaults when None): a key the file leaves out
        keeps base's."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            from memagent.sources import dangling_link

            why = dangling_link(p)  # a symlink to nothing is named as one
            raise InputError(f"prompt file {why or f'{p} not found'}") from exc
        except IsADirectoryError as exc:
            raise InputError(f"prompt file {p} is a directory: give a .toml file") from exc
        except OSError as exc:
            raise InputError(f"cannot read prompt file {p}: {exc.strerror or exc}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            reason = " ".join(str(exc).split())
            raise InputError(f"prompt file {p} is not valid TOML: {reason}") from exc
        unknown = set(data) - set(_KEYS)
        if unknown:
            raise InputError(f"prompt file {p}: unknown keys {sorted(unknown)}")
        for key, value in data.items():
            if not isinstance(value, str):
                raise InputError(
                    f"prompt file {p}: '{key}' must be a string, not {_toml_type(value)}"
                )
            if key in _PLACEHOLDERS:
                _check_placeholders(p, key, value)
        try:
            return replace(base if base is not None else cls(), **data)
        except InputError as exc:
            raise InputError(f"prompt file {p}: {exc}") from exc

    @property
    def problem_repeats(self) -> int:
        """How often the memory-update prompt shows the problem (the query budget counts each)."""
        return max(1, self.memory_update.count("{problem}"))

    def extract(self, reply: str) -> Extraction:
        """The answer in a final reply, by this template's answer style."""
        if self.answer_style == "answer_is":
            return extract_release_answer(reply)
        return extract_answer(reply)

    def is_keep(self, reply: str) -> bool:
        """Whether a reply opens with the keep word (as a whole word).

        What follows it is dropped: a policy that decided "keep" and then ran on ("KEEP, v." in a
        dictionary whose entry KEEP it was reading) must not overwrite its memory with the run-on.
        """
        if self.keep_reply is None:
            return False
        text = reply.strip()
        rest = text[len(self.keep_reply) :]
        return text.startswith(self.keep_reply) and not (rest[:1].isalnum() or rest[:1] == "_")

    def _wrap(self, content: str) -> tuple[Message, ...]:
        if self.system:
            return (
                {"role": "system", "content": self.system},
                {"role": "user", "content": content},
            )
        return ({"role": "user", "content": content},)

    def memory_update_messages(self, problem: str, memory: str, chunk: str) -> tuple[Message, ...]:
        text = _fill(
            self.memory_update, problem=problem, memory=memory or self.empty_memory, chunk=chunk
        )
        return self._wrap(text)

    def final_answer_messages(self, problem: str, memory: str) -> tuple[Message, ...]:
        text = _fill(self.final_answer, problem=problem, memory=memory or self.empty_memory)
        return self._wrap(text)

    def context_answer_messages(self, problem: str, context: str) -> tuple[Message, ...]:
        """The baselines' one-turn prompt. Question and context are stripped, as the release's
        full-context client strips them."""
        return self._wrap(_fill(self.context_answer, problem=problem.strip(), context=context.strip()))


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", list: "an array",
             dict: "a table"}
    return names.get(type(value), f"a {type(value).__name__}")


# The placeholders each filled template takes (`_fill`); {{ and }} are literal braces.
_PLACEHOLDERS = {
    "memory_update": ("problem", "memory", "chunk"),
    "final_answer": ("problem", "memory"),
    "context_answer": ("problem", "context"),
}
_BRACES = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def _check_placeholders(path: Path, key: str, text: str) -> None:
    """A template's placeholders are its own names and its braces balance, else InputError
    naming the file, the key and the placeholder (a typo would otherwise reach the model)."""
    allowed = _PLACEHOLDERS[key]
    for match in _BRACES.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        line = text.count("\n", 0, match.start()) + 1
        where = f"prompt file {path}: '{key}' line {line}"
        if match.group(1) is None:
            raise InputError(
                f"{where}: unbalanced {token!r}; write {token * 2} for a literal brace"
            )
        if match.group(1) not in allowed:
            shown = token if len(token) <= 40 else token[:39] + "…"
            raise InputError(
                f"{where}: unknown placeholder {shown}; '{key}' takes "
                f"{', '.join('{' + a + '}' for a in allowed)} (write {{{{ and }}}} for literal braces)"
            )


def _fill(template: str, **fields: str) -> str:
    # str.format would choke on braces inside documents; fill only our own placeholders, and
    # un-double the template's literal braces ("\\boxed{{}}" -> "\\boxed{}").
    parts = template.replace("{{", "\x00").replace("}}", "\x01")
    for key, value in fields.items():
        parts = parts.replace("{" + key + "}", value.replace("{", "\x02").replace("}", "\x03"))
    return parts.replace("\x00", "{").replace("\x01", "}").replace("\x02", "{").replace("\x03", "}")
