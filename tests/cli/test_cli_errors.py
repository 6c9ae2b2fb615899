"""Every CLI error path we can name: one line on stderr, no traceback, an exit code from docs/ask.md.

docs/ask.md's table: 0 answered, 2 usage error, 3 bad input, 4 backend failed, 5 partial (some
questions failed), 130 interrupted, 141 stdout closed early. Most cases run `main()` in-process (an unexpected exception
fails the test as surely as a traceback would); a subset runs the real command in a subprocess.
A key rides in every server case, in the URL and in --api-key, and must never be printed.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memagent.cli import main

DOCUMENTED = {0, 2, 3, 4, 5, 130, 141}
KEY = "sk-walk-5e1f0c77"


def run_main(args, capsys):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


@pytest.fixture(scope="module")
def world(tmp_path_factory, embedded_model_dir, tokenizer):
    """Files of every kind, a healthy server, a dead port and a finished trace to spoil (shared
    by the module's cases, which only read it)."""
    import contextlib
    import io

    from fault_server import FaultServer, keyed_doc, question
    from server import free_port

    tmp_path = tmp_path_factory.mktemp("world")
    w = type("World", (), {})()
    w.dir = tmp_path
    w.doc = tmp_path / "doc.txt"
    w.doc.write_text(keyed_doc(tokenizer))
    w.q = question("alpha")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "bin.txt").write_bytes(b"hello\x00world")
    (tmp_path / "adir").mkdir()
    w.srv = FaultServer()
    port = w.srv.url.split(":")[2].split("/")[0]
    w.server = ["--base-url", f"http://user:{KEY}@127.0.0.1:{port}/v1", "--api-key", KEY,
                "--model", "m", "--tokenizer", embedded_model_dir, "--chunk", "64"]
    w.dead = f"http://user:{KEY}@127.0.0.1:{free_port()}/v1"
    w.tok = embedded_model_dir
    w.trace = tmp_path / "good.jsonl"
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err), \
            pytest.raises(SystemExit) as info:
        main([str(a) for a in ["ask", w.doc, "-q", w.q, *w.server, "--trace", w.trace]])
    assert info.value.code == 0, err.getvalue()
    w.records = [json.loads(line) for line in w.trace.read_text().splitlines()]
    yield w
    w.srv.close()


def _file(w, name, text):
    path = w.dir / name
    path.write_text(text)
    return path


def _trace(w, name, records):
    path = w.dir / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def _without(record, key):
    return {k: v for k, v in record.items() if k != key}


