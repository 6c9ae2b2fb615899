"""Memory hygiene: the rules a memory reply passes before it becomes the memory (loop/job.py).

Modes (`PromptTemplates.hygiene`; the embedded profile runs `extractive`, the others `off`):

- `off`: the reply is the memory, as the release has it.
- `dedupe`: a memory never holds the same sentence twice. The reply is read line by line, each
  line as its sentences (`sentences`); a sentence equal to an earlier one of the reply after
  whitespace normalisation (`normalise`: runs of whitespace as one space, ends stripped), or a
  copy of one cut short (a prefix of it: the memory budget cuts a third copy mid-sentence), is
  dropped, and so is a line left with no sentence.
- `extractive`: `dedupe`, then every sentence left must be a span of what the prompt showed: the
  current chunk or the previous memory (the empty-memory placeholder when there was none),
  compared with all whitespace removed, so a copy that re-spaces a line still counts. A sentence
  that is neither is dropped: it cannot have been copied, so it is made up (a repair).

A reply that these rules would leave with no sentence at all is rejected: the previous memory is
kept, and the step says so (`Cleaned.note`). A line the rules leave whole is kept byte for byte, so
a reply that breaks no rule becomes the memory unchanged and hygiene costs nothing there.

Answer grounding (`PromptTemplates.answer_grounding`; the embedded profile runs `memory`): the final
answer may name only what the final memory or the question holds. The answer is read as its
comma- or semicolon-separated parts; a part is grounded when each of its words (runs of letters and
digits, case-blind; LaTeX commands such as the `\\boxed` of an unclosed box are not words) is a
word of the memory or the question, or when it is a bare yes / no. Parts
that are not are dropped; an answer left with none is no answer (`Grounded.answer` None), so a
run that kept nothing says so instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

HYGIENE_MODES = ("off", "dedupe", "extractive")
GROUNDING_MODES = ("off", "memory")

# A sentence ends at . ! or ? (a closing quote or bracket may follow) before whitespace and a
# character that is not a lowercase letter, except after an abbreviation: a capitalised word of one
# to three letters ("Dr.", "St.", "Mrs."), a single letter ("v.", "n.") or a dotted one ("e.g.",
# "v.t."). Splitting there would make a fragment that repeats legitimately ("Dr." in two lines
# about two doctors); a sentence left unsplit is only a longer unit.
_END = re.compile(r"""(?<=[.!?])(["')\]]?)\s+(?=[^a-z\s])""")
_ABBREV = re.compile(r"""(?:(?:^|[\s(\["'])(?:[A-Z][a-z]{0,2}|[A-Za-z])|\.[A-Za-z])\.$""")


def normalise(text: str) -> str:
    """Runs of whitespace as one space, ends stripped: the form two sentences are compared in."""
    return " ".join(text.split())


def _squash(text: str) -> str:
    return "".join(text.split())


def sentences(line: str) -> list[str]:
    """The sentences of one memory line, whitespace-normalised, in order (none for a blank line)."""
    out: list[str] = []
    start = 0
    for m in _END.finditer(line):
        piece = line[start : m.start() + len(m.group(1))]
        if _ABBREV.search(piece):
            continue
        out.append(piece)
        start = m.end()
    out.append(line[start:])
    return [s for s in (normalise(p) for p in out) if s]


def repeated_sentences(memory: str) -> list[str]:
    """Sentences a memory holds more than once (normalised, in order of their second copy)."""
    seen: set[str] = set()
    repeats: list[str] = []
    for line in memory.splitlines():
        for s in sentences(line):
            if _repeats(s, seen):
                repeats.append(s)
            seen.add(s)
    return repeats


def _repeats(sentence: str, seen: set[str]) -> bool:
    """Equal to an earlier sentence, or a copy of one cut short (a prefix of it)."""
    return sentence in seen or any(s.startswith(sentence) for s in seen)


@dataclass(frozen=True)
class Cleaned:
    """What hygiene made of one reply."""

    text: str  # the new memory
    repeats: int = 0  # sentences dropped as repeats of an earlier one
    unsupported: int = 0  # sentences dropped: a span of neither the chunk nor the previous memory
    rejected: bool = False  # nothing was left: `text` is the previous memory

    @property
    def note(self) -> str:
        """One line on what happened, "" when the reply broke no rule."""
        if not (self.repeats or self.unsupported):
            return ""
        parts = []
        if self.repeats:
            parts.append(f"{self.repeats} repeated sentence{'s' * (self.repeats != 1)}")
        if self.unsupported:
            parts.append(
                f"{self.unsupported} sentence{'s' * (self.unsupported != 1)} in neither the "
                "chunk nor the memory"
            )
        what = " and ".join(parts)
        if self.rejected:
            return f"reply rejected ({what}; nothing left): previous memory kept"
        return f"reply repaired: dropped {what}"

    def counts(self) -> dict[str, Any]:
        """The step's record in the trace (loop.job.Step.hygiene)."""
        out: dict[str, Any] = {
            "repeats": self.repeats, "unsupported": self.unsupported, "rejected": int(self.rejected)
        }
        if self.note:
            out["note"] = self.note
        return out


def clean(reply: str, chunk: str, memory: str, mode: str, placeholder: str = "") -> Cleaned:
    """The memory `reply` becomes under `mode`, given the chunk and the previous memory the prompt
    showed (`placeholder`: the text shown for an empty memory)."""
    if mode not in HYGIENE_MODES:
        raise ValueError(f"hygiene mode must be one of {', '.join(HYGIENE_MODES)}, not {mode!r}")
    if mode == "off":
        return Cleaned(reply)
    sources = [_squash(chunk), _squash(memory or placeholder)]
    seen: set[str] = set()
    lines: list[str] = []
    repeats = unsupported = kept_sentences = 0
    for line in reply.splitlines():
        units = sentences(line)
        keep: list[str] = []
        for s in units:
            if _repeats(s, seen):
                repeats += 1
                continue
            if mode == "extractive" and not any(_squash(s) in src for src in sources):
                unsupported += 1
                continue
            seen.add(s)
            keep.append(s)
        kept_sentences += len(keep)
        if len(keep) == len(units):
            lines.append(line)  # whole: byte for byte
        elif keep:
            lines.append(" ".join(keep))
    if not (repeats or unsupported):
        return Cleaned(reply)
    if kept_sentences == 0:
        return Cleaned(memory, repeats, unsupported, rejected=True)
    return Cleaned("\n".join(lines).strip(), repeats, unsupported)


_WORD = re.compile(r"[^\W_]+")
_PART = re.compile(r"[,;]")
_MARKUP = re.compile(r"\\[A-Za-z]+")  # \boxed, \text: an unclosed box leaves it in the answer


def _words(text: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(text)}


@dataclass(frozen=True)
class Grounded:
    """What answer grounding made of one final answer."""

    answer: str | None  # the parts the memory or question hold, joined again; None: none did
    dropped: tuple[str, ...] = ()  # the parts named by neither

    def counts(self) -> dict[str, Any]:
        """The final step's record in the trace (loop.job.Step.hygiene)."""
        out: dict[str, Any] = {"ungrounded": len(self.dropped)}
        if self.dropped:
            what = ", ".join(repr(p) for p in self.dropped)
            out["note"] = (f"answer dropped {what}: not in the memory or the question"
                           + ("; nothing left, so no answer" if self.answer is None else ""))
        return out


def ground(answer: str | None, memory: str, question: str) -> Grounded:
    """`answer` cut to the parts the final memory or the question name (module docstring)."""
    if not answer:
        return Grounded(answer)
    known = _words(memory) | _words(question)
    kept: list[str] = []
    dropped: list[str] = []
    for part in (p.strip() for p in _PART.split(answer)):
        if not part:
            continue
        words = _words(_MARKUP.sub(" ", part))
        if words <= known or words in ({"yes"}, {"no"}):
            kept.append(part)
        else:
            dropped.append(part)
    if not dropped:
        return Grounded(answer)
    return Grounded(", ".join(kept) or None, tuple(dropped))
