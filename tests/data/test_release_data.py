"""RULER's and the MemAgent release's exact texts, metrics and files: each test pins one setting."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from memagent.cli import main
from memagent.data import GenOptions, generate_sample, read_jsonl
from memagent.data.filter import (
    FILTER_PROMPT,
    FILTER_SAMPLING,
    boxed_hit,
    closed_book_filter,
    closed_book_hit,
)
from memagent.data.fixtures import write_hotpotqa_fixture, write_squad_fixture
from memagent.data.haystack import essay_sentences
from memagent.data.loaders import load_hotpotqa
from memagent.data.synthetic import fwe_counts, fwe_vocab_size
from memagent.errors import InputError
from memagent.scoring import score
from memagent.types import Completion

TARGET = 3000


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


@pytest.fixture(scope="module")
def hotpot(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_hotpotqa_fixture(tmp_path_factory.mktemp("qa") / "hotpot.json", 60))


# ------------------------------------------------------------------ question texts
def test_niah_questions_are_rulers_templates_without_the_context(tokenizer, tmp_path: Path) -> None:
    one = generate_sample("niah_single_1", 0, GenOptions(target=TARGET), tokenizer)
    key = re.search(r"for (\S+) mentioned", one.question)[1]  # type: ignore[index]
    assert one.question == (
        "A special magic number is hidden within the following text. Make sure to memorize it. "
        "I will quiz you about the number afterwards.\n\nWhat is the special magic number for "
        f"{key} mentioned in the provided text?"
    )
    assert one.meta["answer_prefix"] == (
        f" The special magic number for {key} mentioned in the provided text is"
    )
    essays = tmp_path / "essays"  # an essay source of our own: CI has no Debian dict-devil
    essays.mkdir()
    (essays / "a.txt").write_text(" ".join(f"Sentence number {i} is plain prose." for i in range(400)))
    opts = GenOptions(target=TARGET, haystack_dir=str(essays))
    many = generate_sample("niah_multivalue", 0, opts, tokenizer)
    assert many.question.startswith(
        "Some special magic numbers are hidden within the following text. Make sure to memorize "
        "it. I will quiz you about the numbers afterwards.\n\nWhat are all the special magic "
        "numbers for "
    )
    release = generate_sample(
        "niah_single_1", 0, GenOptions(target=TARGET, style="release"), tokenizer
    )
    assert release.question == (
        "A special magic number is hidden within the following text. Make sure to memorize it. "
        f"What is the special magic number for {key} mentioned in the provided text?"
    )


def test_vt_question_has_rulers_example_and_template(tokenizer) -> None:
    s = generate_sample("vt", 0, GenOptions(target=TARGET), tokenizer)
    value = s.meta["value"]
    tail = (
        "\n\nMemorize and track the chain(s) of variable assignment hidden in the following "
        f"text.\n\n\nQuestion: Find all variables that are assigned the value {value} in the "
        "text above."
    )
    assert s.question.endswith(tail)
    example = s.question[: -len(tail)]
    assert example.startswith("Memorize and track the chain(s) of variable assignment")
    names = re.search(r"they are:  ([A-Z]{3}(?: [A-Z]{3}){4})$", example)
    assert names, example[-200:]
    assert len(tokenizer.encode(example)) <= 500
    # RULER writes every hop with a trailing space
    assert all(line.endswith(" ") for line in s.meta["needles"][1:])
    assert f"VAR {s.answers[1]} = VAR {s.answers[0]} \n" in s.context
    release = generate_sample("vt", 0, GenOptions(target=TARGET, style="release"), tokenizer)
    assert release.question == (
        "Memorize and track the chain(s) of variable assignment hidden in the following text. "
        f"Question: Find all variables that are assigned the value {value} in the text above."
    )


@pytest.mark.parametrize(("target", "repeats"), [(TARGET, (6, 1)), (4200, (30, 3))])
def test_cwe_list_and_question_as_ruler(tokenizer, target: int, repeats: tuple[int, int]) -> None:
    s = generate_sample("cwe", 0, GenOptions(target=target), tokenizer)
    pairs = re.findall(r"(\d+)\. (\S+)", s.context)
    assert " ".join(f"{n}. {w}" for n, w in pairs) == s.context  # one line, as RULER
    assert [int(n) for n, _ in pairs] == list(range(1, len(pairs) + 1))
    counts = Counter(w for _, w in pairs)
    assert {counts[w] for w in s.answers} == {repeats[0]}
    assert {c for w, c in counts.items() if w not in s.answers} == {repeats[1]}
    assert s.question.endswith(
        "\nBelow is a numbered list of words. In these words, some appear more often than others."
        " Memorize the ones that appear most often.\n\nQuestion: What are the 10 most common "
        "words in the above list?"
    )
    assert re.search(r"are: 1\. \S+ 2\. \S+ .* 10\. \S+\n", s.question)


def test_fwe_vocabulary_and_counts_as_ruler(tokenizer) -> None:
    s = generate_sample("fwe", 0, GenOptions(target=TARGET), tokenizer)
    size = s.meta["vocab_size"]
    assert size == fwe_vocab_size(TARGET) == (TARGET - 50) // 50
    counts = Counter(s.context.split())
    expected = fwe_counts(s.meta["coded_words"], size)
    by_rank = sorted(counts.values(), reverse=True)
    assert by_rank == [c for c in expected if c > 0]  # fixed Zipf counts, zero-count words absent
    assert counts["..."] == expected[0]
    assert [counts[w] for w in s.answers] == expected[1:4]
    assert all(re.fullmatch(r"[a-z]{6}", w) for w in s.answers)
    assert s.question == (
        "Read the following coded text and track the frequency of each coded word. Find the "
        "three most frequently appeared coded words. \nQuestion: Do not provide any explanation. "
        "Please ignore the dots '....'. What are the three most frequently appeared words in the "
        "above coded text?"
    )


def test_qa_texts_and_metrics_per_style(tokenizer, hotpot: str) -> None:
    ruler = generate_sample("qa_2", 0, GenOptions(target=TARGET, source=hotpot), tokenizer)
    question = next(i.question for i in load_hotpotqa(hotpot) if i.question in ruler.question)
    assert ruler.question == (
        "Answer the question based on the given documents. Only give me the answer and do not "
        "output any other words.\n\nThe following are given documents.\n\n\n\nAnswer the question "
        "based on the given documents. Only give me the answer and do not output any other "
        f"words.\n\nQuestion: {question}"
    )
    assert ruler.metric == "string_match_part"
    opts = GenOptions(target=TARGET, source=hotpot, style="release")
    release = generate_sample("qa_2", 0, opts, tokenizer)
    assert release.question == f"Answer the question based on the given documents. {question}"
    assert release.metric == "substring_2way_first"
    paper = generate_sample("hotpotqa", 0, GenOptions(target=TARGET, source=hotpot), tokenizer)
    assert paper.metric == "substring_2way_first" and "Answer" not in paper.question


# ------------------------------------------------------------------ metrics
def test_ruler_metrics_as_defined() -> None:
    # string_match_all: mean over references of case-insensitive containment
    assert score("string_match_all", "AbC and x", ["abc", "y", "X", "z"]) == 0.5
    # string_match_part: max over references
    assert score("string_match_part", "the Paris one", ["london", "paris"]) == 1.0
    assert score("string_match_part", "the Paris one", ["london", "rome"]) == 0.0


def test_release_qa_metric_compares_answers0_only() -> None:
    assert score("substring_2way_first", "Paris", ["Paris", "Rome"]) == 1.0
    assert score("substring_2way_first", "Rome", ["Paris", "Rome"]) == 0.0  # any-gold would hit
    assert score("substring_2way", "Rome", ["Paris", "Rome"]) == 1.0
    assert score("substring_2way_first", "in Paris, France", ["paris"]) == 1.0  # gold in pred
    assert score("substring_2way_first", "Paris", ["Paris, France"]) == 1.0  # pred in gold
    # SQuAD's own normaliser: lower() and ASCII punctuation only (ours case-folds and strips “ ”)
    assert score("substring_2way_first", "“STRASSE”", ["straße"]) == 0.0
    assert score("substring_2way", "“STRASSE”", ["strasse"]) == 1.0
    assert score("substring_2way_first", "the", ["the answer"]) == 0.0  # normalises to ""


# ------------------------------------------------------------------ length conventions
def test_ruler_length_convention_counts_question_and_budget(tokenizer) -> None:
    opts = GenOptions(target=TARGET, length_convention="ruler")
    s = generate_sample("niah_single_1", 0, opts, tokenizer)
    total = len(tokenizer.encode(s.question)) + len(tokenizer.encode(s.context)) + 128
    assert TARGET - 60 <= total <= TARGET
    assert s.meta["target_tokens"] == TARGET and s.id.startswith(f"niah_single_1-{TARGET}-")
    plain = generate_sample("niah_single_1", 0, GenOptions(target=TARGET), tokenizer)
    assert plain.question == s.question and plain.meta["context_tokens"] > total - 128


def test_docs_convention_counts_documents(tokenizer, hotpot: str) -> None:
    opts = GenOptions(target=TARGET, source=hotpot, docs=25)
    s = generate_sample("hotpotqa", 0, opts, tokenizer)
    assert s.meta["num_docs"] == 25 == s.meta["target_tokens"]
    assert len(re.findall(r"^Document \d+:$", s.context, re.M)) == 25
    assert s.meta["context_tokens"] == len(tokenizer.encode(s.context))


# ------------------------------------------------------------------ essay source
def test_ruler_paul_graham_json_is_an_essay_source(tmp_path: Path, tokenizer) -> None:
    text = "".join(
        f"Essay {i} says that startups grow when founders talk to users.\n\n" for i in range(200)
    )
    folder = tmp_path / "essays"
    folder.mkdir()
    (folder / "PaulGrahamEssays.json").write_text(json.dumps({"text": text}), encoding="utf-8")
    assert essay_sentences(str(folder))[:2] == (
        "Essay 0 says that startups grow when founders talk to users.",
        "Essay 1 says that startups grow when founders talk to users.",
    )
    assert essay_sentences(str(folder / "PaulGrahamEssays.json")) == essay_sentences(str(folder))
    s = generate_sample(
        "niah_single_2", 0, GenOptions(target=1500, haystack_dir=str(folder)), tokenizer
    )
    assert "founders talk to users" in s.context
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "essays.json").write_text(json.dumps({"essays": []}), encoding="utf-8")
    with pytest.raises(InputError, match=r'bad/essays.json: expected an object with .*"text"'):
        essay_sentences(str(bad))


# ------------------------------------------------------------------ closed-book filter
def test_release_boxed_match_and_its_quirks() -> None:
    assert boxed_hit("So the answer is \\boxed{Paris}.", "paris")
    assert boxed_hit("\\boxed{ New  York }", "new york")  # strip_string drops spaces
    assert not boxed_hit("\\boxed{Paris}" + " filler" * 60, "paris")  # beyond the last 300 chars
    assert not boxed_hit("\\fbox{Paris}", "paris")  # the release's assert rejects \fbox
    assert boxed_hit("answer: \\boxed paris$", "paris")  # the '\boxed ' form
    assert closed_book_hit("I think it is Paris, France", ["paris"])  # gold substring
    assert not closed_book_hit("\\boxed{Rome}", ["Paris"])
    assert FILTER_PROMPT.format(question="Q?") == "Q?\nYour final answer in \\boxed{}.\n"
    assert (FILTER_SAMPLING.temperature, FILTER_SAMPLING.top_p) == (1.0, 0.7)


class _ClosedBook:
    """Scripted: knows the answers of the questions listed; records every request."""

    def __init__(self, name: str, known: dict[str, str]):
        self.name, self.known = name, known
        self.requests: list[object] = []
        self.calls = 0

    def generate(self, requests, sampling):  # type: ignore[no-untyped-def]
        self.calls += 1
        out = []
        for r in requests:
            self.requests.append((r, sampling))
            q = r.messages[0]["content"].split("\n")[0]
            out.append(Completion(f"\\boxed{{{self.known.get(q, 'no idea')}}}", 1, 1))
        return out


def test_filter_library_drops_any_hit(hotpot: str) -> None:
    items = load_hotpotqa(hotpot)[:6]
    base = _ClosedBook("base", {items[1].question: items[1].answers[0]})
    inst = _ClosedBook("inst", {items[4].question: items[4].answers[0]})
    result = closed_book_filter(items, [base, inst], keep=3)
    assert result.kept == [0, 2, 3]
    assert result.hits == {1: ["base"], 4: ["inst"]}
    assert base.calls == inst.calls == 2  # two samples per model
    request, sampling = base.requests[0]  # type: ignore[misc]
    assert request.max_tokens == 512 and sampling.temperature == 1.0


def test_data_filter_command(tmp_path: Path, hotpot: str, capsys, monkeypatch) -> None:
    import memagent.llm

    items = load_hotpotqa(hotpot)
    loaded: list[str] = []

    def fake_load(opts):  # type: ignore[no-untyped-def]
        loaded.append(opts.model)
        return _ClosedBook(opts.model, {items[0].question: items[0].answers[0]})

    monkeypatch.setattr(memagent.llm, "load_llm", fake_load)
    out, report = tmp_path / "kept.json", tmp_path / "report.jsonl"
    code, _, err = run_main(
        ["data", "filter", hotpot, "-o", str(out), "-m", "Qwen2.5-7B", "-m", "Qwen2.5-7B-Instruct",
         "--keep", "5", "--report", str(report)], capsys,
    )
    assert code == 0, err
    assert loaded == ["Qwen2.5-7B", "Qwen2.5-7B-Instruct"]
    kept = json.loads(out.read_text())
    assert [r["question"] for r in kept] == [i.question for i in items[1:6]]
    assert load_hotpotqa(out)  # the output is a HotpotQA file again
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert rows[0]["hit_by"] == ["Qwen2.5-7B", "Qwen2.5-7B-Instruct"] and not rows[0]["kept"]
    assert "kept 5 of 60" in err


def test_data_filter_bad_source_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    import memagent.llm

    monkeypatch.setattr(memagent.llm, "load_llm", lambda *a: pytest.fail("model loaded"))
    squad = write_squad_fixture(tmp_path / "squad.json", n_articles=2)
    code, _, err = run_main(["data", "filter", str(squad), "-o", str(tmp_path / "o.json"),
                             "-m", "x"], capsys)
    assert code == 3 and err.count("\n") == 1 and "squad.json" in err, err


# ------------------------------------------------------------------ released files
def _ruler_eval_file(folder: Path) -> Path:
    path = folder / "eval_niah_single_1_8192.json"
    records = [
        {"index": i, "input": f"What is the special magic number for key-{i}?",
         "context": f"The grass is green.\nOne of the special magic numbers for key-{i} is: {i}7.",
         "outputs": [f"{i}7"], "answer_prefix": " The special magic number", "length": 8000}
        for i in range(3)
    ]
    path.write_text(json.dumps(records, indent=4), encoding="utf-8")
    return path


def test_release_ruler_and_hotpotqa_eval_files(tmp_path: Path) -> None:
    samples = list(read_jsonl(_ruler_eval_file(tmp_path)))
    assert [s.task for s in samples] == ["niah_single_1"] * 3
    assert samples[1].answers == ["17"] and samples[1].metric == "string_match_all"
    assert samples[1].meta["target_tokens"] == 8192 and samples[1].context.startswith("The grass")
    hqa = tmp_path / "eval_200.json"
    hqa.write_text(json.dumps([{"context": "Document 1:\nT\ntext", "input": "Who?",
                                "answers": ["Ann", "Anne"], "num_docs": 200, "index": 7}]))
    (s,) = read_jsonl(hqa)
    assert (s.task, s.metric, s.meta["target_tokens"], s.question) == (
        "hotpotqa", "substring_2way_first", 200, "Who?"
    )


def test_release_files_reach_eval_samples(tmp_path: Path) -> None:
    from memagent.cli.eval import _sample_files
    from memagent.eval.harness import _file_samples

    path = _ruler_eval_file(tmp_path)
    assert _sample_files([path]) == {"niah_single_1": (str(path),)}
    assert len(_file_samples([str(path)], 8192)) == 3
    assert _file_samples([str(path)], 4096) == []


def test_release_training_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [
        {"data_source": "hotpotqa", "prompt": [{"role": "user", "content": f"Q{i}?"}],
         "context": f"Document 1:\nT{i}\nbody", "ability": "memory",
         "reward_model": {"style": "rule", "ground_truth": [f"A{i}"]},
         "extra_info": {"index": i, "question": f"Q{i}?", "num_docs": 200}}
        for i in range(4)
    ]
    path = tmp_path / "hotpotqa_train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    samples = list(read_jsonl(path))
    assert [s.question for s in samples] == ["Q0?", "Q1?", "Q2?", "Q3?"]
    assert samples[2].answers == ["A2"] and samples[2].meta["target_tokens"] == 200
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist([{"question": "q", "context": "c"}]), bad)
    with pytest.raises(InputError, match=r"bad.parquet: parquet lacks column\(s\) prompt, "):
        list(read_jsonl(bad))


def test_parquet_without_pyarrow_says_how_to_install(tmp_path: Path, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    path = tmp_path / "x.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(InputError, match=r"x.parquet: reading parquet needs pyarrow: pip install"):
        list(read_jsonl(path))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("eval_niah_single_1_8192.json", '[{"input": "q"}]', "neither 'outputs'"),
        ("eval_niah_single_1_8192.json", '[{"input": "q", "outputs": ["a"]}]',
         "record 0: missing field 'context'"),
        ("mystery.json", '[{"input": "q", "context": "c", "outputs": ["a"]}]',
         "cannot tell the RULER task"),
        ("eval_qa_1_8192.json", '[{"input": "q", "context": [1, 2], "outputs": ["a"]}]',
         "'context' is a list of document indices"),
        ("eval_200.json", '[{"input": "q", "context": "c", "answers": "a", "num_docs": 2}]',
         "field 'answers' must be a list"),
    ],
)
def test_bad_release_files_are_one_line_exit_3(
    tmp_path: Path, capsys, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    code, _, err = run_main(
        ["eval", "--tasks", "niah_single_1", "--lengths", "8k", "-o", str(tmp_path / "out"),
         "--samples", str(path)], capsys,
    )
    assert code == 3 and err.count("\n") == 1, err
    assert name in err and message in err, err
