"""Haystacks: the text the needles hide in, read from this machine or generated.

Debian dictionaries, quotations, manuals and licences (installed packages: `haystack_installed`
says which are here), the Python standard library's docstrings and code, generated noise,
near-miss statements and synthesized biographies. `filler(kind, rng, split)` gives one haystack's
endless supply of sentences (or lines) for an episode.
"""

from __future__ import annotations

import gzip
import random
import re
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache, partial
from itertools import count
from pathlib import Path

from memagent.data.episodes.vocabulary import (
    BIO_FACTS,
    HELDOUT_ATTRS,
    HELDOUT_SHAPES,
    KEY_KINDS,
    TRAIN_ATTRS,
    TRAIN_SHAPES,
    bio_fields,
    draw,
    fill,
    make_key,
    make_value,
)
from memagent.data.haystack import DEFAULT_ESSAY, NOISE, split_sentences
from memagent.errors import InputError

# The first shipped adapter (v1) trained on the first five; v2 added prose, quotations, docstrings,
# source code and a per-sentence mix of all of them, because v1 learned "unfamiliar text is news"
# and copied held-out haystack sentences into memory (docs/embedded-agent.md).
V1_TRAIN_HAYSTACKS = ("jargon", "gcide", "noise", "nearmiss", "bios")
V2_TRAIN_HAYSTACKS = (*V1_TRAIN_HAYSTACKS, "foldoc", "fortunes", "pydoc", "code", "mixed")
# v3 adds long-form prose (manuals, a constitution, licences): v2 still missed needles set in
# unfamiliar literary prose, and kept sentences of it instead.
V3_TRAIN_HAYSTACKS = (*V2_TRAIN_HAYSTACKS, "debdocs", "licenses")
# v4 adds a glossary: dictionary entries with their headword lines ("ASHEN, adj." then the
# definition). v3 kept short headword lines of an unseen dictionary as if they were news, because
# every training source had dropped lines that short.
TRAIN_HAYSTACKS = (*V3_TRAIN_HAYSTACKS, "glossary")
HELDOUT_HAYSTACKS = ("devil", "ruler_noise")
DICT_FILES = {
    "jargon": Path("/usr/share/dictd/jargon.dict.dz"),
    "gcide": Path("/usr/share/dictd/gcide.dict.dz"),
    "foldoc": Path("/usr/share/dictd/foldoc.dict.dz"),
    "devil": DEFAULT_ESSAY,
}
FORTUNES_DIR = Path("/usr/share/games/fortunes")
DICT_PACKAGES = {
    "jargon": "dict-jargon",
    "gcide": "dict-gcide",
    "glossary": "dict-gcide",
    "foldoc": "dict-foldoc",
    "devil": "dict-devil",
    "fortunes": "fortunes",
    "debdocs": "debian-reference-en doc-debian",
    "licenses": "base-files",
}
# Plain-text documents, by haystack kind: (files, the first of which marks the source installed).
DOC_FILES = {
    "debdocs": (
        Path("/usr/share/debian-reference/debian-reference.en.txt.gz"),
        *sorted(Path("/usr/share/doc/debian").glob("*.txt*")),
    ),
    "licenses": tuple(sorted(Path("/usr/share/common-licenses").glob("*"))),
}
_MIXED_FROM = ("jargon", "gcide", "foldoc", "fortunes", "pydoc", "code", "noise", "nearmiss")


def haystack_installed(kind: str) -> bool:
    """Whether a haystack's source text is on this machine (Debian packages; the rest is built in)."""
    if kind in DICT_FILES:
        return DICT_FILES[kind].is_file()
    if kind == "glossary":
        return DICT_FILES["gcide"].is_file()
    if kind == "fortunes":
        return (FORTUNES_DIR / "fortunes").is_file()  # the package's main file
    if kind in DOC_FILES:
        return bool(DOC_FILES[kind]) and DOC_FILES[kind][0].is_file()
    return True


def available_haystacks(split: str, kinds: Sequence[str] | None = None) -> tuple[str, ...]:
    """The split's haystack kinds (or the given ones) whose source text is installed."""
    if kinds is None:
        kinds = TRAIN_HAYSTACKS if split == "train" else HELDOUT_HAYSTACKS
    return tuple(k for k in kinds if haystack_installed(k))


