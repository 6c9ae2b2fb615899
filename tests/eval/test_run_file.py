"""eval/run_file.py through `memagent eval`: run.json records the budgets, the model's sha256, the
style and every stage's command, and `report --merge` refuses runs whose settings differ.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_helpers import ContextScripted

from memagent.eval.harness import load_records


def test_cli_eval_with_scripted_backend(tokenizer, tmp_path: Path, monkeypatch) -> None:
    import memagent.llm
    from memagent.cli import main

    monkeypatch.setattr(memagent.llm, "load_llm", lambda *a, **k: ContextScripted(tokenizer))
    out = tmp_path / "run"
    argv = ["eval", "--tasks", "niah_single_1", "--lengths", "1k", "-n", "2", "--out", str(out),
            "--window", "2048", "--query", "256", "--chunk", "500", "--memory", "128",
            "--output", "64"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    run = json.loads((out / "run.json").read_text())
    assert run["budgets"]["chunk"] == 500 and run["model_sha256"]
    assert len(load_records(out / "samples.jsonl")) == 6
    with pytest.raises(SystemExit) as exc:
        main([*argv[:-2], "--methods", "nope"])
    assert exc.value.code == 3


def test_cli_eval_style_picks_the_question_texts(tokenizer, tmp_path: Path, monkeypatch) -> None:
    """RULER's vt question carries a ~500-token worked example, over a 256-token query budget; the
    release's texts have none, so the same cell runs under --style release."""
    import memagent.llm
    from memagent.cli import main

    monkeypatch.setattr(memagent.llm, "load_llm", lambda *a, **k: ContextScripted(tokenizer))
    errors = {}
    for style in ("ruler", "release"):
        out = tmp_path / style
        with pytest.raises(SystemExit) as exc:
            main(["eval", "--tasks", "vt", "--lengths", "1k", "-n", "2", "--out", str(out),
                  "--window", "2048", "--query", "256", "--chunk", "500", "--memory", "128",
                  "--output", "64", "--methods", "memagent", "--style", style])
        # every ruler sample is over the query budget: the run says so with that error's code
        assert exc.value.code == (3 if style == "ruler" else 0)
        assert json.loads((out / "run.json").read_text())["style"] == style
        errors[style] = [r.get("error") for r in load_records(out / "samples.jsonl").values()]
    assert all(e and "over the query budget" in e for e in errors["ruler"])
    assert errors["release"] == [None, None]
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--tasks", "vt", "--lengths", "1k", "--out", str(tmp_path / "x"),
              "--style", "paper"])
    assert exc.value.code == 3


def test_report_merges_split_runs_and_refuses_other_budgets(tokenizer, tmp_path: Path,
                                                            monkeypatch) -> None:
    import memagent.llm
    from memagent.cli import main

    monkeypatch.setattr(memagent.llm, "load_llm", lambda *a, **k: ContextScripted(tokenizer))
    base = ["eval", "--tasks", "niah_single_1", "-n", "2", "--window", "2048", "--query", "256",
            "--chunk", "500", "--memory", "128", "--output", "64", "--methods", "memagent,full"]

    def run(*argv: str) -> int:
        with pytest.raises(SystemExit) as exc:
            main([*base, *argv])
        return int(exc.value.code or 0)

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert run("--lengths", "1k", "--out", str(a)) == 0
    assert run("--lengths", "1k", "--out", str(a), "-n", "3") == 0  # a second stage, same dir
    assert run("--lengths", "2k", "--out", str(b)) == 0
    first, second = json.loads((a / "run.json").read_text())["commands"]
    assert " -n 2 " in first and first.endswith(f"--lengths 1k --out {a}")
    assert second.endswith("-n 3")
    with pytest.raises(SystemExit) as exc:
        main(["report", str(a), "--merge", str(b)])
    assert exc.value.code == 0
    records = load_records(a / "samples.jsonl")
    assert len(records) == 2 * 3 + 2 * 2  # 1k: n=3, 2k: n=2, two methods
    report = (a / "report.md").read_text()
    assert "| niah_single_1 | memagent | 100.0 (3) | 100.0 (2) |" in report
    assert report.count("  - `memagent eval") == 3  # every stage's command is listed
    with pytest.raises(SystemExit) as exc:  # merging again adds nothing
        main(["report", str(a), "--merge", str(b)])
    assert len(load_records(a / "samples.jsonl")) == len(records)
    assert run("--lengths", "1k", "--out", str(c), "--memory", "96") == 0
    with pytest.raises(SystemExit) as exc:
        main(["report", str(a), "--merge", str(c)])
    assert exc.value.code == 3
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path / "missing")])
    assert exc.value.code == 3
