"""`memagent.loop.traces`: several questions over one document, a trace each, and one owner of
the open trace files (`Traces`, closed when its `with` block ends)."""

import json

import pytest

from memagent.config import AgentConfig, Budgets
from memagent.errors import BackendError, InputError
from memagent.loop.agent import MemAgent
from memagent.loop.traces import answer, open_traces, trace_paths
from memagent.sources import DocumentSource
from scripted import ScriptedLLM

SMALL = AgentConfig(budgets=Budgets(chunk=64, memory=48, output=32))


def _source(tmp_path):
    doc = tmp_path / "doc.txt"
    rows = ["The grass is green. The sky is blue."] * 12
    rows.insert(3, "The special magic number for key-1 is 1234567.")
    doc.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return DocumentSource.from_args([str(doc)])


def test_traces_are_closed_by_their_owner_not_by_answer(tokenizer, tmp_path):
    agent = MemAgent(ScriptedLLM(tokenizer), SMALL)
    source = _source(tmp_path)
    questions = ["What is the magic number?", "Which number is magic?"]
    with open_traces(agent, source, questions, tmp_path / "run.jsonl", False) as traces:
        writers = dict(traces.writers)
        assert len(writers) == 2
        outcomes = answer(agent, source, traces)
        assert traces.writers == writers and not any(w._file.closed for w in writers.values())
    assert traces.writers == {} and all(w._file.closed for w in writers.values())
    assert [o.result.answer for o in outcomes] == ["1234567", "1234567"]
    paths = trace_paths(tmp_path / "run.jsonl", 2)
    assert [o.trace for o in outcomes] == paths
    for path in paths:
        records = [json.loads(line) for line in path.read_text().splitlines()]
        assert records[0]["type"] == "header" and records[-1]["type"] == "final"


class FailsOn(ScriptedLLM):
    """The scripted backend, failing every request of one question (a server error, say)."""

    def generate(self, requests, sampling):  # type: ignore[no-untyped-def]
        if any("Which number is magic?" in r.messages[-1]["content"] for r in requests):
            raise BackendError("the server failed this one")
        return super().generate(requests, sampling)


def test_a_failed_question_has_its_trace_closed_at_once_while_the_others_go_on(tokenizer, tmp_path):
    agent = MemAgent(FailsOn(tokenizer), SMALL)
    source = _source(tmp_path)
    questions = ["What is the magic number?", "Which number is magic?"]
    with open_traces(agent, source, questions, tmp_path / "run.jsonl", False) as traces:
        failing = traces.writers[1]
        outcomes = answer(agent, source, traces)
        assert failing._file.closed and 1 not in traces.writers  # dropped when it failed
        assert not traces.writers[0]._file.closed
    assert outcomes[0].result is not None and outcomes[0].result.answer == "1234567"
    assert outcomes[1].result is None and "the server failed this one" in str(outcomes[1].error)


def test_a_refused_trace_leaves_nothing_open(tokenizer, tmp_path):
    agent = MemAgent(ScriptedLLM(tokenizer), SMALL)
    source = _source(tmp_path)
    first = tmp_path / "run.q2.jsonl"
    first.write_text('{"type": "header", "version": 1}\n')  # another run's trace: refused
    with pytest.raises(InputError, match=r"run\.q2\.jsonl"):
        open_traces(agent, source, ["q one?", "q two?"], tmp_path / "run.jsonl", True)
    assert not (tmp_path / "run.q1.jsonl").exists()  # no new trace file behind it
