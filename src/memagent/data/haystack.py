"""Haystacks (noise, essay, needle), needle insertion at depths, and word lists.

A haystack is an endless stream of units (lines or sentences) joined by a separator; the fitter
in `fit.py` decides how many units a target length takes. Essay text comes from a directory of
.txt files, or by default from Ambrose Bierce's "The Devil's Dictionary" (public domain), which
Debian ships in the `dict-devil` package.
"""

from __future__ import annotations

import bisect
import gzip
import random
import re
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from importlib import resources
from itertools import count, islice
from pathlib import Path

from memagent.data.fit import Fitted, default_tolerance, fit_units, prefix_sums, token_costs
from memagent.errors import InputError
from memagent.types import Tokenizer

NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
DEPTHS = [100 * i / 39 for i in range(40)]  # RULER's 40 evenly spaced depths, in percent
DEFAULT_ESSAY = Path("/usr/share/dictd/devil.dict.dz")
ESSAY_INSTALL_HINT = (
    "the default essay haystack is missing; install it with "
    "`apt-get install -y --no-install-recommends dict-devil`, "
    "or pass --haystack-dir with your own .txt files"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'_(\[])")


@lru_cache(maxsize=4)
def words(kind: str) -> tuple[str, ...]:
    """A packaged word list: 'adjectives', 'nouns' or 'verbs'."""
    text = resources.files("memagent.data").joinpath(f"assets/{kind}.txt").read_text("utf-8")
    return tuple(text.split())


def split_sentences(text: str) -> list[str]:
    """Whitespace-collapsed sentences; good enough for inserting needles between them."""
    flat = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(flat) if s]


def _devil_text(path: Path) -> str:
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        raw = f.read()
    start = raw.find("PREFACE")  # skip the dictd metadata entries before the book
    return raw[start:] if start >= 0 else raw


def _ruler_essay_json(path: Path) -> str:
    """RULER's PaulGrahamEssays.json: one object, {"text": every essay concatenated}."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        raise InputError(f"essay file {path} is not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise InputError(f'essay file {path}: expected an object with a string field "text"')
    return data["text"]


def _essay_dir_text(path: Path) -> str:
    """Text of --haystack-dir: RULER's PaulGrahamEssays.json (the file, or a directory holding
    *.json files of that form), else every .txt file of the directory (RULER's downloaded essays
    before it merges them), sorted by name."""
    if path.is_file() and path.suffix == ".json":
        return _ruler_essay_json(path)
    if not path.is_dir():
        raise InputError(f"--haystack-dir {path} is neither a directory nor a .json essay file")
    jsons = sorted(path.glob("*.json"))
    if jsons:
        return "\n".join(_ruler_essay_json(f) for f in jsons)
    files = sorted(path.glob("*.txt"))
    if not files:
        raise InputError(f"--haystack-dir {path} contains no .txt or RULER .json essay files")
    return "\n".join(f.read_text(encoding="utf-8", errors="replace") for f in files)


@lru_cache(maxsize=8)
def essay_sentences(haystack_dir: str | None = None) -> tuple[str, ...]:
    """Sentences of the essay source, in reading order (files sorted by name)."""
    if haystack_dir is None:
        if not DEFAULT_ESSAY.is_file():
            raise InputError(ESSAY_INSTALL_HINT)
        text = _devil_text(DEFAULT_ESSAY)
    else:
        text = _essay_dir_text(Path(haystack_dir))
    sentences = split_sentences(text)
    if len(sentences) < 10:
        raise InputError(f"essay source {haystack_dir or DEFAULT_ESSAY} has under 10 sentences")
    return tuple(sentences)


def noise_units() -> Iterator[str]:
    while True:
        yield NOISE


def essay_units(sentences: Sequence[str], rng: random.Random) -> Iterator[str]:
    """The essay from a random sentence onwards, wrapping round (as RULER repeats its essays)."""
    start = rng.randrange(len(sentences))
    for i in count(start):
        yield sentences[i % len(sentences)]


def gather_units(
    source: Iterator[str], sep: str, budget: int, tokenizer: Tokenizer
) -> tuple[list[str], list[int]]:
    """Pull units until their estimated cost exceeds the budget; returns units and prefix sums."""
    units: list[str] = []
    costs: list[int] = []
    total, batch = 0, 256
    while total <= budget + 64:
        chunk = list(islice(source, batch))
        if not chunk:
            break
        chunk_costs = token_costs(tokenizer, [sep + u for u in chunk])
        units += chunk
        costs += chunk_costs
        total += sum(chunk_costs)
        batch = min(batch * 2, 65536)
    return units, prefix_sums(costs)


def insert_needles(
    units: Sequence[str],
    needles: Sequence[str],
    depths: Sequence[float],
    prefix: Sequence[int] | None = None,
) -> list[str]:
    """Insert each needle between units at its depth, keeping needle order on ties.

    With `prefix` (token prefix sums of the units) depth is measured in tokens, so a needle at 50%
    sits halfway through the tokens even when sentence lengths vary; without it, in units.
    """
    n = len(units)
    if prefix is None:
        positions = [round(d / 100 * n) for d in depths]
    else:
        total = prefix[n]
        positions = [bisect.bisect_left(prefix, d / 100 * total, 0, n + 1) for d in depths]
    out = list(units)
    # Insert from the deepest so earlier positions stay valid.
    for i in sorted(range(len(needles)), key=lambda j: (positions[j], j), reverse=True):
        out.insert(positions[i], needles[i])
    return out


def fit_haystack(
    source: Iterator[str],
    sep: str,
    needles: Sequence[str],
    depths: Sequence[float],
    budget: int,
    tokenizer: Tokenizer,
    render: Callable[[list[str]], str] | None = None,
) -> Fitted:
    """The longest haystack with needles inserted whose text fits the budget in tokens."""
    units, prefix = gather_units(source, sep, budget, tokenizer)
    join = render or sep.join

    def build(n: int) -> str:
        return join(insert_needles(units[:n], needles, depths, prefix))

    fitted = fit_units(build, prefix, budget, tokenizer)
    if fitted.n == len(units) and budget - fitted.tokens > default_tolerance(budget):
        raise InputError(
            f"the haystack source ran out at {fitted.tokens} tokens, short of {budget}; "
            "use a shorter --length or a larger source"
        )
    return fitted
