"""Fault injection: a server that fails on cue, and `kill -9` of `memagent ask --trace` at random.

Everything runs against `fault_server.FaultServer` on 127.0.0.1 (loopback only; every loop is
bounded). A fault that the backend retries (500, 429, a timeout, a dropped connection, a null
completion) must leave the answer and every memory exactly as a clean run has them; an overlong
reply is cut at the memory budget and recorded as cut; a fault that is not retried (a body that
is not JSON) or one that never ends stops the run with one line and exit 4, and `--resume` on a
healthy server then gives the clean run's answer and memories. Killed runs (SIGKILL when a
seeded random request arrives, or at a random moment after the trace has grown by a seeded
number of lines) are resumed and compared with an uninterrupted run, question by question, and
the resume must ask exactly for the steps the trace lacks. (A SIGKILL cannot tear one of these
short lines, each a single write; torn last lines are covered in test_trace.py.)

The quick tests run by default; the `slow` ones run 24 kill trials and 30 random fault mixes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fault_server import FaultServer, keyed_doc, question, request_key
from memagent.cli import main
from memagent.loop.trace import read_trace

CHUNK = 32  # ~15 chunks per question: room for kill points
KEY = "sk-faults-93c1d2"  # in every run's URL and --api-key: never in an output or a trace
KEYS = ("alpha", "charlie", "echo")


def run_main(args: list[Any], capsys: Any) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    assert KEY not in captured.out + captured.err and "user:" not in captured.err
    return int(info.value.code or 0), captured.out, captured.err


class Bench:
    """One server, one document and the clean answers and traces every trial is compared with."""

    def __init__(self, root: Path, tokenizer_dir: Path, tokenizer: Any) -> None:
        self.root = root
        self.srv = FaultServer(hang=3.0)
        self.doc = root / "doc.txt"
        self.doc.write_text(keyed_doc(tokenizer, chunk=CHUNK))
        port = self.srv.url.rsplit(":", 1)[1]
        self.flags = ["--base-url", f"http://user:{KEY}@127.0.0.1:{port}", "--api-key", KEY,
                      "--model", "m", "--tokenizer", tokenizer_dir,
                      "--chunk", CHUNK, "--memory", 128, "--timeout", 1.0, "--max-wait", 30]
        self.clean: dict[tuple[str, ...], tuple[list[str], list[Path]]] = {}
        self.posts: dict[tuple[str, ...], int] = {}
        self.trials = 0

    def args(self, keys: tuple[str, ...], trace: Path, *extra: Any) -> list[Any]:
        qs = [a for k in keys for a in ("-q", question(k))]
        return ["ask", self.doc, *qs, *self.flags, "--trace", trace, *extra]

    def baseline(self, keys: tuple[str, ...], capsys: Any) -> tuple[list[str], list[Path]]:
        if keys not in self.clean:
            trace = self.root / f"clean-{len(self.clean)}.jsonl"
            before = self.srv.posts
            code, out, err = run_main(self.args(keys, trace), capsys)
            assert code == 0, err
            self.posts[keys] = self.srv.posts - before
            self.clean[keys] = (out.splitlines(), paths(trace, len(keys)))
        return self.clean[keys]


def paths(trace: Path, n: int) -> list[Path]:
    from memagent.loop.agent import trace_paths

    return trace_paths(trace, n)


def memories(path: Path) -> list[tuple[Any, ...]]:
    _, steps, _ = read_trace(path)
    return [(s.index, s.memory, s.memory_tokens, s.memory_cut, s.kept, s.chunk_sha) for s in steps]


def same_as_clean(bench: Bench, keys: tuple[str, ...], out: str, trace: Path) -> None:
    answers, clean = bench.clean[keys]
    assert out.splitlines() == answers
    for path, reference in zip(paths(trace, len(keys)), clean, strict=True):
        assert KEY not in path.read_text()
        assert memories(path) == memories(reference), path
        _, _, final = read_trace(path)
        _, _, clean_final = read_trace(reference)
        assert final is not None and final["answer"] == clean_final["answer"]
        assert final["document"] == clean_final["document"]


def still_needed(trace: Path, n: int, chunks: int) -> int:
    """Requests a resume must send: unread chunks plus unanswered finals, per question."""
    needed = 0
    for path in paths(trace, n):
        if not path.exists():
            needed += chunks + 1
            continue
        _, steps, final = read_trace(path)
        needed += 0 if final is not None else chunks - len(steps) + 1
    return needed


@pytest.fixture(scope="module")
def bench(tmp_path_factory: Any, embedded_model_dir: Path, tokenizer: Any) -> Any:
    b = Bench(tmp_path_factory.mktemp("faults"), embedded_model_dir, tokenizer)
    yield b
    b.srv.close()


def from_step(k: int, fault: str, once: bool = False) -> Any:
    """A server rule: `fault` for the k-th distinct request (1-based) and every later one, or for
    its first arrival only (`once`). Counted by request body, not by POST, so that a retry of a
    slow healthy request on a loaded machine does not move the fault to an earlier step."""
    seen: list[str] = []

    def rule(n: int, body: dict[str, Any]) -> str | None:
        key = request_key(body)
        first = key not in seen
        if first:
            seen.append(key)
        step = seen.index(key) + 1
        return fault if step >= k and not (once and (step > k or not first)) else None

    return rule


# ---- faults the backend absorbs, and faults that stop a run ------------------------------------
RETRIED = ["500", "429", "timeout", "drop", "null"]


def test_retried_faults_change_nothing(bench: Bench, capsys: Any) -> None:
    """One run meets each retried fault once (requests 2, 4, 6, 8, 10)."""
    keys = ("charlie",)
    bench.baseline(keys, capsys)
    trace = bench.root / "retried.jsonl"
    start = bench.srv.posts
    bench.srv.faults = {start + 2 * i + 2: f for i, f in enumerate(RETRIED)}
    code, out, err = run_main(bench.args(keys, trace), capsys)
    bench.srv.faults = {}
    assert code == 0, err
    same_as_clean(bench, keys, out, trace)
    notices = [line for line in err.splitlines() if line.startswith("warning: POST")]
    # One notice per retry, and every POST past the clean run's count is a retry. (A loaded
    # machine may time out a healthy request too; that retry is then counted and noticed.)
    assert len(notices) == bench.srv.posts - start - bench.posts[keys] and "Traceback" not in err
    reasons = iter(notices)
    for reason in ["HTTP 500", "HTTP 429", "timed out", "RemoteProtocolError", "content is null"]:
        assert any(reason in n and "retry 1 of 5" in n for n in reasons), (reason, notices)


def test_an_overlong_reply_is_cut_and_recorded(bench: Bench, capsys: Any) -> None:
    keys = ("alpha",)
    answers, _ = bench.baseline(keys, capsys)
    trace = bench.root / "overlong.jsonl"
    bench.srv.rule = from_step(3, "overlong", once=True)
    try:
        code, out, err = run_main(bench.args(keys, trace), capsys)
    finally:
        bench.srv.rule = None
    assert (code, out.splitlines()) == (0, answers), err
    _, steps, _ = read_trace(trace)
    cut = [s.index for s in steps if s.memory_cut]
    assert cut[0] == 2 and steps[2].memory_tokens == 128  # later memories carry the excess on


@pytest.mark.parametrize(
    ("fault", "extra", "message"),
    [
        ("garbage", [], "returned an unreadable answer"),
        ("timeout", ["--max-wait", "1"], "(the --max-wait limit of 1 s) (timed out"),
        pytest.param("null", ["--max-retries", "2"], "after 3 attempts (empty completion: the "
                     "answer's content", marks=pytest.mark.slow),
        pytest.param("500", ["--max-retries", "2"], "after 3 attempts (HTTP 500: injected",
                     marks=pytest.mark.slow),
    ],
)
def test_a_fault_that_stops_the_run_is_one_line_then_resume_finishes_it(
    bench: Bench, capsys: Any, fault: str, extra: list[str], message: str
) -> None:
    keys = ("echo",)
    bench.baseline(keys, capsys)
    trace = bench.root / f"stops-{fault}.jsonl"
    bench.srv.rule = from_step(6, fault)
    try:
        code, out, err = run_main(bench.args(keys, trace, *extra), capsys)
    finally:
        bench.srv.rule = None
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert (code, out) == (4, "") and errors == err.splitlines()[-1:], err
    assert message in errors[0] and "Traceback" not in err
    assert len(read_trace(trace)[1]) == 5  # every step before the fault is kept
    code, out, err = run_main(bench.args(keys, trace, "--resume"), capsys)
    assert code == 0, err
    same_as_clean(bench, keys, out, trace)


# ---- kill -9 at seeded random points, then --resume ---------------------------------------------
def _cli(args: list[Any]) -> subprocess.Popen[str]:
    """`memagent ARGS...` as a user runs it, in its own process."""
    return subprocess.Popen([sys.executable, "-m", "memagent.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_at_request(bench: Bench, args: list[Any], k: int) -> subprocess.CompletedProcess[str]:
    """Run the command and SIGKILL it when its k-th request reaches the server."""
    box: dict[str, subprocess.Popen[str]] = {}

    def kill() -> None:
        os.kill(box["proc"].pid, signal.SIGKILL)

    bench.srv.on_kill = kill
    bench.srv.faults = {bench.srv.posts + k: "kill"}
    proc = box["proc"] = _cli(args)
    out, err = proc.communicate(timeout=120)
    bench.srv.faults = {}
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _kill_while_tracing(bench: Bench, args: list[Any], trace: Path, lines: int,
                        rng: random.Random) -> subprocess.CompletedProcess[str]:
    """Run the command and SIGKILL it at a random moment once `trace` holds `lines` more
    newlines than it had (so a line may be cut in the middle)."""
    lines += trace.read_bytes().count(b"\n") if trace.exists() else 0
    bench.srv.delay = 0.01  # 10 ms a reply, so the moment below falls inside the run
    proc = _cli(args)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if trace.read_bytes().count(b"\n") >= lines:
                time.sleep(rng.uniform(0, 0.012))
                break
        except FileNotFoundError:
            pass
        time.sleep(0.0005)
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate(timeout=120)
    bench.srv.delay = 0.0
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill_trial(bench: Bench, capsys: Any, seed: int) -> dict[str, Any]:
    """One seeded trial: 1 or 2 questions, 1 or 2 kills (at a request, or while the trace is
    written), then a resume to the end, compared with the uninterrupted run."""
    rng = random.Random(seed)
    keys = tuple(rng.sample(KEYS, rng.choice([1, 2])))
    _, clean = bench.baseline(keys, capsys)
    total = bench.posts[keys]
    chunks = len(read_trace(clean[0])[1])
    trace = bench.root / f"kill-{seed}.jsonl"
    args = bench.args(keys, trace)
    kills = []
    for round_ in range(rng.choice([1, 2])):
        resume = ["--resume"] if round_ else []
        if rng.random() < 0.5:
            k = rng.randint(1, max(1, still_needed(trace, len(keys), chunks)))
            done = _kill_at_request(bench, [*args, *resume], k)
            kills.append(f"request {k}")
        else:
            lines = rng.randint(1, max(1, still_needed(trace, len(keys), chunks) // len(keys)))
            done = _kill_while_tracing(bench, [*args, *resume], paths(trace, len(keys))[0],
                                       lines, rng)
            kills.append(f"trace line {lines}")
        assert done.returncode in (-signal.SIGKILL, 0), done.stderr
        assert "Traceback" not in done.stderr and KEY not in done.stdout + done.stderr
        if done.returncode == 0:  # it finished before the kill point: nothing to resume
            kills[-1] += " (finished first)"
            break
    needed = still_needed(trace, len(keys), chunks)
    before = bench.srv.posts
    code, out, err = run_main([*args, "--resume"], capsys)
    assert code == 0, (seed, kills, err)
    assert bench.srv.distinct_since(before) == needed  # finished steps were not asked again
    same_as_clean(bench, keys, out, trace)
    for path in paths(trace, len(keys)):  # no torn line left behind
        assert all(json.loads(line) for line in path.read_text().splitlines())
    bench.trials += 1
    return {"seed": seed, "questions": len(keys), "kills": kills, "resumed_requests": needed,
            "of": total}


def test_kill_9_then_resume_matches_an_uninterrupted_run(bench: Bench, capsys: Any) -> None:
    trials = [kill_trial(bench, capsys, seed) for seed in range(3)]
    assert any("finished first" not in k for t in trials for k in t["kills"])


@pytest.mark.slow
# 24 trials of several CLI processes each: on a loaded machine that outlasts the suite's 600 s
# per-test limit; a hang is still caught by each process's own 120 s limit.
@pytest.mark.timeout(1800)
def test_kill_9_then_resume_matches_an_uninterrupted_run_24_trials(
    bench: Bench, capsys: Any
) -> None:
    trials = [kill_trial(bench, capsys, seed) for seed in range(100, 124)]
    with capsys.disabled():
        sys.stderr.write("\n" + "\n".join(json.dumps(t) for t in trials) + "\n")
    killed = [t for t in trials if not all("finished first" in k for k in t["kills"])]
    assert len(trials) == 24 and len(killed) >= 20
    assert {t["questions"] for t in trials} == {1, 2}
    assert any(len(t["kills"]) == 2 for t in trials)
    assert any(k.startswith("trace") for t in trials for k in t["kills"])


@pytest.mark.slow
def test_random_fault_mixes_keep_the_clean_answers(bench: Bench, capsys: Any) -> None:
    """30 seeded runs, each with 1-4 retried faults at random requests (1 or 2 questions)."""
    for seed in range(30):
        rng = random.Random(1000 + seed)
        keys = tuple(rng.sample(KEYS, rng.choice([1, 2])))
        bench.baseline(keys, capsys)
        trace = bench.root / f"mix-{seed}.jsonl"
        start = bench.srv.posts
        picks = rng.sample(range(1, bench.posts[keys] + 1), rng.randint(1, 4))
        bench.srv.faults = {start + k: rng.choice(RETRIED) for k in picks}
        code, out, err = run_main(bench.args(keys, trace), capsys)
        bench.srv.faults = {}
        assert code == 0, (seed, err)
        same_as_clean(bench, keys, out, trace)