# (name, args after "ask" given the world, exit code, a fragment of the one error line)
CASES = [
    # usage errors (typer/click): exit 2
    ("unknown flag", lambda w: [w.doc, "-q", "x?", "--bogus"], 2, "No such option: --bogus"),
    ("flag needs an int", lambda w: [w.doc, "-q", "x?", "--window", "abc"], 2, "'--window'"),
    ("flag needs a value", lambda w: [w.doc, "-q"], 2, "Option '-q' requires an argument"),
    ("no document", lambda w: [], 2, "Missing argument 'paths'"),
    ("no question", lambda w: [w.doc], 2, "Missing option '--question'"),
    # documents
    ("missing file", lambda w: [w.dir / "nope.txt", "-q", w.q, *w.server], 3, "no such file"),
    ("empty document", lambda w: [w.dir / "empty.txt", "-q", w.q, *w.server], 3, "is empty"),
    ("binary file", lambda w: [w.dir / "bin.txt", "-q", w.q, *w.server], 3, "byte offset 5"),
    ("directory without text", lambda w: [w.dir / "adir", "-q", w.q, *w.server], 3,
     "has no text files"),
    ("device as file", lambda w: ["/dev/null", "-q", w.q, *w.server], 3, "not a regular file"),
    ("stdin twice", lambda w: ["-", "-", "-q", w.q, *w.server], 3, "read only once"),
    ("stdin and questions", lambda w: ["-", "-q", w.q, "-q", "b?", *w.server], 3,
     "stdin can be read only once"),
    # questions
    ("empty question", lambda w: [w.doc, "-q", "  ", *w.server], 3, "the question is empty"),
    ("one of several empty", lambda w: [w.doc, "-q", w.q, "-q", "", *w.server], 3,
     "question 2 of 2 is empty"),
    ("question over budget", lambda w: [w.doc, "-q", "why " * 1100, *w.server], 3,
     "over the query budget"),
    # prompt files
    ("prompts: integer", lambda w: [w.doc, "-q", w.q, *w.server, "--prompts",
                                    _file(w, "p1.toml", "memory_update = 42")], 3,
     "'memory_update' must be a string, not an integer"),
    ("prompts: system 5", lambda w: [w.doc, "-q", w.q, *w.server, "--prompts",
                                     _file(w, "p2.toml", "system = 5")], 3,
     "'system' must be a string"),
    ("prompts: directory", lambda w: [w.doc, "-q", w.q, *w.server, "--prompts", w.dir / "adir"],
     3, "is a directory"),
    ("prompts: missing", lambda w: [w.doc, "-q", w.q, *w.server, "--prompts", w.dir / "no.toml"],
     3, "not found"),
    ("prompts: bad TOML", lambda w: [w.doc, "-q", w.q, *w.server, "--prompts",
                                     _file(w, "p3.toml", "a = ")], 3, "not valid TOML"),
    ("prompts: unknown key", lambda w: [w.doc, "-q", w.q, *w.server, "--prompts",
                                        _file(w, "p4.toml", "colour = 'x'")], 3, "unknown keys"),
    ("prompts: lacks field", lambda w: [w.doc, "-q", w.q, *w.server, "--prompts",
                                        _file(w, "p5.toml", "final_answer = '{memory}'")], 3,
     "lacks {problem}"),
    # issue 25 item 7: a placeholder typo or a stray brace named with file, key and placeholder
    ("prompts: unknown placeholder", lambda w: [w.doc, "-q", w.q, *w.server, "--prompts", _file(
        w, "p6.toml", "memory_update = '{problem} {memory} {chunk} {foo}'")], 3,
     "p6.toml: 'memory_update' line 1: unknown placeholder {foo}"),
    ("prompts: stray brace", lambda w: [w.doc, "-q", w.q, *w.server, "--prompts", _file(
        w, "p7.toml", "final_answer = '{problem} {memory} \\boxed{'")], 3,
     "p7.toml: 'final_answer' line 1: unbalanced '{'"),
    # traces
    ("trace: directory", lambda w: [w.doc, "-q", w.q, *w.server, "--trace", w.dir / "adir"], 3,
     "is a directory"),
    ("trace: directory, resume", lambda w: [w.doc, "-q", w.q, *w.server, "--resume", "--trace",
                                            w.dir / "adir"], 3, "is a directory"),
    ("trace: array line", lambda w: [w.doc, "-q", w.q, *w.server, "--resume", "--trace",
                                     _trace(w, "t1.jsonl", [w.records[0], "[1, 2]"])], 3,
     "an array where an object belongs"),
    ("trace: string line", lambda w: [w.doc, "-q", w.q, *w.server, "--resume", "--trace",
                                      _trace(w, "t2.jsonl", ['"hello"'])], 3,
     "a string where an object belongs"),
    ("trace: step lacks a field", lambda w: [
        w.doc, "-q", w.q, *w.server, "--resume", "--trace",
        _trace(w, "t3.jsonl", [w.records[0], _without(w.records[1], "memory")])], 3,
     "step record lacks memory"),
    ("trace: step has an extra field", lambda w: [
        w.doc, "-q", w.q, *w.server, "--resume", "--trace",
        _trace(w, "t4.jsonl", [w.records[0], {**w.records[1], "mood": "x"}])], 3,
     "unknown field(s) mood"),
    ("trace: step without index", lambda w: [
        w.doc, "-q", w.q, *w.server, "--resume", "--trace",
        _trace(w, "t5.jsonl", [w.records[0], _without(w.records[1], "index")])], 3,
     "step record lacks index"),
    ("trace: not JSON", lambda w: [w.doc, "-q", w.q, *w.server, "--resume", "--trace",
                                   _trace(w, "t6.jsonl", ["{nope"])], 3, "not a memagent trace"),
    ("trace: no header", lambda w: [w.doc, "-q", w.q, *w.server, "--resume", "--trace",
                                    _trace(w, "t7.jsonl", [w.records[1]])], 3, "no memagent trace"),
    ("trace: newer version", lambda w: [w.doc, "-q", w.q, *w.server, "--resume", "--trace",
                                        _trace(w, "t8.jsonl", [{**w.records[0], "version": 9}])],
     3, "version 9"),
    # issue 25 item 9: a memory edited in the trace breaks its digest chain at that line
    ("trace: edited memory", lambda w: [
        w.doc, "-q", w.q, *w.server, "--resume", "--trace", _trace(w, "t9.jsonl", [
            w.records[0], {**w.records[1], "memory": "The magic number for alpha is 42."},
            *w.records[2:]])], 3, "t9.jsonl:2: step record does not match its digest"),
    ("trace: a device", lambda w: [w.doc, "-q", w.q, *w.server, "--trace", "/dev/full"], 3,
     "trace /dev/full is a device, which memagent does not overwrite"),
    ("trace: under /proc", lambda w: [w.doc, "-q", w.q, *w.server, "--resume", "--trace",
                                      "/proc/version"], 3, "trace /proc/version is under /proc"),
    ("trace: exists, no --resume", lambda w: [w.doc, "-q", w.q, *w.server, "--trace", w.trace], 3,
     "already exists"),
    ("resume: other question", lambda w: [w.doc, "-q", "Other?", *w.server, "--resume",
                                          "--trace", w.trace], 3, "different question"),
    ("resume: other document", lambda w: [_file(w, "other.txt", "The magic number is 1.\n"),
                                          "-q", w.q, *w.server, "--resume", "--trace", w.trace],
     3, "different document"),
    ("resume: other budgets", lambda w: [w.doc, "-q", w.q, *w.server, "--memory", "512",
                                         "--resume", "--trace", w.trace], 3, "different budgets"),
    ("resume: other model", lambda w: [w.doc, "-q", w.q, *w.server, "--model", "m2", "--resume",
                                       "--trace", w.trace], 3, "different model"),
    ("resume without trace", lambda w: [w.doc, "-q", w.q, *w.server, "--resume"], 3,
     "--resume needs --trace"),
    # settings
    ("unknown profile", lambda w: [w.doc, "-q", w.q, *w.server, "--profile", "fast"], 3,
     "unknown profile"),
    ("budgets over the window", lambda w: [w.doc, "-q", w.q, *w.server, "--window", "600"], 3,
     "do not fit"),
    ("unknown backend", lambda w: [w.doc, "-q", w.q, *w.server, "--backend", "nope"], 3,
     "unknown backend"),
    ("negative temperature", lambda w: [w.doc, "-q", w.q, *w.server, "--temperature", "-1"], 3,
     "temperature"),
    ("zero concurrency", lambda w: [w.doc, "-q", w.q, *w.server, "--concurrency", "0"], 3,
     "max_concurrency"),
    ("top-p zero", lambda w: [w.doc, "-q", w.q, *w.server, "--top-p", "0"], 3, "top_p"),
    ("unknown dtype", lambda w: [w.doc, "-q", w.q, "--model", w.tok, "--dtype", "int3"], 3,
     "unknown dtype"),
    ("URL without http", lambda w: [w.doc, "-q", w.q, "--base-url", f"ftp://u:{KEY}@h/v1",
                                    "--tokenizer", w.tok], 3, "must start with http"),
    ("URL that does not parse", lambda w: [w.doc, "-q", w.q, "--base-url", f"http://u:{KEY}@[::1",
                                           "--tokenizer", w.tok], 3, "not a valid URL"),
    ("tokenizer is a text file", lambda w: [w.doc, "-q", w.q, *w.server[:-4], "--tokenizer",
                                            w.doc], 3, "neither a model directory"),
    ("tokenizer missing", lambda w: [w.doc, "-q", w.q, *w.server[:-4], "--tokenizer",
                                     w.dir / "nope"], 4, "not found"),
    # backends
    ("unreachable server", lambda w: [w.doc, "-q", w.q, "--base-url", w.dead, "--api-key", KEY,
                                      "--tokenizer", w.tok, "--max-retries", "0"], 4,
     "cannot reach http://127.0.0.1:"),
]


