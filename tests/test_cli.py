"""The CLI's contract: one-line errors with documented exit codes, answers on stdout."""

import json
import subprocess
import sys

import pytest

from memagent.cli import main


def run_main(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def test_missing_file_is_exit_3_with_one_line(tmp_path, capsys):
    code, out, err = run_main(["ask", str(tmp_path / "nope.txt"), "-q", "x?"], capsys)
    assert code == 3 and out == ""
    assert "no such file or directory" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-q", "  "], "question is empty"),
        (["-q", "a?", "--resume"], "--resume needs --trace"),
        (["-q", "a?", "-q", "b?", "--trace", "t.jsonl"], "take one question"),
    ],
)
def test_bad_options_are_named(tmp_path, capsys, extra, message):
    doc = tmp_path / "d.txt"
    doc.write_text("hello")
    code, _, err = run_main(["ask", str(doc), *extra], capsys)
    assert code == 3 and message in err


def test_usage_error_is_exit_2(capsys):
    code, _, _ = run_main(["ask"], capsys)
    assert code == 2


def test_empty_directory_and_binary_file(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run_main(["ask", str(tmp_path / "empty"), "-q", "x?"], capsys)
    assert code == 3 and "no text files" in err


def run_cli(args, timeout=300):
    """The installed CLI in a subprocess, as a user runs it."""
    cmd = [sys.executable, "-m", "memagent.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_unreachable_server_is_exit_4(tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text("The sky is blue. " * 20)
    proc = run_cli(
        [
            "ask",
            doc,
            "-q",
            "Colour?",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--model",
            "m",
            "--max-retries",
            "0",
        ],
        timeout=120,
    )
    assert proc.returncode == 4, proc.stderr
    assert "127.0.0.1:9" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_budgets_that_cannot_fit_are_exit_3(tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text("The sky is blue. " * 20)
    proc = run_cli(["ask", doc, "-q", "Colour?", "--window", "2000", "--profile", "paper"])
    assert proc.returncode == 3 and "no room for a chunk" in proc.stderr
    proc = run_cli(["ask", doc, "-q", "Colour?", "--profile", "fast"])
    assert proc.returncode == 3 and "unknown profile 'fast'" in proc.stderr
    proc = run_cli(["ask", doc, "-q", "Colour?", "--adapter", doc.parent / "no-adapter"])
    assert proc.returncode == 4 and "adapter" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_ask_end_to_end_on_the_embedded_model(tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text(
        "The grass is green. " * 30 + "The secret code is 4821937. " + "The sky is blue. " * 30
    )
    trace = tmp_path / "t.jsonl"
    proc = run_cli(
        [
            "ask",
            doc,
            "-q",
            "What is the secret code?",
            "--chunk",
            "128",
            "--memory",
            "32",
            "--output",
            "24",
            "--trace",
            trace,
            "--json",
            "--show-memory",
        ],
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["rule"] in {"boxed", "answer_is", "last_line", "none"}
    assert len(result["steps"]) == result["cost"]["chunks"] + 1 >= 3
    assert "memory after chunk 0" in proc.stderr
    # the shipped adapter's profile, with the explicit flags winning over its budgets
    assert "profile smollm2-memagent: window 2048, query 256, chunk 128, memory 32, output 24" in proc.stderr
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    assert records[0]["type"] == "header" and records[-1]["type"] == "final"
