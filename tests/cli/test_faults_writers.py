"""Issue 25's writer faults through the real CLI: output paths (never replaced when they are not a
regular file, symlinks written through, no stray `.part`), bounded generated lengths, and one
writer per trace. (The rest of the fault suite is test_faults.py and test_cli_errors.py; this
file keeps both under the 400-line rule.)
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from memagent.cli import main

DATA = ["data", "niah_single_1", "-l", "300", "-n", "2"]


def run_main(args: list[Any], capsys: Any) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


def cli(*args: Any, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "memagent.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def one_line(err: str, fragment: str) -> None:
    assert err.count("\n") == 1 and err.startswith("error: ") and fragment in err, err
    assert "Traceback" not in err


def no_parts(*folders: Path) -> None:
    for folder in folders:
        assert [p.name for p in folder.iterdir() if ".part" in p.name] == [], folder


# ------------------------------------------------------------------ item 2: data -o PATH
def test_data_to_dev_full_is_refused_and_the_device_stays(tmp_path):
    """Reproduction: `-o /dev/full` turned the device node into a regular file, exit 0."""
    proc = cli(*DATA, "-o", "/dev/full")
    assert proc.returncode == 3 and proc.stdout == "", proc.stderr
    one_line(proc.stderr, "/dev/full is a device")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


@pytest.mark.parametrize(("name", "fragment"), [
    ("adir", "is a directory"), ("/proc/version", "under /proc"), ("fifo", "is a FIFO"),
    ("loop", "symlink loop"), ("afile/out.jsonl", "is not a directory"),
])
def test_data_to_what_is_not_a_file_is_one_line_before_any_work(tmp_path, capsys, monkeypatch,
                                                                name, fragment):
    """Reproduction: `-o DIR` and `-o /proc/version` ended in tracebacks and left a `.part`."""
    import memagent.llm.hf_tokenizer

    monkeypatch.setattr(memagent.llm.hf_tokenizer, "load_tokenizer",
                        lambda *a: pytest.fail("work started"))
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    target = name if name.startswith("/") else tmp_path / name
    code, out, err = run_main([*DATA, "-o", target], capsys)
    assert (code, out) == (3, ""), err
    one_line(err, fragment)
    no_parts(tmp_path, tmp_path / "adir")
    assert stat.S_ISFIFO((tmp_path / "fifo").stat().st_mode)


def test_data_through_a_symlink_writes_its_target(tmp_path, capsys):
    """Reproduction: a symlink was replaced by a regular file instead of writing its target."""
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "samples.jsonl"
    target.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    code, _, err = run_main([*DATA, "-o", link], capsys)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(target)
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == 2 and rows[0]["task"] == "niah_single_1"
    no_parts(tmp_path, tmp_path / "real")


def test_data_to_stdout_and_to_a_new_nested_file(tmp_path, capsys):
    code, out, err = run_main([*DATA, "-o", "-"], capsys)
    assert code == 0, err
    assert [json.loads(line)["task"] for line in out.splitlines()] == ["niah_single_1"] * 2
    nested = tmp_path / "a" / "b" / "s.jsonl"
    code, _, err = run_main([*DATA, "-o", nested], capsys)
    assert code == 0 and len(nested.read_text().splitlines()) == 2, err
    no_parts(nested.parent)


def test_data_interrupted_keeps_the_old_file_and_leaves_no_part(tmp_path, capsys, monkeypatch):
    """A failure while generating (here the second sample) leaves the file as it was."""
    import memagent.data

    real = memagent.data.generate_sample

    def second_fails(task, index, opts, tok):
        if index == 1:
            raise memagent.data.InputError("sample 1 cannot be made")
        return real(task, index, opts, tok)

    monkeypatch.setattr(memagent.data, "generate_sample", second_fails)
    out = tmp_path / "s.jsonl"
    out.write_text("old\n")
    code, _, err = run_main([*DATA, "-o", out], capsys)
    assert code == 3 and "sample 1 cannot be made" in err, err
    assert out.read_text() == "old\n"
    no_parts(tmp_path)


def test_data_filter_outputs_are_checked_before_any_model_loads(tmp_path, capsys, monkeypatch):
    import memagent.llm
    from memagent.data.fixtures import write_hotpotqa_fixture

    monkeypatch.setattr(memagent.llm, "load_llm", lambda *a: pytest.fail("model loaded"))
    hotpot = write_hotpotqa_fixture(tmp_path / "hotpot.json", 3)
    (tmp_path / "adir").mkdir()
    for extra, fragment in [(["-o", tmp_path / "adir"], "filtered file"),
                            (["-o", tmp_path / "k.json", "--report", "/dev/full"],
                             "report /dev/full is a device")]:
        code, _, err = run_main(["data", "filter", hotpot, *extra, "-m", "x"], capsys)
        assert code == 3, err
        one_line(err, fragment)
    assert not (tmp_path / "k.json").exists()
    no_parts(tmp_path, tmp_path / "adir")


# ------------------------------------------------------------------ item 6: bounded lengths
@pytest.mark.parametrize(("args", "fragment"), [
    (["-l", "99999999m"], "over the limit of 4194304"),
    (["-l", "5m"], "over the limit"),
    (["-l", "0"], "under one token"),
    (["-l", "300", "--docs", "99999999", "--source", "x.json"], "over the limit of 16384"),
])
def test_data_lengths_are_bounded_before_any_work(tmp_path, capsys, monkeypatch, args, fragment):
    """Reproduction: `data -l 99999999m` grew memory without limit and left an empty `.part`."""
    import memagent.llm.hf_tokenizer

    monkeypatch.setattr(memagent.llm.hf_tokenizer, "load_tokenizer",
                        lambda *a: pytest.fail("work started"))
    task = "qa_2" if "--docs" in args else "niah_single_1"
    out = tmp_path / "s.jsonl"
    code, _, err = run_main(["data", task, *args, "-o", out], capsys)
    assert code == 3, err
    one_line(err, fragment)
    assert list(tmp_path.iterdir()) == []


def test_the_real_command_refuses_a_huge_length_at_once(tmp_path):
    proc = cli(*DATA[:2], "-l", "99999999m", "-o", tmp_path / "s.jsonl", timeout=60)
    assert proc.returncode == 3, proc.stderr
    one_line(proc.stderr, "99999999m")
    assert list(tmp_path.iterdir()) == []


def test_eval_lengths_are_bounded_before_the_model_loads(tmp_path, capsys, monkeypatch):
    import memagent.llm

    monkeypatch.setattr(memagent.llm, "load_llm", lambda *a, **k: pytest.fail("model loaded"))
    code, _, err = run_main(["eval", "--tasks", "niah_single_1", "--lengths", "8k,99999999m",
                             "--out", tmp_path / "run"], capsys)
    assert code == 3, err
    one_line(err, "length '99999999m' is 104857598951424 tokens, over the limit of 4194304")
    assert not (tmp_path / "run").exists()


def test_data_to_a_full_stdout_is_one_line(tmp_path):
    """`-o -` (and /dev/stdout) are written directly; a full one is one error line, exit 3."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "memagent.cli", *DATA, "-o", "-"],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stderr
    assert errors == ["error: cannot write samples file to -: No space left on device"]
    assert proc.stderr.splitlines()[-1] == errors[0] and "Exception ignored" not in proc.stderr


