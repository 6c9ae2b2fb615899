"""Helpers of the data tests (tests/data/): the target length, options, running the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from memagent.cli import main
from memagent.data import GenOptions

TARGET = 3000


def opts_for(task: str, essay_dir: Path, sources: dict[str, str], **kw: object) -> GenOptions:
    """TARGET tokens of `task` over the test essays and the matching QA source."""
    source = sources["squad"] if task == "qa_1" else sources["hotpot"]
    return GenOptions(target=TARGET, haystack_dir=str(essay_dir), source=source, **kw)  # type: ignore[arg-type]


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`memagent ARGS`: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err
