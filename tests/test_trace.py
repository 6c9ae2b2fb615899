import io
import json
import sys

import pytest

from memagent.config import AgentConfig, Budgets
from memagent.errors import InputError
from memagent.loop.agent import MemAgent
from memagent.loop.trace import TraceWarning, open_trace, read_trace, run_identity
from memagent.sources import DocumentSource
from scripted import ScriptedLLM
from test_agent import needle_doc

CFG = AgentConfig(budgets=Budgets(chunk=64, memory=48, output=32))
Q = "What is the magic number?"


def traced_ask(tokenizer, doc, path, resume, fail_after=None, name="scripted", doc_path=None):
    """An ask traced as the CLI traces it: the document is a file (or '-', stdin) read as a
    stream, fingerprinted up front when it can be, and checked on resume."""
    llm = ScriptedLLM(tokenizer, fail_after=fail_after)
    llm.name = name
    agent = MemAgent(llm, CFG)
    if doc_path is None:
        doc_path = path.with_name(path.stem + "-doc.txt")
    if doc_path != "-":
        doc_path.write_text(doc, encoding="utf-8")
    source = DocumentSource([str(doc_path)])
    identity = run_identity(Q, CFG, agent.budgets, llm.name, source.fingerprint_files())
    writer, state, final = open_trace(
        path, identity, resume, source.fingerprint, source.read_fingerprint
    )
    if final is not None:
        return final["answer"], llm
    try:
        return agent.ask(source, Q, resume=state, on_step=writer).answer, llm
    finally:
        writer.close()


