import json

import pytest

from memagent.agent import MemAgent
from memagent.config import AgentConfig, Budgets
from memagent.errors import InputError
from memagent.trace import open_trace, read_trace, run_identity
from scripted import ScriptedLLM
from test_agent import needle_doc

CFG = AgentConfig(budgets=Budgets(chunk=64, memory=48, output=32))
Q = "What is the magic number?"


def traced_ask(tokenizer, doc, path, resume, fail_after=None):
    llm = ScriptedLLM(tokenizer, fail_after=fail_after)
    agent = MemAgent(llm, CFG)
    identity = run_identity(Q, CFG, agent.budgets, llm.name)
    writer, state, final = open_trace(path, identity, resume)
    if final is not None:
        return final["answer"], llm
    try:
        return agent.ask(doc, Q, resume=state, on_step=writer).answer, llm
    finally:
        writer.close()


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
    with pytest.raises(InputError, match="chunk 0 differs"):
        traced_ask(tokenizer, "Another document entirely. " * 50, path, True)
    header = json.loads(path.read_text().splitlines()[0])
    header["question"] = "other?"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    with pytest.raises(InputError, match="different question"):
        traced_ask(tokenizer, doc, path, True)
