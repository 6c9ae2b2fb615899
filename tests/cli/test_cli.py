"""The CLI's contract: one-line errors with documented exit codes, answers on stdout."""

import json
import subprocess
import sys

import pytest

from memagent.answer import extract_answer
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
        (["-q", "a?", "-q", "b?", "--trace", "."], "trace path . is a directory"),
        (["-q", "a?", "-q", "  ", "-q", "c?"], "question 2 of 3 is empty"),
    ],
)
def test_bad_options_are_named(tmp_path, capsys, extra, message):
    doc = tmp_path / "d.txt"
    doc.write_text("hello")
    code, _, err = run_main(["ask", str(doc), *extra], capsys)
    assert code == 3 and message in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask"], "Missing argument 'paths'."),
        (["ask", "d.txt"], "Missing option '--question' / '-q'."),
        (["ask", "d.txt", "-q", "x?", "--bogus"], "No such option: --bogus"),
        (["ask", "d.txt", "-q", "x?", "--window", "abc"], "Invalid value for '--window'"),
        (["bogus"], "No such command 'bogus'."),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(capsys, args, message):
    code, out, err = run_main(args, capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith(f"error: {message}") and "--help" in err


def test_empty_directory_and_binary_file(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run_main(["ask", str(tmp_path / "empty"), "-q", "x?"], capsys)
    assert code == 3 and "no text files" in err


# ---- against a real HTTP server on 127.0.0.1 (scripted replies, tests/scripted_server.py) ----
KEY = "sk-test-7f3a9c1e5b"
CODE = "The secret code is 4821937. "


@pytest.fixture
def server(monkeypatch):
    from scripted_server import Scripted

    for var in ("MEMAGENT_API_KEY", "OPENAI_API_KEY", "MEMAGENT_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    servers = []

    def make(payload):
        servers.append(Scripted([(200, {}, payload)]))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def boxed(text="The code is \\boxed{4821937}."):
    from scripted_server import ok_body

    return ok_body(text)


def ask_server(capsys, tokenizer_dir, doc, *extra):
    return run_main(
        ["ask", str(doc), "-q", "What is the code?", "--tokenizer", str(tokenizer_dir), *map(str, extra)],
        capsys,
    )


def test_a_key_in_the_base_url_reaches_the_server_and_no_artifact(
    tmp_path, capsys, server, embedded_model_dir
):
    import base64

    srv = server(boxed())
    port = srv.url.rsplit(":", 1)[1]
    doc, other, trace = tmp_path / "d.txt", tmp_path / "other.txt", tmp_path / "t.jsonl"
    doc.write_text(CODE * 20)
    other.write_text(CODE.replace("4821937", "4821938") * 20)
    url = f"http://user:{KEY}@127.0.0.1:{port}/v1"
    artifacts = []

    code, out, err = ask_server(capsys, embedded_model_dir, doc, "--base-url", url, "--trace", trace, "--json")
    artifacts += [out, err]
    assert code == 0, err
    assert json.loads(out)["answer"] == "4821937"
    assert f"model openai:m@http://127.0.0.1:{port}/v1 (server) ready" in err
    basic = "Basic " + base64.b64encode(f"user:{KEY}".encode()).decode()
    assert len(srv.auth) == 3 and set(srv.auth) == {basic}  # /models, one chunk, the answer
    # The same server as localhost: the finished trace answers, nothing is asked again.
    alias = f"http://user:{KEY}@localhost:{port}"
    code, out, err = ask_server(capsys, embedded_model_dir, doc, "--base-url", alias, "--model", "m",
                                "--trace", trace, "--resume")
    artifacts += [out, err]
    assert (code, out) == (0, "4821937\n"), err
    assert "is complete" in err and len(srv.auth) == 3
    # Another document (same size, one digit changed) against the finished trace: refused.
    code, out, err = ask_server(capsys, embedded_model_dir, other, "--base-url", url, "--model", "m",
                                "--trace", trace, "--resume")
    artifacts += [out, err]
    assert (code, out) == (3, "") and err.splitlines()[-1].startswith("error: trace ")
    assert "different document (560 bytes, sha256" in err.splitlines()[-1]
    # The server gone: 'cannot reach' names the URL, not the key.
    srv.close()
    code, out, err = ask_server(capsys, embedded_model_dir, doc, "--base-url", url, "--model", "m",
                                "--max-retries", "0")
    artifacts += [out, err]
    assert code == 4 and f"cannot reach http://127.0.0.1:{port}/v1/chat/completions" in err
    artifacts.append(trace.read_text())
    for text in artifacts:
        assert KEY not in text and "user:" not in text


def test_openai_environment_variables_and_their_precedence(
    tmp_path, capsys, server, embedded_model_dir, monkeypatch
):
    srv = server(boxed())
    dead = server(boxed())
    dead.close()
    doc = tmp_path / "d.txt"
    doc.write_text(CODE * 20)
    cases = [  # (variables set, flags, the server that must answer, the key it must get)
        ({"OPENAI_BASE_URL": srv.url, "OPENAI_API_KEY": "sk-o"}, [], "Bearer sk-o"),
        ({"MEMAGENT_API_KEY": "sk-m"}, [], "Bearer sk-m"),
        ({}, ["--api-key", "sk-flag"], "Bearer sk-flag"),
        ({"OPENAI_BASE_URL": dead.url, "MEMAGENT_BASE_URL": srv.url}, [], "Bearer sk-m"),
        ({"MEMAGENT_BASE_URL": dead.url}, ["--base-url", srv.url], "Bearer sk-m"),
    ]
    for env, flags, auth in cases:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        hits = len(srv.auth)
        code, out, err = ask_server(capsys, embedded_model_dir, doc, "--max-retries", "0", *flags)
        assert (code, out) == (0, "4821937\n"), (env, flags, err)
        assert srv.auth[hits:] == [auth] * 3 and "sk-" not in err
    code, out, err = run_main(["ask", "--help"], capsys)
    help_text = " ".join(out.split())
    for name in ("MEMAGENT_BASE_URL", "OPENAI_BASE_URL", "MEMAGENT_API_KEY", "OPENAI_API_KEY"):
        assert name in help_text


def test_a_null_completion_is_a_backend_error_not_an_empty_memory(
    tmp_path, capsys, server, embedded_model_dir
):
    from memagent.loop.trace import read_trace
    from scripted_server import null_body

    srv = server(null_body())
    doc, trace = tmp_path / "d.txt", tmp_path / "t.jsonl"
    doc.write_text(CODE * 20)
    code, out, err = ask_server(capsys, embedded_model_dir, doc, "--base-url", srv.url, "--model", "m",
                                "--max-retries", "1", "--trace", trace)
    assert (code, out) == (4, "") and "2 attempts (empty completion: the answer's content is null)" in err
    assert srv.hits == 2
    _, steps, final = read_trace(trace)
    assert steps == [] and final is None  # no empty memory recorded, no answer


def test_eval_records_and_shows_no_credentials():
    from memagent.cli import invocation
    from memagent.cli.eval import _invocation, model_identity

    saved = list(invocation)
    invocation[:] = ["memagent", "eval", "--base-url", f"http://u:{KEY}@h:1/v1", "--api-key", KEY,
                     f"--api-key={KEY}", "-o", "x"]
    try:
        assert _invocation() == ["memagent", "eval", "--base-url", "http://h:1/v1", "--api-key",
                                 "***", "--api-key=***", "-o", "x"]
    finally:
        invocation[:] = saved
    assert model_identity("m", f"http://u:{KEY}@h:1/v1") == ("m @ http://h:1/v1", None)


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
    # the paper profile asks for chunk 5000 explicitly: the error names --chunk and --window
    assert proc.returncode == 3 and "do not fit the 2000-token window" in proc.stderr
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
    # the answer and rule are what extraction gives on the final reply, as the trace recorded
    extraction = extract_answer(result["raw_answer"])
    assert (result["answer"], result["rule"]) == (extraction.answer, extraction.rule.value)
    assert result["steps"][-1]["kind"] == "final"
    assert result["steps"][-1]["output"] == result["raw_answer"]
    assert len(result["steps"]) == result["cost"]["chunks"] + 1 >= 3
    assert "memory after chunk 0" in proc.stderr
    # the shipped adapter's profile, with the explicit flags winning over its budgets
    assert "profile smollm2-memagent: window 2048, query 256, chunk 128, memory 32, output 24" in proc.stderr
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    assert records[0]["type"] == "header" and records[-1]["type"] == "final"
    assert (records[-1]["answer"], records[-1]["rule"]) == (result["answer"], result["rule"])


# ---- several questions: a trace each, partial failures, resume ----------------------------------
def ask_keys(capsys, tokenizer_dir, doc, keys, *extra):
    from fault_server import question

    qs = [a for k in keys for a in ("-q", question(k))]
    return run_main(["ask", str(doc), *qs, "--tokenizer", str(tokenizer_dir), "--chunk", "64",
                     *map(str, extra)], capsys)


def test_one_failed_question_keeps_every_finished_answer_and_resumes_alone(
    tmp_path, capsys, fault_server, embedded_model_dir, tokenizer
):
    from fault_server import KEYS, answer, is_final, keyed_doc, problem

    srv = fault_server(rule=lambda n, b: "500" if is_final(b) and "echo" in problem(b) else None)
    doc, trace = tmp_path / "d.txt", tmp_path / "run.jsonl"
    doc.write_text(keyed_doc(tokenizer))
    flags = ["--base-url", srv.url, "--model", "m", "--max-retries", "1", "--trace", trace]
    code, out, err = ask_keys(capsys, embedded_model_dir, doc, KEYS, *flags)
    assert code == 5, err
    assert out.splitlines() == [answer(k) for k in KEYS[:4]] + [""]  # each on its question's line
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors[0].startswith("error: question 5 of 5 ('What is the magic number for echo?'): ")
    assert "HTTP 500: injected server error" in errors[0]
    assert errors[1].startswith("error: 1 of 5 questions failed; the answers to the other 4 are on "
                                "stdout; rerun the same command with --resume")
    assert len(errors) == 2 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.glob("run*")) == [f"run.q{i}.jsonl" for i in range(1, 6)]
    # --json: the same, with the failure as a record in its place
    code, out, _ = ask_keys(capsys, embedded_model_dir, doc, KEYS, *flags[:-1], tmp_path / "j.jsonl",
                            "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 5 and [r["answer"] for r in records] == [answer(k) for k in KEYS[:4]] + [None]
    assert records[4]["question"] == "What is the magic number for echo?"
    assert records[4]["exit_code"] == 4 and "HTTP 500" in records[4]["error"]
    # the server heals: --resume answers q1-q4 from their traces and asks only q5's final answer
    srv.rule = None
    posts = srv.posts
    code, out, err = ask_keys(capsys, embedded_model_dir, doc, KEYS, *flags, "--resume")
    assert code == 0, err
    assert out.splitlines() == [answer(k) for k in KEYS]
    assert srv.posts - posts == 1
    assert err.count("is complete; answer taken from it") == 4 and "run.q5.jsonl after chunk 6" in err
    # no rate for answers taken from a trace; q5 read nothing new, so 0 document tokens/s
    assert err.count("recorded in") == 4 and "none re-run" in err
    rates = [int(line.split(", ")[-1].split()[0]) for line in err.splitlines()
             if "document tokens/s" in line]
    assert rates == [0]
    # everything finished: a resume asks nothing and reports no absurd rate
    code, out, err = ask_keys(capsys, embedded_model_dir, doc, KEYS, *flags, "--resume")
    assert (code, out.splitlines()) == (0, [answer(k) for k in KEYS]) and srv.posts - posts == 1
    assert "document tokens/s" not in err


def test_every_question_failing_for_one_reason_is_one_error(
    tmp_path, capsys, fault_server, embedded_model_dir, tokenizer
):
    from fault_server import KEYS, keyed_doc

    srv = fault_server(rule=lambda n, b: "500")
    doc = tmp_path / "d.txt"
    doc.write_text(keyed_doc(tokenizer))
    code, out, err = ask_keys(capsys, embedded_model_dir, doc, KEYS[:3], "--base-url", srv.url,
                              "--model", "m", "--max-retries", "0")
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert (code, out) == (4, "") and len(errors) == 1 and errors == err.splitlines()[-1:]
    assert "kept failing after 1 attempt (HTTP 500" in errors[0]


def test_retries_are_announced_and_warnings_are_one_clean_line(
    tmp_path, capsys, fault_server, embedded_model_dir, tokenizer
):
    from fault_server import answer, keyed_doc

    srv = fault_server(faults={2: "500", 4: "timeout"}, hang=4.0)  # POST 3 retries POST 2
    doc = tmp_path / "d.txt"
    doc.write_bytes(keyed_doc(tokenizer).encode() + b"caf\xe9\n")  # one invalid UTF-8 byte
    code, out, err = ask_keys(capsys, embedded_model_dir, doc, ["bravo"], "--base-url", srv.url,
                              "--model", "m", "--timeout", "1.5")
    assert (code, out) == (0, answer("bravo") + "\n"), err
    lines = err.splitlines()
    notices = [line for line in lines if line.startswith("warning: POST")]
    assert len(notices) == 2
    assert "failed (HTTP 500: injected server error); retry 1 of 5 in" in notices[0]
    assert "failed (timed out: ReadTimeout); retry 1 of 5 in" in notices[1]
    assert f"warning: {doc}: 1 invalid UTF-8 byte sequence(s) replaced with U+FFFD" in lines
    # without --tokenizer: the approximate-tokenizer warning, as one line with no source location
    code, out, err = run_main(["ask", str(doc), "-q", "What is the magic number for alpha?",
                               "--base-url", srv.url, "--model", "m"], capsys)
    assert code == 0, err
    warned = [line for line in err.splitlines() if "no --tokenizer given" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: no --tokenizer given")
    assert ".py" not in err and "Warning" not in err


@pytest.mark.parametrize(
    ("text", "extra", "message"),
    [
        ("", [], "the document is empty"),
        ("hello " * 10 + "\x00", [], "looks binary (a NUL byte at byte offset 60)"),
        ("hello", ["-q", "why " * 400], "the question is 401 tokens, over the query budget of 256"),
        ("hello", ["-q", "a?", "-q", "why " * 400], "question 2 of 2 is 401 tokens"),
        ("hello", ["-q", "a?", "--window", "600"], "budgets do not fit the 600-token window"),
    ],
)
def test_bad_input_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch, text, extra,
                                                     message):
    import memagent.llm

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(memagent.llm, "load_llm", no_load)
    doc = tmp_path / "d.txt"
    doc.write_text(text)
    code, out, err = run_main(["ask", str(doc), *(extra or ["-q", "x?"])], capsys)
    assert (code, out) == (3, "") and err.count("\n") == 1 and message in err, err
