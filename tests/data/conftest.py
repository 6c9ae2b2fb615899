"""Source files the data tests generate from: small essays and QA files, so no test needs a
system package or a download."""

from __future__ import annotations

from pathlib import Path

import pytest

from memagent.data.fixtures import write_hotpotqa_fixture, write_squad_fixture


@pytest.fixture(scope="module")
def essay_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small essay source, so tests do not depend on the dict-devil package."""
    folder = tmp_path_factory.mktemp("essays")
    sentences = [
        f"Essay sentence {i} talks about {w} and why it matters to careful readers."
        for i, w in enumerate(["gardens", "rivers", "cities", "music", "ships"] * 30)
    ]
    (folder / "a.txt").write_text(" ".join(sentences), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("qa")
    return {
        "hotpot": str(write_hotpotqa_fixture(folder / "hotpot.json", n_questions=60)),
        "squad": str(write_squad_fixture(folder / "squad.json", n_articles=40)),
    }


@pytest.fixture(scope="module")
def hotpot(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_hotpotqa_fixture(tmp_path_factory.mktemp("qa") / "hotpot.json", 60))