@pytest.mark.parametrize(("name", "args", "code", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_each_error_is_one_line_with_its_documented_code(world, capsys, name, args, code,
                                                         fragment):
    got, out, err = run_main(["ask", *args(world)], capsys)
    assert got == code and got in DOCUMENTED, err
    assert out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("error: ") and fragment in err, err
    assert KEY not in err and "user:" not in err


def test_only_memagent_errors_map_to_exit_codes():
    """A user error is one of memagent's exceptions and maps to its code; any other exception,
    a ValueError included, is a bug and surfaces as one (never as "bad input")."""
    from memagent.cli import _guarded
    from memagent.errors import InputError
    from memagent.llm import load_llm

    def raising(exc):
        def command():
            raise exc
        return _guarded(command)

    with pytest.raises(SystemExit) as info:
        raising(InputError("bad"))()
    assert info.value.code == 3
    with pytest.raises(ValueError, match="a bug"):
        raising(ValueError("a bug"))()
    for options, fragment in [({"backend": "nope"}, "unknown backend"),
                              ({"backend": "openai"}, "needs --base-url"),
                              ({"base_url": "ftp://h"}, "must start with http")]:
        with pytest.raises(InputError, match=fragment):
            load_llm(**options)


# Failures found while running print the status line ("model ... ready") first; the error is still
# one line, the only one that says error, and the last.
RUNTIME = [
    ("unreachable server, model named", lambda w: [w.doc, "-q", w.q, "--base-url", w.dead,
                                                   *w.server[2:], "--max-retries", "0"], 4,
     "cannot reach"),
    ("reply that is not JSON", lambda w: [w.doc, "-q", w.q, *w.server], 4, "unreadable answer"),
    ("NUL byte past the precheck", lambda w: [_file(w, "late.txt", "x" * 5000 + "\x00"), "-q",
                                              w.q, *w.server], 3, "byte offset 5000"),
]


@pytest.mark.parametrize(("name", "args", "code", "fragment"), RUNTIME,
                         ids=[c[0] for c in RUNTIME])
def test_errors_met_while_running_are_one_line_too(world, capsys, monkeypatch, name, args, code,
                                                   fragment):
    import memagent.sources

    monkeypatch.setattr(memagent.sources, "PRECHECK_BYTES", 4096)
    world.srv.rule = lambda n, body: "garbage"
    try:
        got, out, err = run_main(["ask", *args(world)], capsys)
    finally:
        world.srv.rule = None
    lines = err.splitlines()
    assert (got, out) == (code, "") and "Traceback" not in err, err
    assert [i for i, line in enumerate(lines) if "error" in line] == [len(lines) - 1]
    assert lines[-1].startswith("error: ") and fragment in lines[-1]
    assert all(line.startswith("model ") for line in lines[:-1]) and len(lines) == 2, err
    assert KEY not in err


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "memagent.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def test_the_real_command_prints_one_line_and_its_code(world):
    for args, code, fragment in [
        (["ask", world.doc, "-q", "x?", "--bogus"], 2, "No such option"),
        (["bogus"], 2, "No such command"),
        (["ask", world.dir / "nope.txt", "-q", "x?"], 3, "no such file"),
        (["ask", world.doc, "-q", world.q, *world.server, "--prompts",
          _file(world, "p.toml", "system = 5")], 3, "must be a string"),
        (["ask", world.doc, "-q", world.q, *world.server, "--resume", "--trace",
          _trace(world, "t.jsonl", ["[1]"])], 3, "where an object belongs"),
        (["ask", world.doc, "-q", world.q, "--base-url", world.dead, "--tokenizer", world.tok,
          "--max-retries", "0"], 4, "cannot reach"),
    ]:
        proc = cli(*args)
        assert proc.returncode == code, proc.stderr
        assert proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith("error: ") and fragment in proc.stderr
        assert "Traceback" not in proc.stderr and KEY not in proc.stderr


def test_a_reader_that_leaves_early_ends_the_command_quietly(world):
    import os

    read, write = os.pipe()
    os.close(read)  # `memagent ask ... | head -0`
    try:
        proc = subprocess.run([sys.executable, "-m", "memagent.cli", "ask", world.doc, "-q",
                               world.q, "-q", world.q, *map(str, world.server)],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert proc.returncode == 141 and "Traceback" not in proc.stderr, proc.stderr
    assert "error" not in proc.stderr and "Exception ignored" not in proc.stderr


def _sigint_by_default() -> None:
    """The child's SIGINT as a terminal gives it: a suite started as a background job of a
    non-interactive shell inherits SIGINT ignored, and Python keeps an inherited SIG_IGN."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _before_the_guard(err: str) -> bool:
    """A traceback from before memagent's Ctrl-C guard is up: its memagent frames, if any, are the
    import of `_startup` and that module's own first lines (well under a millisecond, which no
    Python code can cover)."""
    frames = re.findall(r'File "([^"]+)", line \d+.*\n\s*(.*)', err)  # (path, source line)
    return all(path.endswith("memagent/_startup.py")
               or (path.endswith("memagent/__init__.py") and "import _startup" in source)
               for path, source in frames if "memagent" in path)


def test_ctrl_c_while_starting_is_one_line_and_130(world):
    """SIGINT at 14 moments of the first four seconds. The first few milliseconds belong to the
    Python interpreter itself (site, runpy), before memagent's first line can act: an interrupt
    there may show Python's own traceback, which must then end before memagent's guard is up."""
    reached = 0
    # The late moments (the process is then retrying the dead server) are reached however slow
    # the machine's start-up is, so the count below does not depend on load.
    for delay in [0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 4.0]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "memagent.cli", "ask", world.doc, "-q", world.q, "--base-url",
             world.dead, "--model", "m", "--tokenizer", world.tok, "--max-retries", "20"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_sigint_by_default)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        if "Traceback" in err or (proc.returncode == -signal.SIGINT and not err):
            assert _before_the_guard(err), (delay, err)  # Python's own start-up, not ours
            continue
        reached += 1
        assert proc.returncode == 130, (delay, proc.returncode, err)
        # One error line, last; late moments may follow the start-up line and retry notices.
        lines = err.splitlines()
        assert out == "" and lines[-1].startswith("error: interrupted"), err
        assert sum(line.startswith("error") for line in lines) == 1, err
    assert reached >= 3  # at least the late moments, on however loaded a machine


def test_the_documented_codes_are_the_clis():
    from memagent import cli

    doc = cli.__doc__ or ""
    for code in DOCUMENTED - {0}:
        assert f"{code} " in doc
    assert (cli.EXIT_USAGE, cli.EXIT_PARTIAL, cli.EXIT_INTERRUPTED, cli.EXIT_BROKEN_PIPE) == (
        2, 5, 130, 141)
    assert Path(cli.__file__).exists()


def test_a_ctrl_c_python_swallowed_is_delivered_again(monkeypatch):
    """Ctrl-C landing in a weakref callback (an import's module lock, under load) is "Exception
    ignored" by Python and lost; the command's unraisable hook raises it in the main thread again."""
    import weakref

    from memagent import _startup

    class Lock:
        pass

    def callback(_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sys, "unraisablehook", _startup.redeliver_swallowed_ctrl_c)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # see _sigint_by_default
    lock = Lock()
    ref = weakref.ref(lock, callback)
    try:
        with pytest.raises(KeyboardInterrupt):
            del lock  # the callback's KeyboardInterrupt is unraisable: without the hook, nothing
            time.sleep(5)  # the redelivered interrupt ends this sleep at once
    finally:
        signal.signal(signal.SIGINT, previous)
    assert ref() is None
