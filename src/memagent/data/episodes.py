"""Oracle memory episodes: training data for the memory-writing policy.

An episode is a (document, question) pair cut into chunks at the policy's chunk budget, with the
memory an ideal agent would hold after each chunk: the sentences relevant to the question seen so
far, copied word for word, one per line. A chunk that adds nothing gets the short keep reply
(the loop keeps the memory); before the first fact the memory is a fixed "nothing yet" line. The
final conversation answers `\\boxed{gold}` from that memory alone.

Diversity is the point: 36 statement shapes x 24 attributes x 4 key kinds x 6 value kinds, six task
kinds (single needle, multi-key with distractors, multi-value, multi-query, variable tracking,
facts in synthesized paragraphs) and five haystack kinds (two Debian dictionaries, generated
noise, near-miss sentences, synthesized biographies). A `heldout` split uses shapes, attributes and
haystacks never seen in `train` (plus RULER's own needle template, noise and essay, which no train
episode uses), and every key and value is assigned to one split by a hash, so no key or value is
shared between splits. Episodes are pure functions of (split, seed, index, tokenizer, budgets).
"""

from __future__ import annotations

import gzip
import hashlib
import random
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from itertools import count, pairwise
from pathlib import Path
from typing import Any

from memagent.chunking import iter_chunks
from memagent.data.haystack import DEFAULT_ESSAY, NOISE, split_sentences, words
from memagent.errors import InputError
from memagent.profile import EMBEDDED
from memagent.types import Tokenizer

SPLITS = ("train", "heldout")
NOTHING_YET = EMBEDDED.templates.empty_memory
KEEP = EMBEDDED.templates.keep_reply or "KEEP"

# ------------------------------------------------------------------ templates
# {attr} the attribute, {key} who/what it belongs to, {value} the fact to keep.
TRAIN_SHAPES = (
    "The {attr} for {key} is {value}.",
    "{key}'s {attr} is {value}.",
    "Remember that the {attr} of {key} is {value}.",
    "Note: the {attr} for {key} is {value}.",
    "For {key}, the {attr} is {value}.",
    "In the records, the {attr} listed for {key} is {value}.",
    "It is known that {key} has the {attr} {value}.",
    "The {attr} belonging to {key} is {value}.",
    "Please keep in mind that {key} uses the {attr} {value}.",
    "According to the file, the {attr} of {key} is {value}.",
    "{value} is the {attr} for {key}.",
    "Write this down: {key} has {value} as its {attr}.",
    "The {attr} assigned to {key} was {value}.",
    "Officially, the {attr} for {key} reads {value}.",
    "A quick note says the {attr} for {key} is {value}.",
    "Everyone agrees that the {attr} of {key} is {value}.",
    "The ledger shows {value} as the {attr} of {key}.",
    "Important: {key} -> {attr}: {value}.",
    "The {attr} that goes with {key} is {value}.",
    "Today we learned that the {attr} for {key} is {value}.",
    "Hidden in plain sight, the {attr} for {key} is {value}.",
    "Among other things, the {attr} of {key} is {value}.",
    "The report confirms the {attr} of {key}: {value}.",
    "As for {key}, its {attr} is {value}.",
    "Do not forget: the {attr} for {key} equals {value}.",
    "The {attr} registered under {key} is {value}.",
    "By the way, {key} has the {attr} {value}.",
    "Our notes record {value} as {key}'s {attr}.",
    "The {attr} of {key}, for the record, is {value}.",
    "One detail matters: the {attr} for {key} is {value}.",
)
HELDOUT_SHAPES = (
    "Keep this safe: the {attr} connected to {key} is {value}.",
    "The archive lists {value} under {attr} for {key}.",
    "If anyone asks, the {attr} for {key} is {value}.",
    "Someone whispered that {key}'s {attr} is {value}.",
    "Records indicate {key} holds the {attr} {value}.",
    "Mark it: {attr} of {key} = {value}.",
)
TRAIN_QUESTIONS = (
    "What is the {attr} for {key}?",
    "What is {key}'s {attr}?",
    "Which {attr} belongs to {key}?",
    "Tell me the {attr} of {key}.",
    "What {attr} is listed for {key} in the text?",
    "Find the {attr} for {key} mentioned in the text.",
)
HELDOUT_QUESTIONS = (
    "What is the {attr} for {key} mentioned in the provided text?",
    "Can you recall the {attr} of {key}?",
)
TRAIN_MULTI_QUESTIONS = (
    "What are all the {attr}s for {key}?",
    "List every {attr} given for {key}.",
    "Which {attr}s are mentioned for {key}?",
)
HELDOUT_MULTI_QUESTIONS = ("What are all the {attr}s for {key} mentioned in the provided text?",)
PREAMBLES = (
    "",
    "",
    "Some facts are hidden in a long text. Remember the ones you are asked about.\n",
    "Read the text carefully; I will ask about one detail afterwards.\n",
    "A detail is buried somewhere in the text below.\n",
)

