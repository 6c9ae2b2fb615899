"""eval/report.py: report.md, summary.csv and accuracy.png, written whole through the atomic writer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_helpers import CONFIG, ContextScripted, plan

from memagent.eval.harness import Harness
from memagent.eval.report import write_report
from memagent.eval.run_file import RunInfo


def test_report_files(tokenizer, tmp_path: Path) -> None:
    Harness(plan(n=1, lengths=(1024, 2048)), ContextScripted(tokenizer), CONFIG, tokenizer,
            tmp_path).run()
    report = write_report(tmp_path, RunInfo(model="scripted", budgets={"chunk": 500}))
    text = report.read_text()
    assert "| niah_single_1 | memagent | 100.0 (1) | 100.0 (1) |" in text
    assert "Tokens processed" in text and "Wall seconds" in text
    png = tmp_path / "accuracy.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "summary.csv").read_text().startswith("task,length,method,n,")


def test_report_outputs_go_through_the_atomic_writer(tokenizer, tmp_path: Path, capsys) -> None:
    """Issue 25 item 2: eval's files are written whole (temp + rename, no `.part` left), a
    symlinked report.md is written through, and a directory where a file belongs is one line."""
    from memagent.cli import main

    Harness(plan(n=1, lengths=(1024,)), ContextScripted(tokenizer), CONFIG, tokenizer,
            tmp_path).run()
    elsewhere = tmp_path / "kept" / "report.md"
    elsewhere.parent.mkdir()
    elsewhere.write_text("old")
    (tmp_path / "report.md").symlink_to(elsewhere)
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path)])
    assert exc.value.code == 0
    assert (tmp_path / "report.md").is_symlink() and "| niah_single_1 |" in elsewhere.read_text()
    (tmp_path / "accuracy.png").unlink()
    (tmp_path / "accuracy.png").mkdir()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 3 and err.count("\n") == 1 and "accuracy.png is a directory" in err
    assert [p for p in tmp_path.rglob("*") if ".part" in p.name] == []
