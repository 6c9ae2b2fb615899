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
        (["-q", "a?", "-q", "  ", "-q", "c?"], "question 2 of 3 is empty"),
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


# ---- against a real HTTP server on 127.0.0.1 (scripted replies, tests/test_openai_backend.py) ----
KEY = "sk-test-7f3a9c1e5b"
CODE = "The secret code is 4821937. "


@pytest.fixture
def server(monkeypatch):
    from test_openai_backend import Scripted

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
    from test_openai_backend import ok_body

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
    from memagent.trace import read_trace
    from test_openai_backend import null_body

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