# ------------------------------------------------------------------ item 1: one writer per trace
class Gate:
    """A server rule that holds request `at` (counted from arm()) until `release()`."""

    def __init__(self, srv: Any) -> None:
        import threading

        self.srv, self.event, self.at = srv, threading.Event(), 0
        srv.rule = self

    def arm(self, at: int) -> None:
        self.event.clear()
        self.at = self.srv.posts + at

    def __call__(self, n: int, body: Any) -> None:
        if n == self.at:
            self.event.wait(120)

    def wait_held(self, proc: subprocess.Popen[str]) -> None:
        import time

        deadline = time.monotonic() + 120
        while self.srv.posts < self.at and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.srv.posts >= self.at, proc.communicate()

    def release(self) -> None:
        self.event.set()


@pytest.fixture(scope="module")
def held(tmp_path_factory: Any, embedded_model_dir: Path, tokenizer: Any) -> Any:
    from fault_server import FaultServer, answer, keyed_doc, question

    root = tmp_path_factory.mktemp("held")
    doc = root / "doc.txt"
    doc.write_text(keyed_doc(tokenizer))
    srv = FaultServer()
    flags = ["--base-url", srv.url, "--model", "m", "--tokenizer", embedded_model_dir,
             "--chunk", "64", "--timeout", "120"]
    w = type("Held", (), {"root": root, "srv": srv, "gate": Gate(srv), "answer": answer("alpha"),
                          "args": lambda trace, *extra: ["ask", doc, "-q", question("alpha"),
                                                         *flags, "--trace", trace, *extra]})
    yield w
    w.gate.release()
    srv.close()


def _popen(args: list[Any]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "memagent.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_run_on_a_trace_in_use_is_refused_naming_the_process(held):
    """Reproduction: two `--resume` runs on one trace both exited 0, wrote every step twice and
    the next resume failed (`step N out of order`)."""
    from memagent.loop.trace import read_trace

    trace = held.root / "busy.jsonl"
    held.gate.arm(4)
    first = _popen(held.args(trace))
    try:
        held.gate.wait_held(first)
        for extra in (["--resume"], []):
            second = cli(*held.args(trace, *extra))
            assert (second.returncode, second.stdout) == (3, ""), second.stderr
            one_line(second.stderr, f"trace {trace} is in use by process {first.pid}")
    finally:
        held.gate.release()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0 and out.strip() == held.answer, err
    _, steps, final = read_trace(trace)  # one writer: no step twice, the chain intact
    assert final is not None and [s.index for s in steps] == list(range(len(steps)))
    again = cli(*held.args(trace, "--resume"))
    assert again.returncode == 0 and again.stdout.strip() == held.answer, again.stderr
    assert "is complete; answer taken from it" in again.stderr


def test_the_lock_of_a_killed_run_never_blocks_a_resume(held):
    import signal

    from memagent.loop.trace import read_trace

    trace = held.root / "killed.jsonl"
    held.gate.arm(5)
    first = _popen(held.args(trace))
    try:
        held.gate.wait_held(first)
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=120)
    finally:
        held.gate.release()
    assert first.returncode == -signal.SIGKILL
    assert len(read_trace(trace)[1]) == 4  # the steps before the held request
    resumed = cli(*held.args(trace, "--resume"))
    assert resumed.returncode == 0 and resumed.stdout.strip() == held.answer, resumed.stderr
    assert "resuming" in resumed.stderr and "in use" not in resumed.stderr
