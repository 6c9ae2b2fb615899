"""Options shared by the commands that run the model are one definition: same flags, same help."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from memagent.eval.run_file import RUN_FILE, RunInfo

ASK_ONLY = {"paths", "question", "trace", "resume", "show_memory", "as_json"}
RENAMED = {"seed": "sampling_seed"}  # eval's --seed draws samples; the model's is --sampling-seed


def _params(name: str) -> dict[str, Any]:
    from memagent.cli import app

    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    return {p.name: p for p in command.params if p.name}


def test_eval_takes_every_model_backend_sampling_and_prompt_option_of_ask() -> None:
    ask, eval_ = _params("ask"), _params("eval")
    shared = set(ask) - ASK_ONLY
    assert {"prompts", "temperature", "top_p", "api_key", "backend", "tokenizer", "device",
            "max_wait", "seed"} <= shared
    for name in sorted(shared):
        mine = eval_.get(RENAMED.get(name, name))
        assert mine is not None, f"eval lacks ask's --{name.replace('_', '-')}"
        assert mine.param_type_name == ask[name].param_type_name == "option"
        assert mine.help == ask[name].help, name
        assert mine.default == ask[name].default, name
        if name not in RENAMED:
            assert mine.opts == ask[name].opts, name


def test_run_file_round_trips_and_keeps_what_it_does_not_know(tmp_path: Path) -> None:
    old = {"model": "m", "command": "memagent eval -n 2", "budgets": {"chunk": 5}, "seed": 0,
           "future_key": [1, 2]}  # an older writer: no history; a newer one: a key unknown here
    (tmp_path / RUN_FILE).write_text(json.dumps(old))
    run = RunInfo.read(tmp_path)
    assert run is not None and run.commands == ["memagent eval -n 2"]
    run.add_command("memagent eval -n 2")  # the same command again is not a new stage
    run.add_command("memagent eval -n 3")
    run.write(tmp_path)
    again = json.loads((tmp_path / RUN_FILE).read_text())
    assert again["future_key"] == [1, 2] and again["command"] == "memagent eval -n 3"
    assert again["commands"] == ["memagent eval -n 2", "memagent eval -n 3"]
    assert RunInfo.from_json(again).to_json() == again
    assert run.differs(RunInfo.from_json({**again, "seed": 1})) == "seed differs (1 vs 0)"
    (tmp_path / RUN_FILE).write_text('{"model": "m", "comm')  # a write killed half-way
    assert RunInfo.read(tmp_path) is None