# (attribute, value kind); attributes are split like shapes so the held-out ones are never trained.
TRAIN_ATTRS = (
    ("secret code", "number"), ("access code", "number"), ("lucky number", "number"),
    ("serial number", "number"), ("vault combination", "number"), ("room number", "number"),
    ("booking reference", "uuid"), ("license key", "uuid"), ("tracking id", "uuid"),
    ("password", "word"), ("favorite word", "word"), ("code word", "word"),
    ("contact person", "name"), ("guardian", "name"), ("team captain", "name"),
    ("start date", "date"), ("deadline", "date"), ("anniversary", "date"),
    ("motto", "phrase"), ("favorite dish", "phrase"), ("hidden treasure", "phrase"),
)  # fmt: skip
HELDOUT_ATTRS = (
    ("pin number", "number"), ("session token", "uuid"), ("nickname", "word"),
    ("mentor", "name"), ("launch date", "date"), ("slogan", "phrase"),
)  # fmt: skip
KEY_KINDS = ("pair", "person", "project", "uuid")
FIRST = (
    "Ada", "Bruno", "Celia", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas",
    "Keiko", "Luca", "Maren", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Soren", "Tamsin",
    "Umar", "Vera", "Wendell", "Xenia", "Yusuf", "Zora", "Aurelio", "Bettina", "Cyrus",
    "Dalia", "Emeric", "Fenna", "Gideon", "Halina", "Ilya", "Juno", "Kasimir", "Leona",
)  # fmt: skip
LAST = (
    "Abernathy", "Bergstrom", "Castellano", "Dvorak", "Eriksen", "Fontaine", "Galloway",
    "Halvorsen", "Iwasaki", "Jablonski", "Kowalczyk", "Lindqvist", "Marchetti", "Novak",
    "Okafor", "Pellegrini", "Quintero", "Rasmussen", "Szabo", "Takahashi", "Underwood",
    "Varga", "Whitfield", "Yilmaz", "Zielinski", "Ashdown", "Brennan", "Correia", "Delacroix",
)  # fmt: skip
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def split_of(item: str) -> str:
    """Every key and value belongs to one split, by hash: one in five is held out."""
    digest = hashlib.blake2b(item.casefold().encode("utf-8"), digest_size=2).digest()
    return "heldout" if int.from_bytes(digest, "big") % 5 == 0 else "train"


def _draw(make: Callable[[], str], split: str, taken: set[str]) -> str:
    for _ in range(10_000):
        item = make()
        if item not in taken and split_of(item) == split:
            taken.add(item)
            return item
    raise InputError("could not draw a fresh key or value: the item space is exhausted")


