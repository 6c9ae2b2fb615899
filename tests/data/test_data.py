"""Data generators with the real tokenizer: determinism, exact lengths, needles, loaders."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from memagent.data import TASKS, GenOptions, generate_sample, no_context_filter, parse_length
from memagent.data.fit import default_tolerance
from memagent.data.fixtures import write_hotpotqa_fixture, write_squad_fixture
from memagent.data.haystack import DEFAULT_ESSAY, essay_sentences
from memagent.data.io import read_jsonl, write_jsonl
from memagent.data.loaders import load_hotpotqa, load_source, load_squad
from memagent.errors import InputError

TARGET = 3000


@pytest.fixture(scope="module")
def essay_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small essay source, so tests do not depend on the dict-devil package."""
    folder = tmp_path_factory.mktemp("essays")
    sentences = [
        f"Essay sentence {i} talks about {w} and why it matters to careful readers."
        for i, w in enumerate(["gardens", "rivers", "cities", "music", "ships"] * 30)
    ]
    (folder / "a.txt").write_text(" ".join(sentences), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("qa")
    return {
        "hotpot": str(write_hotpotqa_fixture(folder / "hotpot.json", n_questions=60)),
        "squad": str(write_squad_fixture(folder / "squad.json", n_articles=40)),
    }


def _opts(task: str, essay_dir: Path, sources: dict[str, str], **kw: object) -> GenOptions:
    source = sources["squad"] if task == "qa_1" else sources["hotpot"]
    return GenOptions(target=TARGET, haystack_dir=str(essay_dir), source=source, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("task", [t for t in TASKS if not t.startswith("episodes_")])
def test_length_exact_and_deterministic(task: str, tokenizer, essay_dir, sources) -> None:
    opts = _opts(task, essay_dir, sources)
    a = generate_sample(task, 0, opts, tokenizer)
    b = generate_sample(task, 0, opts, tokenizer)
    assert a.to_json() == b.to_json()  # same seed, same bytes
    tokens = len(tokenizer.encode(a.context))
    assert tokens == a.meta["context_tokens"]
    # QA pads with whole paragraphs, so it may land up to about one paragraph short.
    slack = 120 if task in ("qa_1", "qa_2", "hotpotqa") else default_tolerance(TARGET)
    assert TARGET - slack <= tokens <= TARGET
    assert a.answers and all(a.answers)
    other = generate_sample(task, 1, opts, tokenizer)
    assert other.context != a.context  # samples differ by index


@pytest.mark.parametrize("task", [t for t in TASKS if t.startswith("niah")])
def test_needles_once_at_recorded_depth(task: str, tokenizer, essay_dir, sources) -> None:
    s = generate_sample(task, 3, _opts(task, essay_dir, sources), tokenizer)
    for needle, depth, offset in zip(
        s.meta["needles"], s.meta["depths"], s.meta["needle_char_offsets"], strict=True
    ):
        assert s.context.count(needle) == 1
        assert s.context.index(needle) == offset
        # depth is measured in tokens; characters track it closely
        before = len(tokenizer.encode(s.context[:offset]))
        assert abs(100 * before / s.meta["context_tokens"] - depth) < 6
    for answer in s.answers:
        assert answer in s.context and answer not in s.question


def test_fixed_depth(tokenizer, essay_dir, sources) -> None:
    s = generate_sample(
        "niah_single_1", 0, _opts("niah_single_1", essay_dir, sources, depth=50.0), tokenizer
    )
    assert s.meta["depths"] == [50.0]
    assert abs(s.meta["needle_char_offsets"][0] / len(s.context) - 0.5) < 0.02


def test_vt_chain_resolves_to_answers(tokenizer) -> None:
    s = generate_sample("vt", 2, GenOptions(target=TARGET), tokenizer)
    assigned: dict[str, str] = {}
    for line in s.context.splitlines():
        m = re.fullmatch(r"VAR ([A-Z]{5}) = (VAR [A-Z]{5} |\d+)", line)  # RULER's trailing space
        if m:
            rhs = m.group(2).strip()
            assigned[m.group(1)] = assigned[rhs[4:]] if rhs.startswith("VAR ") else rhs
    value = s.meta["value"]
    assert sorted(k for k, v in assigned.items() if v == value) == sorted(s.answers)
    assert len(s.answers) == 5


def test_cwe_answers_by_counting(tokenizer) -> None:
    s = generate_sample("cwe", 0, GenOptions(target=TARGET), tokenizer)
    pairs = re.findall(r"(\d+)\. (\S+)", s.context)  # RULER's one-line "1. w 2. w ..."
    assert [int(n) for n, _ in pairs] == list(range(1, len(pairs) + 1))
    counts = Counter(w for _, w in pairs)
    top = [w for w, c in counts.items() if c == 6]  # below 4K tokens RULER repeats 6 / 1
    assert sorted(top) == sorted(s.answers)
    assert {c for w, c in counts.items() if w not in top} == {1}


def test_fwe_answers_by_counting(tokenizer) -> None:
    s = generate_sample("fwe", 0, GenOptions(target=TARGET), tokenizer)
    counts = Counter(w for w in s.context.split() if w != "...").most_common(4)
    assert [w for w, _ in counts[:3]] == s.answers
    assert counts[2][1] > counts[3][1]
    assert s.context.split().count("...") > counts[0][1]


@pytest.mark.parametrize("task", ["qa_1", "qa_2", "hotpotqa"])
def test_qa_gold_documents_present(task: str, tokenizer, essay_dir, sources) -> None:
    items = load_source(sources["squad" if task == "qa_1" else "hotpot"])
    s = generate_sample(task, 1, _opts(task, essay_dir, sources), tokenizer)
    item = next(i for i in items if i.id == s.meta["question_id"])
    docs = re.split(r"\n\nDocument \d+:\n", "\n\n" + s.context)[1:]
    assert len(docs) == s.meta["num_docs"] == len(set(docs))
    for g, number in zip(item.gold, s.meta["gold_docs"], strict=True):
        assert docs[number - 1] == item.docs[g]
    assert set(item.docs) <= set(docs)  # its own distractors too, as in the paper
    assert item.question in s.question


def test_qa_source_too_small(tokenizer, sources) -> None:
    with pytest.raises(InputError, match="too few"):
        generate_sample("qa_1", 0, GenOptions(target=200_000, source=sources["squad"]), tokenizer)


def test_jsonl_roundtrip(tmp_path: Path, tokenizer) -> None:
    samples = [
        generate_sample("niah_single_1", i, GenOptions(target=500), tokenizer) for i in range(3)
    ]
    path = tmp_path / "s.jsonl"
    assert write_jsonl(samples, path) == 3
    assert list(read_jsonl(path)) == samples
    path.write_text('{"id": 1}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"s.jsonl:1: .*context"):
        list(read_jsonl(path))


def test_parse_length() -> None:
    assert parse_length("32k") == 32768
    assert parse_length("1M") == 1 << 20
    assert parse_length("5000") == 5000
    with pytest.raises(InputError, match="bad length"):
        parse_length("lots")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not valid JSON"),
        ("{}", "neither"),
        ("[]", "non-empty list"),
        ('[{"question": "q"}]', "record 0: missing field 'answer'"),
        (
            '[{"question": "q", "answer": "a", "supporting_facts": [], "context": [["t", "x"]]}]',
            "record 0: 'context' entries",
        ),
    ],
)
def test_hotpotqa_loader_rejects(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(message)) as info:
        load_source(path) if message in ("neither", "not valid JSON") else load_hotpotqa(path)
    assert "bad.json" in str(info.value)


def test_squad_loader(tmp_path: Path, sources) -> None:
    items = load_squad(sources["squad"])
    assert len(items) == 40 * 4 * 3  # unanswerable questions skipped
    raw = json.loads(Path(sources["squad"]).read_text())
    del raw["data"][0]["paragraphs"][1]["context"]
    bad = tmp_path / "squad.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(InputError, match=r"data\[0\]\.paragraphs\[1\]"):
        load_squad(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_squad(tmp_path / "missing.json")


def test_no_context_filter(tmp_path: Path) -> None:
    path = write_hotpotqa_fixture(tmp_path / "h.json", n_questions=6)
    items = load_hotpotqa(path)
    calls: list[int] = []

    def answer(questions: list[str]) -> list[str | None]:
        # try 1 solves question 0, try 2 solves question 1 (case and punctuation differ)
        calls.append(1)
        k = len(calls) - 1
        return [
            items[i].answers[0].upper() + "." if i == k else None for i in range(len(questions))
        ]

    kept = no_context_filter(items, answer, tries=2)
    assert len(calls) == 2
    assert kept == list(items[2:])


@pytest.mark.skipif(not DEFAULT_ESSAY.is_file(), reason="dict-devil not installed")
def test_default_essay_source() -> None:
    sentences = essay_sentences(None)
    assert len(sentences) > 1000
    assert not any("00-database" in s for s in sentences[:50])
