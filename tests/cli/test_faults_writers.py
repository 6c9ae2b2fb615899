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
