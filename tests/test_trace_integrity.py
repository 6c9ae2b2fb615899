"""Issue 25's trace integrity checks: the digest chain over a trace's records (an edited memory,
index or answer is refused on resume, naming the line), one writer per trace (an OS lock naming
the holder; a dead holder never blocks) and trace paths that are no regular file. The traced runs
are test_trace.py's (the scripted backend, a file document, resume as the CLI resumes)."""

import json
import sys
from pathlib import Path

import pytest

from memagent.errors import InputError
from memagent.loop.agent import MemAgent
from memagent.loop.trace import TraceWarning, open_trace, read_trace, run_identity
from memagent.sources import DocumentSource
from scripted import ScriptedLLM
from test_agent import needle_doc
from test_trace import CFG, Q, _finished_trace, rewrite, traced_ask


# ---- issue 25 item 9: a digest chained over every step and final record ------------------------
@pytest.mark.parametrize(("line", "edit", "kind"), [
    (3, lambda r: {**r, "memory": r["memory"] + " The magic number is 1111111."}, "step"),
    (2, lambda r: {**r, "index": 0, "chunk_sha": "0" * 16}, "step"),
    (-1, lambda r: {**r, "answer": "1111111"}, "final"),
])
def test_an_edited_trace_is_refused_naming_file_and_line(tokenizer, tmp_path, line, edit, kind):
    """Reproduction: `--resume` trusted a memory value edited in the trace."""
    path, records = _finished_trace(tokenizer, tmp_path)
    assert all(len(r["digest"]) == 16 for r in records[1:]) and "digest" not in records[0]
    records[line] = edit(records[line])
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    lineno = line % len(records) + 1
    message = rf"{path}:{lineno}: {kind} record does not match its digest: the trace was edited"
    with pytest.raises(InputError, match=message):
        read_trace(path)
    with pytest.raises(InputError, match=message):
        traced_ask(tokenizer, needle_doc("4821937"), path, True)


def test_a_killed_and_resumed_trace_keeps_one_chain(tokenizer, tmp_path):
    doc = needle_doc("4821937")
    path = tmp_path / "t.jsonl"
    with pytest.raises(KeyboardInterrupt):
        traced_ask(tokenizer, doc, path, False, fail_after=3)
    with open(path, "a") as f:
        f.write('{"type": "step", "index": 3, "digest": "0')  # torn by a kill
    assert traced_ask(tokenizer, doc, path, True)[0] == "4821937"
    header, steps, final = read_trace(path)  # every digest checks out across the resume
    assert header["version"] == 3 and final is not None and len(steps) > 3
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[2] = {k: v for k, v in records[2].items() if k != "digest"}
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(InputError, match=r":3: step record lacks its digest"):
        read_trace(path)


def test_a_trace_from_before_digests_resumes_with_a_warning(tokenizer, tmp_path):
    """Version-2 traces (no digests) are accepted, unfinished or finished, with one warning."""
    doc = needle_doc("4821937")
    path = tmp_path / "t.jsonl"
    with pytest.raises(KeyboardInterrupt):
        traced_ask(tokenizer, doc, path, False, fail_after=2)

    def version_2(record):
        record = {k: v for k, v in record.items() if k != "digest"}
        return {**record, "version": 2} if record["type"] == "header" else record

    rewrite(path, version_2)
    with pytest.warns(TraceWarning, match="version 2, written before record digests"):
        assert traced_ask(tokenizer, doc, path, True)[0] == "4821937"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0]["version"] == 2 and not any("digest" in r for r in records)  # one format
    with pytest.warns(TraceWarning, match="version 2"):
        assert traced_ask(tokenizer, doc, path, True)[0] == "4821937"


# ---- issue 25 item 1: one writer per trace ------------------------------------------------------
HOLD = ("import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(120)")


def test_a_trace_held_by_another_process_is_refused_naming_it(tokenizer, tmp_path):
    import subprocess

    from memagent.loop.trace import check_trace_file

    doc = needle_doc("4821937")
    path = tmp_path / "t.jsonl"
    with pytest.raises(KeyboardInterrupt):
        traced_ask(tokenizer, doc, path, False, fail_after=2)
    before = path.read_bytes()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        message = rf"trace {path} is in use by process {holder.pid} \(another memagent run"
        with pytest.raises(InputError, match=message):
            check_trace_file(path, True)
        with pytest.raises(InputError, match=message):
            traced_ask(tokenizer, doc, path, True)
    finally:
        holder.kill()  # a lock whose process died never blocks
        holder.wait()
    assert path.read_bytes() == before
    assert traced_ask(tokenizer, doc, path, True)[0] == "4821937"


def test_the_lock_is_held_while_writing_and_released_after(tokenizer, tmp_path):
    from memagent.loop.tracelock import TraceLock

    path = tmp_path / "t.jsonl"
    agent = MemAgent(ScriptedLLM(tokenizer), CFG)
    source = DocumentSource([str(_doc(tmp_path, needle_doc("4821937")))])
    identity = run_identity(Q, CFG, agent.budgets, "scripted", source.fingerprint_files())
    writer, _, _ = open_trace(path, identity, False, source.fingerprint)
    with pytest.raises(InputError, match="is in use by"):
        TraceLock.acquire(path)
    writer.close()
    TraceLock.acquire(path).close()


def _doc(folder, text):
    path = folder / "doc.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_trace_path_that_is_no_regular_file_is_refused_untouched(tokenizer, tmp_path):
    import os
    import stat

    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    link = tmp_path / "link.jsonl"
    link.symlink_to(tmp_path / "real.jsonl")
    for path, fragment in [(fifo, "is a FIFO"), ("/dev/null", "is a device"),
                           ("/proc/self/status", "under /proc")]:
        with pytest.raises(InputError, match=fragment):
            traced_ask(tokenizer, needle_doc("4821937"), Path(path), True,
                       doc_path=tmp_path / "d.txt")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert traced_ask(tokenizer, needle_doc("4821937"), link, False,
                      doc_path=tmp_path / "d.txt")[0] == "4821937"
    assert link.is_symlink() and read_trace(tmp_path / "real.jsonl")[2] is not None  # through


def test_a_file_system_without_locks_runs_unprotected_with_a_warning(tmp_path, monkeypatch):
    import errno
    import fcntl

    from memagent.loop.tracelock import TraceLock

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.warns(UserWarning, match="cannot be locked here \\(No locks available\\)"):
        TraceLock.acquire(tmp_path / "t.jsonl").close()


def test_a_finished_trace_the_user_may_only_read_still_gives_its_answer(tokenizer, tmp_path,
                                                                      monkeypatch):
    import errno
    import os

    import memagent.loop.tracelock as tracelock

    path, _ = _finished_trace(tokenizer, tmp_path)
    real_open = os.open

    def read_only(name, flags, *args):  # as for a file of mode 0444 (root ignores modes)
        if flags & os.O_RDWR:
            raise PermissionError(errno.EACCES, "Permission denied", str(name))
        return real_open(name, flags, *args)

    monkeypatch.setattr(tracelock.os, "open", read_only)
    assert traced_ask(tokenizer, needle_doc("4821937"), path, True)[0] == "4821937"