def make_key(kind: str, rng: random.Random) -> str:
    if kind == "pair":
        return f"{rng.choice(words('adjectives'))}-{rng.choice(words('nouns'))}"
    if kind == "person":
        return f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    if kind == "project":
        return f"Project {rng.choice(words('nouns')).capitalize()}-{rng.randint(2, 99)}"
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_value(kind: str, rng: random.Random) -> str:
    if kind == "number":
        return str(rng.randint(10 ** (d := rng.randint(3, 8)), 10 ** (d + 1) - 1))
    if kind == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if kind == "word":
        return rng.choice(words("nouns"))
    if kind == "name":
        return f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    if kind == "date":
        return f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(1900, 2030)}"
    adj, n1, n2 = (
        rng.choice(words("adjectives")),
        rng.choice(words("nouns")),
        rng.choice(words("nouns")),
    )
    return f"{adj} {n1} {n2}" if rng.random() < 0.5 else f"the {adj} {n1}"


def _fill(template: str, **fields: str) -> str:
    """The template with its fields in place, as a sentence (capital first letter)."""
    out = _code(template, **fields)
    return out[0].upper() + out[1:] if out else out


def _code(template: str, **fields: str) -> str:
    """The template with its fields in place, as written (a line of code keeps its case)."""
    for name, value in fields.items():
        template = template.replace("{" + name + "}", value)
    return template


# ------------------------------------------------------------------ haystacks
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


_BIO_FACTS = (
    ("{name} was born in {city} in {year}.", "city"),
    ("{name} works as a {job} in {city}.", "job"),
    ("{name} owns a dog called {pet}.", "pet"),
    ("{name} plays the {instrument} every Sunday.", "instrument"),
    ("{name} moved to {city} when she was {age}.", "city"),
)
CITIES = ("Tallinn", "Porto", "Quito", "Lagos", "Hobart", "Bergen", "Cusco", "Dakar", "Graz",
          "Izmir", "Kyoto", "Lyon", "Mombasa", "Oaxaca", "Perth", "Riga", "Split", "Tromso")  # fmt: skip
JOBS = ("baker", "surveyor", "pilot", "librarian", "chemist", "carpenter", "nurse", "architect")
PETS = ("Biscuit", "Pepper", "Juniper", "Marlow", "Tofu", "Rocket", "Clementine", "Waffles")
INSTRUMENTS = ("cello", "oboe", "banjo", "harp", "trumpet", "accordion", "violin", "sitar")
BIO_QUESTIONS = {
    "city": "In which city was {name} born?",
    "job": "What does {name} work as?",
    "pet": "What is the name of {name}'s dog?",
    "instrument": "Which instrument does {name} play every Sunday?",
}


def _bio_fields(rng: random.Random, name: str) -> dict[str, str]:
    return {
        "name": name,
        "city": rng.choice(CITIES),
        "year": str(rng.randint(1850, 1999)),
        "job": rng.choice(JOBS),
        "pet": rng.choice(PETS),
        "instrument": rng.choice(INSTRUMENTS),
        "age": str(rng.randint(5, 60)),
    }


def _bio_sentence(rng: random.Random, split: str) -> str:
    name = _draw(lambda: make_key("person", rng), split, set())  # names may repeat in bios
    template, _ = rng.choice(_BIO_FACTS)
    return _fill(template, **_bio_fields(rng, name))


# ------------------------------------------------------------------ episodes
@dataclass(frozen=True)
class EpisodeSpec:
    """Budgets an episode is cut at: the policy's chunk size and the range of chunk counts."""

    chunk: int = 512
    min_chunks: int = 1
    max_chunks: int = 8
    haystacks: tuple[str, ...] | None = None  # None: every installed haystack of the split
    task_weights: tuple[tuple[str, float], ...] | None = None  # None: TASK_WEIGHTS


