"""Pins what `ask` prints and writes on the scripted backend for a fixed seed, byte for byte
(timings aside), in both scheduling modes, and the seed each request is sampled with.

Written before the architecture refactor (issue 11) so that moving code cannot change behaviour.
Regenerate only for an intended change: MEMAGENT_REGOLD=1 python -m pytest tests/test_pinned.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from memagent.cli import main
from scripted import ScriptedLLM

GOLDEN = Path(__file__).parent / "golden" / "ask_scripted.json"
TIMINGS = {"seconds", "backend_seconds", "elapsed", "time", "started", "tokens_per_s"}


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("<t>" if k in TIMINGS else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _doc(path: Path) -> Path:
    lines = []
    for i in range(120):
        lines.append(f"Line {i} of the filler text, about nothing in particular, number {i * 7}.")
        if i in (17, 83):
            lines.append(f"The special magic number for key-{i} is {1000000 + i * 1111}.")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class SeedRecorder(ScriptedLLM):
    """The scripted backend, recording the seed each request was sampled with."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seeds: list[int | None] = []

    def generate(self, requests, sampling):  # type: ignore[no-untyped-def]
        self.seeds += [r.seed for r in requests]
        return super().generate(requests, sampling)


def _run(tmp_path: Path, tokenizer: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any,
         scheduling: str) -> dict[str, Any]:
    import memagent.llm

    llm = SeedRecorder(tokenizer, scheduling=scheduling)  # type: ignore[arg-type]
    monkeypatch.setattr(memagent.llm, "load_llm", lambda *a, **k: llm)
    doc = _doc(tmp_path / "doc.txt")
    trace = tmp_path / f"{scheduling}.jsonl"
    # Pinned with memory hygiene and answer grounding off (the prompt file's keys): the golden
    # predates both, and the auto profile here is smollm2-memagent, which turns them on
    # (tests/test_hygiene.py, tests/test_grounding.py).
    prompts = tmp_path / "hygiene-off.toml"
    prompts.write_text('hygiene = "off"\nanswer_grounding = "off"\n', encoding="utf-8")
    argv = ["ask", str(doc), "-q", "What is the special magic number for key-17?",
            "-q", "What is the special magic number for key-83?", "--chunk", "128",
            "--memory", "96", "--seed", "7", "--temperature", "0.5", "--json",
            "--trace", str(trace), "--show-memory", "--prompts", str(prompts)]
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr().out
    assert info.value.code == 0
    traces = {}
    for path in sorted(tmp_path.glob(f"{scheduling}.q*.jsonl")):
        records = [_scrub(json.loads(line)) for line in path.read_text().splitlines()]
        for r in records:  # the document's path differs per run
            r.pop("path", None)
            if isinstance(r.get("document"), dict):
                r["document"].pop("paths", None)
        traces[path.name] = records
    stdout = [_scrub(json.loads(line)) for line in out.splitlines()]
    return {"stdout": stdout, "traces": traces, "seeds": sorted(llm.seeds)}  # threads: any order


@pytest.mark.parametrize("scheduling", ["rounds", "continuous"])
def test_ask_on_the_scripted_backend_is_pinned(tmp_path, tokenizer, monkeypatch, capsys,
                                               scheduling):
    got = _run(tmp_path, tokenizer, monkeypatch, capsys, scheduling)
    blob = json.dumps(got, sort_keys=True, ensure_ascii=False)
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    if os.environ.get("MEMAGENT_REGOLD"):
        golden[scheduling] = json.loads(blob)
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    want = json.dumps(golden[scheduling], sort_keys=True, ensure_ascii=False)
    assert hashlib.sha256(blob.encode()).hexdigest() == hashlib.sha256(want.encode()).hexdigest(), (
        f"ask's output on the scripted backend changed ({scheduling})"
    )
    assert [r["answer"] for r in got["stdout"]] == ["1092213", "1092213"]  # the last number kept