def rewrite(path, edit):
    """Apply `edit` to every record of the trace at `path`."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(edit(r)) + "\n" for r in records))


def test_killed_run_resumes_at_next_chunk_with_same_answer(tokenizer, tmp_path):
    doc = needle_doc("4821937", at=40, lines=80)
    full_answer, full_llm = traced_ask(tokenizer, doc, tmp_path / "full.jsonl", False)
    path = tmp_path / "t.jsonl"
    with pytest.raises(KeyboardInterrupt):
        traced_ask(tokenizer, doc, path, False, fail_after=4)
    _, steps, final = read_trace(path)
    assert len(steps) == 4 and final is None
    with open(path, "a") as f:
        f.write('{"type": "step", "index": 4, "kin')  # torn line from a kill mid-write
    answer, llm = traced_ask(tokenizer, doc, path, True)
    assert answer == full_answer == "4821937"
    assert llm.calls == full_llm.calls - 4  # the 4 finished chunks were not re-read
    _, steps_resumed, final = read_trace(path)
    _, steps_full, _ = read_trace(tmp_path / "full.jsonl")
    assert [s.memory for s in steps_resumed] == [s.memory for s in steps_full]
    assert final["answer"] == "4821937"
    again, llm2 = traced_ask(tokenizer, doc, path, True)
    assert again == answer and llm2.calls == 0  # complete trace: nothing recomputed


def test_resume_refuses_a_different_run(tokenizer, tmp_path):
    doc = needle_doc("4821937")
    path = tmp_path / "t.jsonl"
    with pytest.raises(KeyboardInterrupt):
        traced_ask(tokenizer, doc, path, False, fail_after=2)
    with pytest.raises(InputError, match="already exists"):
        traced_ask(tokenizer, doc, path, False)
    other = "Another document entirely. " * 50
    with pytest.raises(InputError, match="different document"):
        traced_ask(tokenizer, other, path, True)
    saved = path.read_text()
    rewrite(path, lambda r: {**r, "document": None} if r["type"] == "header" else r)  # as stdin
    with pytest.raises(InputError, match="chunk 0 differs"):  # then the chunk hashes catch it
        traced_ask(tokenizer, other, path, True)
    path.write_text(saved)
    header = json.loads(path.read_text().splitlines()[0])
    header["question"] = "other?"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    with pytest.raises(InputError, match="different question"):
        traced_ask(tokenizer, doc, path, True)


def test_a_finished_trace_of_another_document_is_refused(tokenizer, tmp_path):
    doc = needle_doc("4821937")
    path = tmp_path / "t.jsonl"
    assert traced_ask(tokenizer, doc, path, False)[0] == "4821937"
    final = read_trace(path)[2]
    assert final["document"] == {"sha256": final["document"]["sha256"], "bytes": len(doc)}
    assert json.loads(path.read_text().splitlines()[0])["document"] == final["document"]
    same = traced_ask(tokenizer, doc, path, True, doc_path=tmp_path / "copy.txt")
    assert same[0] == "4821937" and same[1].calls == 0  # same bytes elsewhere: taken from the trace
    one_digit = doc.replace("4821937", "4821938")  # same size, one number changed
    for other in (one_digit, "Another document entirely. " * 50):
        with pytest.raises(InputError, match=r"different document \(\d+ bytes, sha256 \w+; this one"):
            traced_ask(tokenizer, other, path, True, doc_path=tmp_path / "other.txt")


def test_an_unfinished_trace_checks_the_whole_document_up_front(tokenizer, tmp_path):
    doc = needle_doc("4821937", at=50, lines=60)
    path = tmp_path / "t.jsonl"
    with pytest.raises(KeyboardInterrupt):
        traced_ask(tokenizer, doc, path, False, fail_after=2)
    changed = doc.replace("4821937", "4821938")  # after the chunks already read
    with pytest.raises(InputError, match="different document"):
        traced_ask(tokenizer, changed, path, True, doc_path=tmp_path / "o.txt")
    assert traced_ask(tokenizer, doc, path, True)[0] == "4821937"


def test_stdin_is_fingerprinted_as_read(tokenizer, tmp_path, monkeypatch):
    doc = needle_doc("4821937")
    path = tmp_path / "t.jsonl"
    stdin = tmp_path / "stdin.txt"

    def feed(text):
        stdin.write_text(text, encoding="utf-8")
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))

    feed(doc)
    assert traced_ask(tokenizer, doc, path, False, doc_path="-")[0] == "4821937"
    assert json.loads(path.read_text().splitlines()[0])["document"] is None  # unknown up front
    assert read_trace(path)[2]["document"]["bytes"] == len(doc)  # known once read
    feed(doc)
    assert traced_ask(tokenizer, doc, path, True, doc_path="-")[0] == "4821937"
    assert traced_ask(tokenizer, doc, path, True, doc_path=stdin)[0] == "4821937"  # file, same bytes
    feed(doc + "\nmore")
    with pytest.raises(InputError, match="different document"):
        traced_ask(tokenizer, doc, path, True, doc_path="-")


def test_a_document_that_changes_while_read_gets_no_answer(tokenizer, tmp_path):
    doc_path = tmp_path / "d.txt"
    doc_path.write_text(needle_doc("4821937"))
    path = tmp_path / "t.jsonl"
    llm = ScriptedLLM(tokenizer)
    agent = MemAgent(llm, CFG)
    source = DocumentSource([str(doc_path)])
    promised = source.fingerprint_files()
    doc_path.write_text(needle_doc("4821938"))  # rewritten after it was fingerprinted
    writer, _, _ = open_trace(
        path, run_identity(Q, CFG, agent.budgets, llm.name, promised), False, source.fingerprint
    )
    with pytest.raises(InputError, match="different document"):
        agent.ask(source, Q, on_step=writer)
    writer.close()
    _, steps, final = read_trace(path)
    kinds = [json.loads(line).get("kind") for line in path.read_text().splitlines()]
    assert final is None and steps and "final" not in kinds  # not even the final step


def test_resume_names_what_differs_and_unifies_loopback_aliases(tokenizer, tmp_path):
    doc = needle_doc("4821937")
    path = tmp_path / "t.jsonl"
    url = "openai:m@http://127.0.0.1:8000/v1"
    with pytest.raises(KeyboardInterrupt):
        traced_ask(tokenizer, doc, path, False, fail_after=2, name=url)
    for alias in ("openai:m@http://localhost:8000/v1", "openai:m@http://u:KEY@[::1]:8000/v1/"):
        with pytest.raises(KeyboardInterrupt):  # accepted: the run went on to the model
            traced_ask(tokenizer, doc, path, True, fail_after=0, name=alias)
    with pytest.raises(InputError, match=r"different model \(trace: 'openai:m@http://127.0.0.1:8000/v1'; this run: 'openai:m@http://127.0.0.1:8001/v1'\)"):
        traced_ask(tokenizer, doc, path, True, name="openai:m@http://127.0.0.1:8001/v1")
    rewrite(path, lambda r: {**r, "budgets": {**r["budgets"], "chunk": 99}} if r["type"] == "header" else r)
    with pytest.raises(InputError, match=r"different budgets \(trace vs this run: chunk 99 vs 64\)"):
        traced_ask(tokenizer, doc, path, True, name=url)


def test_trace_versions(tokenizer, tmp_path):
    doc = needle_doc("4821937")
    path = tmp_path / "t.jsonl"
    with pytest.raises(KeyboardInterrupt):
        traced_ask(tokenizer, doc, path, False, fail_after=2)
    rewrite(path, lambda r: {**r, "version": 4} if r["type"] == "header" else r)
    with pytest.raises(InputError, match="version 4, which this memagent cannot read"):
        traced_ask(tokenizer, doc, path, True)

    def version_1(record):  # what memagent wrote before document fingerprints
        record = {k: v for k, v in record.items() if k != "document"}
        return {**record, "version": 1} if record["type"] == "header" else record

    rewrite(path, version_1)
    with pytest.warns(TraceWarning, match="predates document fingerprints"):
        assert traced_ask(tokenizer, doc, path, True)[0] == "4821937"  # unfinished: resumed
    rewrite(path, version_1)
    with pytest.raises(InputError, match="no fingerprint of its document \\(written by an older"):
        traced_ask(tokenizer, doc, path, True)  # finished: its answer cannot be checked


def _finished_trace(tokenizer, tmp_path):
    path = tmp_path / "t.jsonl"
    traced_ask(tokenizer, needle_doc("4821937"), path, False)
    return path, [json.loads(line) for line in path.read_text().splitlines()]


def _drop(record, key):
    return {k: v for k, v in record.items() if k != key}


BAD_LINES = [  # (what replaces the trace's second line, the error it must give)
    (lambda r: [1, 2], r":2: not a memagent trace record \(an array where an object belongs\)"),
    (lambda r: "hello", r":2: not a memagent trace record \(a string where an object belongs\)"),
    (lambda r: 7, r":2: not a memagent trace record \(an integer where"),
    (lambda r: _drop(r, "memory"), r":2: step record lacks memory"),
    (lambda r: _drop(r, "index"), r":2: step record lacks index"),
    (lambda r: {**r, "mood": 1}, r":2: step record has unknown field\(s\) mood"),
    (lambda r: {**r, "index": "0"}, r":2: step field index is a string, not an integer"),
    (lambda r: {**r, "index": True}, r":2: step field index is a boolean, not an integer"),
    (lambda r: {**r, "memory": None}, r":2: step field memory is null, not a string"),
    (lambda r: {**r, "kind": "dream"}, r":2: step kind 'dream' is not memory or final"),
    (lambda r: {**r, "index": -1}, r":2: step index -1 is negative"),
    (lambda r: {**r, "type": "note"}, r":2: unknown record type 'note'"),
    (lambda r: _drop(r, "type"), r":2: no record type"),
]


@pytest.mark.parametrize(("edit", "message"), BAD_LINES)
def test_malformed_trace_lines_are_input_errors(tokenizer, tmp_path, edit, message):
    path, records = _finished_trace(tokenizer, tmp_path)
    records[1] = edit(records[1])
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(InputError, match=message):
        read_trace(path)
    with pytest.raises(InputError, match=message):
        traced_ask(tokenizer, needle_doc("4821937"), path, True)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: _drop(r, "usage"), "final record lacks usage"),
        (lambda r: {**r, "rule": "guess"}, "unknown answer rule 'guess'"),
        (lambda r: {**r, "usage": {"prompt_tokens": "9"}}, "final usage.prompt_tokens must be"),
        (lambda r: {**r, "answer": 4821937}, "final field answer is an integer, not a string or null"),
        (lambda r: {**r, "document": {"sha256": 1}}, "document fingerprint is not"),
    ],
)
def test_malformed_final_records_and_headers_are_input_errors(tokenizer, tmp_path, edit, message):
    path, records = _finished_trace(tokenizer, tmp_path)
    records[-1] = edit(records[-1])
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(InputError, match=message):
        traced_ask(tokenizer, needle_doc("4821937"), path, True)
    records[0] = {**records[0], "document": [1]}
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(InputError, match=r":1: document fingerprint is not"):
        read_trace(path)


def test_a_trace_path_that_cannot_be_a_trace(tokenizer, tmp_path):
    from memagent.loop.trace import check_trace_file

    doc = needle_doc("4821937")
    for resume in (False, True):
        with pytest.raises(InputError, match=r"trace path .* is a directory"):
            check_trace_file(tmp_path, resume)
        with pytest.raises(InputError, match=r"trace path .* is a directory"):
            traced_ask(tokenizer, doc, tmp_path, resume, doc_path=tmp_path / "d.txt")
    with pytest.raises(InputError, match=r"trace path .* is a directory"):
        read_trace(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match=r"cannot use trace .*file/t\.jsonl"):
        traced_ask(tokenizer, doc, blocker / "t.jsonl", False, doc_path=tmp_path / "d.txt")
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b'{"type": "header"}\n\xff\xfe\n')
    with pytest.raises(InputError, match=r"b\.jsonl is not UTF-8 text"):
        read_trace(binary)
    newer = tmp_path / "v4.jsonl"  # another version's records are not judged by this one's rules
    newer.write_text('{"type": "header", "version": 4}\n{"type": "step", "new": 1}\n')
    with pytest.raises(InputError, match="version 4, which this memagent cannot read"):
        check_trace_file(newer, True)


def test_one_result_serializer_for_json_trace_and_resume(tokenizer, tmp_path):
    """`Result.to_json` is what --json prints, `trace_record` is its subset in the trace's final
    record, and `from_json` rebuilds the same Result from either (a finished trace's answer)."""
    from memagent.loop.job import Result

    agent = MemAgent(ScriptedLLM(tokenizer), CFG)
    doc = needle_doc("4821937")
    result = agent.ask(doc, Q)
    full = json.loads(json.dumps(result.to_json()))
    assert Result.from_json(full, agent.budgets) == result
    path = tmp_path / "run.jsonl"
    traced_ask(tokenizer, doc, path, resume=False)
    _header, steps, final = read_trace(path)
    assert final is not None
    assert final["final_step"]["kind"] == "final"  # the answer's step, read back with it
    kept = {k: v for k, v in final.items() if k not in ("document", "final_step")}
    assert kept == result.trace_record()
    rebuilt = Result.from_json(final, agent.budgets, Q, steps)
    assert (rebuilt.answer, rebuilt.rule, rebuilt.memory, rebuilt.document_tokens) == (
        result.answer, result.rule, result.memory, result.document_tokens)
    # the raw answer and every step, the final one included, as --json printed them (issue 25)
    assert rebuilt.raw_answer == result.raw_answer != ""
    assert [(s.kind, s.memory, s.output) for s in rebuilt.steps] == [
        (s.kind, s.memory, s.output) for s in result.steps]
    assert rebuilt.usage.requests == result.usage.requests
    assert rebuilt.cost == result.cost