@dataclass
class Episode:
    """One (document, question) with the oracle memory after each chunk and the gold answer."""

    id: str
    split: str
    task: str
    haystack: str
    question: str
    chunks: list[str]
    memories: list[str]  # memory after each chunk (NOTHING_YET until the first fact)
    relevant: list[list[str]]  # relevant sentences first seen in each chunk
    answers: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def final_reply(self) -> str:
        return "\\boxed{" + ", ".join(self.answers) + "}"

    def conversations(self) -> list[tuple[str, str, str | None, str]]:
        """(kind, memory before, chunk or None for the final step, oracle reply) per conversation."""
        out: list[tuple[str, str, str | None, str]] = []
        memory = NOTHING_YET
        for chunk, new, after in zip(self.chunks, self.relevant, self.memories, strict=True):
            out.append(("find" if new else "keep", memory, chunk, after if new else KEEP))
            memory = after
        out.append(("final", memory, None, self.final_reply))
        return out


TASK_WEIGHTS = {
    "single": 0.28,
    "multikey": 0.2,
    "multivalue": 0.12,
    "multiquery": 0.1,
    "vt": 0.15,
    "bio": 0.15,
    # Weight 0 here, last, so recipes before v5 draw exactly the episodes they did; v5 weights it.
    "vt_code": 0.0,
    "vt_any": 0.0,  # v6: chains in a syntax drawn per episode from keywords x sigils x operators
    "vt_syntax": 0.0,  # v7: vt_any, and a hop may repeat the keyword on its right ("LET B = LET A")
}
_VT_SHAPES_TRAIN = ("{b} := {a}", "Let {b} equal {a}.", "Set {b} to the value of {a}.",
                    "{b} takes the value of {a}.", "assign {b} = {a}")  # fmt: skip