def _clean(sentences: Sequence[str]) -> tuple[str, ...]:
    return tuple(
        s for s in sentences if 20 <= len(s) <= 300 and not any(c in s for c in "{}<>[]|\\")
    )


def _dictionary_text(kind: str, source: str) -> str:
    """The first 8 MiB of dictd text `source` (plenty of haystack, and fast to load), for `kind`."""
    path = DICT_FILES[source]
    if not path.is_file():
        raise InputError(
            f"haystack '{kind}' needs {path}: apt-get install -y --no-install-recommends "
            f"{DICT_PACKAGES[kind]}"
        )
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        return f.read(8 << 20)


@lru_cache(maxsize=8)
def dictionary_sentences(kind: str) -> tuple[str, ...]:
    """Sentences of an installed dictd text (markup-light lines only)."""
    return _clean(split_sentences(_dictionary_text(kind, kind)))


_GCIDE_HEAD = re.compile(
    r"^([A-Z][A-Za-z'-]{2,}) \\[^\\\n]*\\, (n|v\. t|v\. i|v|a|adv|prep|conj|interj)\.(.*)$"
)
_POS = {"n": "n.", "v. t": "v.t.", "v. i": "v.i.", "v": "v.", "a": "adj.", "adv": "adv.",
        "prep": "prep.", "conj": "conj.", "interj": "interj."}  # fmt: skip


@lru_cache(maxsize=1)
def glossary_entries() -> tuple[tuple[str, str, str], ...]:
    """(headword, part of speech, definition) of GCIDE's entries, from its first 8 MiB."""
    out = []
    for block in _dictionary_text("glossary", "gcide").split("\n\n"):
        lines = block.strip().splitlines()
        head = _GCIDE_HEAD.match(lines[0]) if lines else None
        if head is None:
            continue
        body = re.sub(r"\[[^\]]*\]|--[A-Z][\w.]*", " ", " ".join(ln.strip() for ln in lines[1:]))
        sentences = _clean(split_sentences(body))
        if sentences:
            out.append((head.group(1), _POS[head.group(2)], " ".join(sentences[:2])))
    return tuple(out)


@lru_cache(maxsize=1)
def fortune_sentences() -> tuple[str, ...]:
    """Sentences of the Debian `fortunes` quotations (files sorted by name, attributions dropped)."""
    if not haystack_installed("fortunes"):
        raise InputError(
            f"haystack 'fortunes' needs {FORTUNES_DIR}: apt-get install -y --no-install-recommends "
            "fortunes"
        )
    out: list[str] = []
    for path in sorted(FORTUNES_DIR.iterdir()):
        if path.suffix or not path.is_file():
            continue  # skip the .dat indexes and .u8 links
        text = path.read_text(encoding="utf-8", errors="replace")
        for entry in text.split("\n%\n"):
            body = "\n".join(ln for ln in entry.splitlines() if not ln.strip().startswith("--"))
            out += split_sentences(body)
    return _clean(out)


@lru_cache(maxsize=4)
def document_sentences(kind: str) -> tuple[str, ...]:
    """Sentences of a haystack kind's plain-text documents (gzip or not, in a fixed order)."""
    if not haystack_installed(kind):
        raise InputError(
            f"haystack '{kind}' is not installed: apt-get install -y --no-install-recommends "
            f"{DICT_PACKAGES[kind]}"
        )
    out: list[str] = []
    for path in DOC_FILES[kind]:
        if not path.is_file():
            continue
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
                text = f.read()
        else:
            text = path.read_text(encoding="utf-8", errors="replace")
        out += split_sentences(text)
    return _clean(out)


def _stdlib_files() -> list[Path]:
    import sysconfig

    root = Path(sysconfig.get_paths()["stdlib"])
    skip = ("site-packages", "test", "idlelib", "lib2to3", "tkinter", "turtledemo")
    return sorted(
        p for p in root.rglob("*.py") if not any(part in skip for part in p.relative_to(root).parts)
    )


@lru_cache(maxsize=1)
def python_text() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(docstring sentences, source-code lines) of the Python standard library on this machine.

    Always installed, so training has prose and code haystacks with no system package; read with
    `ast`, never imported. The text depends on the Python version (recorded in each recipe).
    """
    import ast

    docs: list[str] = []
    code: list[str] = []
    for path in _stdlib_files():
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        documented = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
        for node in ast.walk(tree):
            if isinstance(node, documented) and (doc := ast.get_docstring(node, clean=True)):
                docs += split_sentences(doc)
        code += [
            ln.strip()
            for ln in source.splitlines()
            if 24 <= len(ln.strip()) <= 120 and not ln.lstrip().startswith("#")
        ]
    return _clean(docs), tuple(code)


def _source_sentences(kind: str) -> tuple[str, ...]:
    if kind in DICT_FILES:
        return dictionary_sentences(kind)
    if kind == "fortunes":
        return fortune_sentences()
    if kind in DOC_FILES:
        return document_sentences(kind)
    docs, code = python_text()
    return docs if kind == "pydoc" else code


_NOISE_SUBJECTS = ("The river", "The old road", "A small bird", "The wind", "The market",
                   "The lamp", "The garden", "A quiet street", "The harbor", "The clock")  # fmt: skip
_NOISE_PREDICATES = ("is calm today", "runs past the hill", "was painted last spring",
                     "looks the same as always", "hums softly", "stays open late",
                     "turns toward the sea", "is full of leaves", "rests in the shade")  # fmt: skip


def _noise_sentence(rng: random.Random) -> str:
    return f"{rng.choice(_NOISE_SUBJECTS)} {rng.choice(_NOISE_PREDICATES)}."


def _bio_sentence(rng: random.Random, split: str) -> str:
    name = draw(lambda: make_key("person", rng), split, set())  # names may repeat in bios
    template, _ = rng.choice(BIO_FACTS)
    return fill(template, **bio_fields(rng, name))



def filler(kind: str, rng: random.Random, split: str) -> Callable[[], str]:
    if kind in DICT_FILES or kind in DOC_FILES or kind in ("fortunes", "pydoc", "code"):
        sentences = _source_sentences(kind)
        pos = [rng.randrange(len(sentences))]

        def next_sentence() -> str:
            pos[0] = (pos[0] + 1) % len(sentences)
            return sentences[pos[0]]

        return next_sentence
    if kind == "mixed":  # runs of 1-6 sentences from one source, then another: heterogeneous chunks
        fillers = {k: filler(k, rng, split) for k in available_haystacks(split, _MIXED_FROM)}
        current, left = next(iter(fillers)), 0

        def mixed() -> str:
            nonlocal current, left
            if left <= 0:
                current, left = rng.choice(list(fillers)), rng.randint(1, 6)
            left -= 1
            return fillers[current]()

        return mixed
    if kind == "glossary":  # headword line, then its definition; one headword style per episode
        entries = glossary_entries()
        start = rng.randrange(len(entries))
        style = rng.choice(("{W}, {p}", "{w}, {p}", "{W} ({p})", "{w}: {p}"))

        def glossary_lines() -> Iterator[str]:
            for i in count(start + 1):
                word, part, definition = entries[i % len(entries)]
                yield style.format(W=word.upper(), w=word, p=part)
                yield definition

        return partial(next, glossary_lines())
    if kind == "noise":
        return lambda: _noise_sentence(rng)
    if kind == "ruler_noise":
        return lambda: NOISE
    if kind == "bios":
        return lambda: _bio_sentence(rng, split)
    # near-miss: statements in this split's shapes about other keys, mixed with noise
    shapes = TRAIN_SHAPES if split == "train" else HELDOUT_SHAPES
    attrs = TRAIN_ATTRS if split == "train" else HELDOUT_ATTRS

    def near_miss() -> str:
        if rng.random() < 0.5:
            return _noise_sentence(rng)
        attr, value_kind = rng.choice(attrs)
        key = make_key(rng.choice(KEY_KINDS), rng)
        return fill(rng.choice(shapes), attr=attr, key=key, value=make_value(value_kind, rng))

    return near_miss