_VT_SHAPES_HELDOUT = ("{b} is a copy of {a}.", "Now {b} holds {a}.")
# vt_code: one programming-language syntax per episode, (first assignment, each hop). v3 kept
# RULER's "VAR A = 12345" but not the hops "VAR B = VAR A": a hop names no value and no asked key,
# only a variable already in memory. RULER's own syntax is in neither split.
_VT_CODE_TRAIN = (
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
_VT_CODE_HELDOUT = (
    ("my ${a} = {v};", "my ${b} = ${a};"),
    ("(setq {a} {v})", "(setq {b} {a})"),
    ("auto {a} = {v};", "auto {b} = {a};"),
)
# vt_any (train split): a syntax assembled per episode, so no single form is learned. v5 learned
# its nine train syntaxes and kept hops written in them, but not in an unseen one ("(setq B A)",
# RULER's "VAR B = VAR A"). No keyword of the held-out syntaxes, nor RULER's VAR, is drawn.
_VT_KEYWORDS = ("", "", "let ", "const ", "set ", "def ", "val ", "dim ", "local ", "global ",
                "int ", "float ", "string ", "new ", "put ", "store ", "make ", "assign ",
                "declare ", "define ", "LET ", "SET ", "DEF ", "DIM ", "VAL ", "CONST ", "static ",
                "mut ", "register ", "field ", "param ", "export ")  # fmt: skip
_VT_SIGILS = ("", "", "$", "@", "%", "&", "*", "#")
_VT_OPERATORS = ("=", "=", ":=", "<-", "is", "as", "gets", "becomes", "to", ":", "=:", "<=")
_VT_ENDS = ("", "", ";", ".", ",")


def _vt_syntax(rng: random.Random, repeat_keyword: bool = False) -> tuple[str, str]:
    """(first assignment, hop) in a syntax drawn from keywords x sigils x operators x endings.
    `repeat_keyword` (vt_syntax): half the hops with a keyword repeat it before the source variable
    ("SET B := SET A"), so a hop reads like a first assignment whose value is a name in memory."""
    kw, sigil = rng.choice(_VT_KEYWORDS), rng.choice(_VT_SIGILS)
    op, end = rng.choice(_VT_OPERATORS), rng.choice(_VT_ENDS)
    source = f"{sigil}{{a}}"
    if repeat_keyword and kw and rng.random() < 0.5:  # drawn only here: vt_any is unchanged
        source = kw + source
    return f"{kw}{sigil}{{a}} {op} {{v}}{end}", f"{kw}{sigil}{{b}} {op} {source}{end}"


_VT_QUESTIONS = (
    "Which variables end up holding the value {value}? Follow every assignment.",
    "Find all variables that are assigned the value {value}, directly or through other variables.",
)


def _var_name(rng: random.Random) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "".join(rng.choice(letters) for _ in range(rng.choice((3, 4, 5)))).upper()


def _chain_needles(
    rng: random.Random,
    split: str,
    preamble: str,
    first: Callable[[str, str], str],
    hop: Callable[[str, str], str],
) -> tuple[str, list[str], list[str], list[str], list[str]]:
    """A variable chain (first(name, value), then hop(previous, next) per link) and a distractor
    chain of 0-3 other names, as _needles returns them; `first`/`hop` write one task's syntax."""
    taken: set[str] = set()
    value = _draw(lambda: str(rng.randint(10000, 99999)), split, taken)
    names = [_draw(lambda: _var_name(rng), split, taken) for _ in range(rng.randint(2, 5))]
    lines = [first(names[0], value)] + [hop(a, b) for a, b in pairwise(names)]
    other_value = _draw(lambda: str(rng.randint(10000, 99999)), split, taken)
    others = [_draw(lambda: _var_name(rng), split, taken) for _ in range(rng.randint(0, 3))]
    distract = [first(others[0], other_value)] if others else []
    distract += [hop(a, b) for a, b in pairwise(others)]
    question = preamble + _fill(rng.choice(_VT_QUESTIONS), value=value)
    return question, lines, distract, names, [value]


def _needles(
    task: str, rng: random.Random, split: str
) -> tuple[str, list[str], list[str], list[str], list[str]]:
    """(question, relevant sentences in document order, distractors, answers, asked keys)."""
    taken: set[str] = set()
    shapes = TRAIN_SHAPES if split == "train" else HELDOUT_SHAPES
    attrs = TRAIN_ATTRS if split == "train" else HELDOUT_ATTRS
    questions = TRAIN_QUESTIONS if split == "train" else HELDOUT_QUESTIONS
    multi_qs = TRAIN_MULTI_QUESTIONS if split == "train" else HELDOUT_MULTI_QUESTIONS
    preamble = rng.choice(PREAMBLES)

    def statement(key: str, attr: str, value: str) -> str:
        return _fill(rng.choice(shapes), attr=attr, key=key, value=value)

    if task in ("vt_code", "vt_any", "vt_syntax"):
        if task != "vt_code" and split == "train":
            first, hop = _vt_syntax(rng, repeat_keyword=task == "vt_syntax")
        else:  # vt_any's and vt_syntax's held-out split is vt_code's: syntaxes no train episode uses
            first, hop = rng.choice(_VT_CODE_TRAIN if split == "train" else _VT_CODE_HELDOUT)
        return _chain_needles(
            rng, split, preamble,
            lambda a, v: _code(first, a=a, v=v), lambda a, b: _code(hop, a=a, b=b),
        )  # fmt: skip
    if task == "vt":
        vt_shapes = _VT_SHAPES_TRAIN if split == "train" else _VT_SHAPES_HELDOUT
        return _chain_needles(
            rng, split, preamble,
            lambda a, v: f"{a} = {v}.", lambda a, b: _fill(rng.choice(vt_shapes), a=a, b=b),
        )  # fmt: skip
    if task == "bio":
        name = _draw(lambda: make_key("person", rng), split, taken)
        facts = _bio_fields(rng, name)
        asked = rng.choice(list(BIO_QUESTIONS))
        template = next(t for t, a in _BIO_FACTS if a == asked)
        relevant = [_fill(template, **facts)]
        distract = [_fill(t, **facts) for t, a in _BIO_FACTS if a != asked][: rng.randint(0, 3)]
        answer = facts[asked]
        question = preamble + _fill(BIO_QUESTIONS[asked], name=name)
        return question, relevant, distract, [answer], [name]

    attr, kind = rng.choice(attrs)
    key_kind = rng.choice(KEY_KINDS)
    n_keys = {"single": 1, "multikey": 1, "multivalue": 1, "multiquery": rng.randint(2, 3)}[task]
    keys = [_draw(lambda: make_key(key_kind, rng), split, taken) for _ in range(n_keys)]
    n_values = rng.randint(2, 4) if task == "multivalue" else 1
    relevant, answers = [], []
    for key in keys:
        for _ in range(n_values):
            value = _draw(lambda: make_value(kind, rng), split, taken)
            relevant.append(statement(key, attr, value))
            answers.append(value)
    n_distract = rng.randint(1, 5) if task in ("multikey", "multiquery") else rng.randint(0, 1)
    distract = []
    for _ in range(n_distract):
        other_key = _draw(lambda: make_key(key_kind, rng), split, taken)
        d_attr = attr if rng.random() < 0.7 else rng.choice(attrs)[0]
        value = _draw(lambda: make_value(kind, rng), split, taken)
        distract.append(statement(other_key, d_attr, value))
    if len(keys) == 1 and n_values == 1:
        question = _fill(rng.choice(questions), attr=attr, key=keys[0])
    else:
        joined = keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + " and " + keys[-1]
        question = _fill(rng.choice(multi_qs), attr=attr, key=joined)
    order = list(range(len(relevant)))
    rng.shuffle(order)  # multi-value/multi-query facts appear in random order
    return preamble + question, [relevant[i] for i in order], distract, answers, keys


def _filler(kind: str, rng: random.Random, split: str) -> Callable[[], str]:
    if kind in DICT_FILES or kind in DOC_FILES or kind in ("fortunes", "pydoc", "code"):
        sentences = _source_sentences(kind)
        pos = [rng.randrange(len(sentences))]

        def next_sentence() -> str:
            pos[0] = (pos[0] + 1) % len(sentences)
            return sentences[pos[0]]

        return next_sentence
    if kind == "mixed":  # runs of 1-6 sentences from one source, then another: heterogeneous chunks
        fillers = {k: _filler(k, rng, split) for k in available_haystacks(split, _MIXED_FROM)}
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
        return _fill(rng.choice(shapes), attr=attr, key=key, value=make_value(value_kind, rng))

    return near_miss


def generate_episode(
    split: str,
    seed: int,
    index: int,
    tokenizer: Tokenizer,
    spec: EpisodeSpec = EpisodeSpec(),
    task: str | None = None,
    haystack: str | None = None,
) -> Episode:
    """Episode `index` of a split: same arguments, same episode."""
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    rng = random.Random(f"episode|{split}|{seed}|{index}")
    weights = dict(spec.task_weights) if spec.task_weights is not None else TASK_WEIGHTS
    task = task or rng.choices(list(weights), weights=list(weights.values()))[0]
    kinds = available_haystacks(split, spec.haystacks)
    if not kinds:
        raise InputError(f"no haystack source for split {split!r} is installed")
    haystack = haystack or rng.choice(kinds)
    question, relevant, distract, answers, keys = _needles(task, rng, split)
    n_chunks = rng.randint(spec.min_chunks, spec.max_chunks)
    # Fill to a token target that yields n_chunks chunks (the last one partly filled).
    target = (n_chunks - 1) * spec.chunk + rng.randint(spec.chunk // 4, spec.chunk)
    next_filler = _filler(haystack, rng, split)
    units: list[str] = []
    tokens = 0
    while tokens < target:
        unit = next_filler()
        if any(k.casefold() in unit.casefold() for k in keys):
            continue  # filler must never state a fact about an asked key
        units.append(unit)
        tokens += len(tokenizer.encode(" " + unit))
    needles = relevant + distract
    # Facts keep their order (chains and multi-value lists read top to bottom); distractors anywhere.
    gaps = range(len(units) + 1)
    if len(relevant) <= len(gaps):
        slots = sorted(rng.sample(gaps, len(relevant)))
    else:  # more facts than gaps in a very short document: some share a gap, in order
        slots = sorted(rng.choices(gaps, k=len(relevant)))
    placed = [(slot, i) for i, slot in enumerate(slots)]
    placed += [(rng.randrange(len(units) + 1), len(relevant) + j) for j in range(len(distract))]
    sep = "\n" if haystack in ("noise", "ruler_noise", "nearmiss", "code", "mixed", "glossary") else " "
    for slot, i in sorted(placed, key=lambda p: (p[0], p[1]), reverse=True):
        units.insert(slot, needles[i])
    document = sep.join(units)
    chunks = [c.text for c in iter_chunks([document], tokenizer, spec.chunk)]
    # Which chunk holds each relevant sentence; a sentence cut by a chunk boundary is moved.
    starts, pos = [], 0
    for text in chunks:
        starts.append(pos)
        pos += len(text)
    memories, per_chunk = [], [[] for _ in chunks]
    cursor = 0
    for sentence in relevant:
        at = document.find(sentence, cursor)
        cursor = at + len(sentence)
        owner = max(i for i, s in enumerate(starts) if s <= at)
        if at + len(sentence) > starts[owner] + len(chunks[owner]):
            return generate_episode(split, seed, index + 1_000_000, tokenizer, spec, task, haystack)
        per_chunk[owner].append(sentence)
    lines: list[str] = []
    for new in per_chunk:
        lines += new
        memories.append("\n".join(lines) if lines else NOTHING_YET)
    return Episode(
        id=f"{split}-s{seed}-{index}",
        split=split,
        task=task,
        haystack=haystack,
        question=question,
        chunks=chunks,
        memories=memories,
        relevant=per_chunk,
        answers=answers,
        meta={"seed": seed, "index": index, "chunk": spec.chunk, "distractors": distract},
    )


def episode_document(episode: Episode) -> str:
    return "".join(episode.chunks)


def relevant_seen(memory: str, sentences: Sequence[str]) -> float:
    """Fraction of the relevant sentences whose text survives in a memory (case-insensitive)."""
    if not sentences:
        return 1.0
    folded = memory.casefold()
    return sum(s.casefold() in folded for s in sentences) / len(sentences)


EVAL_SEED_OFFSET = 1_000_003  # evaluation episodes never reuse a training (seed, index) stream
EVAL_CHUNK = 512  # the embedded profile's chunk: documents are cut into this many-token pieces


def episode_sample(
    task: str, index: int, rng: random.Random, opts: Any, tokenizer: Tokenizer
) -> Any:
    """An episode as an evaluation Sample (`episodes_train` / `episodes_heldout`).

    Sized in chunks, not exactly in tokens: round(target / 512) chunks, the last one partly
    filled (so a 4k sample has 8 chunks and 3.7K-4K tokens).
    """
    from memagent.data.io import generated_sample

    split = "train" if task == "episodes_train" else "heldout"
    n = max(1, round(opts.target / EVAL_CHUNK))
    spec = EpisodeSpec(chunk=EVAL_CHUNK, min_chunks=n, max_chunks=n)
    ep = generate_episode(split, opts.seed + EVAL_SEED_OFFSET, index, tokenizer, spec)
    return generated_sample(
        task,
        opts,
        index,
        context=episode_document(ep),
        question=ep.question,
        answers=ep.answers,
        metric="string_match_all",
        meta={
            "episode_task": ep.task,
            "haystack": ep.haystack,
            "chunks": len(ep.chunks),
            "relevant": [s for new in ep.relevant for s in new],
        },
    )
