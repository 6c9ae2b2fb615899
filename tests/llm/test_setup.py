"""`resolve_setup`: the library runs the embedded model under its trained profile exactly as the CLI
does. The backend is the scripted one standing in for the weights (loaded by the real `load_llm`,
with the real embedded tokenizer): what is compared is every ChatRequest that reaches it."""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

import memagent
from memagent import BackendOptions, MemAgent, ProfileWarning, load_llm, resolve_setup
from memagent.cli import main
from memagent.llm.registry import embedded_adapter_dir
from memagent.llm.setup import backend_dtype, model_profile, pick_dtype
from memagent.profile import DEFAULT, EMBEDDED, PAPER
from scripted import ScriptedLLM

shipped = pytest.mark.skipif(embedded_adapter_dir() is None, reason="this build ships no adapter")


def _doc(path: Path) -> Path:
    lines = [f"Line {i} of the filler text, about nothing in particular, number {i * 7}."
             for i in range(150)]
    lines.insert(60, "The special magic number for key-60 is 1066660.")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch, tokenizer: Any) -> list[tuple[ScriptedLLM, str | None]]:
    """Every TransformersLLM.load the real load_llm makes: a fresh scripted backend each, kept with
    the dtype it was asked to load in."""
    from memagent.llm.transformers_backend import TransformersLLM

    made: list[tuple[ScriptedLLM, str | None]] = []

    def load(path: Any, device: Any = None, dtype: str | None = None, **_: Any) -> ScriptedLLM:
        made.append((ScriptedLLM(tokenizer, name="embedded"), dtype))
        return made[-1][0]

    monkeypatch.setattr(TransformersLLM, "load", classmethod(lambda cls, *a, **k: load(*a, **k)))
    return made


def _wire(llm: ScriptedLLM) -> str:
    return json.dumps([asdict(r) for r in llm.requests], ensure_ascii=False, sort_keys=True)


@shipped
@pytest.mark.parametrize("flags", [
    {},
    {"chunk": 128, "memory": 96, "seed": 7, "temperature": 0.5},
])
def test_the_library_and_the_cli_send_byte_identical_requests(tmp_path, capsys, loads, flags):
    doc = _doc(tmp_path / "doc.txt")
    question = "What is the special magic number for key-60?"
    argv = ["ask", str(doc), "-q", question]
    for k, v in flags.items():
        argv += [f"--{k}", str(v)]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0, capsys.readouterr().err
    assert capsys.readouterr().out == "1066660\n"
    text = doc.read_text(encoding="utf-8")
    result = memagent.ask(text, question, **flags)
    assert result.answer == "1066660"
    (cli, cli_dtype), (library, library_dtype) = loads
    assert len(cli.requests) == len(library.requests) >= 4  # several chunks and the answer
    assert _wire(library) == _wire(cli)
    assert library_dtype == cli_dtype == pick_dtype(None, EMBEDDED)
    # ... under the trained profile: its memory prompt, memory budget and window
    first = cli.requests[0]
    assert first.messages[-1]["content"].startswith(EMBEDDED.templates.memory_update[:40])
    assert first.max_tokens == flags.get("memory", EMBEDDED.memory)
    if not flags:  # MemAgent(load_llm()) with no config at all: the same requests again
        bare = MemAgent(load_llm()).ask(text, question)
        assert bare.answer == "1066660"
        assert _wire(loads[2][0]) == _wire(cli) and loads[2][1] == cli_dtype


@shipped
def test_an_explicit_profile_wins_with_a_warning_naming_both(tmp_path, capsys, loads):
    doc = _doc(tmp_path / "doc.txt")
    with pytest.raises(SystemExit) as info:
        main(["ask", str(doc), "-q", "What is the special magic number for key-60?",
              "--profile", "default"])
    err = capsys.readouterr().err
    assert info.value.code == 0, err
    warning = next(line for line in err.splitlines() if line.startswith("warning:"))
    assert "smollm2-memagent" in warning and "profile default" in warning
    assert "profile default: window 9216, query 1024, chunk 5000" in err
    assert loads[0][0].requests[0].messages[-1]["content"] != EMBEDDED.templates.memory_update
    with pytest.warns(ProfileWarning, match="smollm2-memagent.*paper|paper.*smollm2-memagent"):
        setup = resolve_setup(profile="paper")
    assert setup.profile is PAPER and setup.budgets == PAPER.budgets()


def test_the_model_decides_the_profile_and_its_dtype():
    embedded = "smollm2-memagent" if embedded_adapter_dir() is not None else None
    assert model_profile(BackendOptions()) == embedded
    assert model_profile(BackendOptions(base=True)) == embedded  # compared under the same prompts
    assert model_profile(BackendOptions(model="/some/model")) is None
    assert model_profile(BackendOptions(base_url="http://127.0.0.1:9/v1")) is None
    assert model_profile(BackendOptions(adapter="/my/adapter")) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto and a matching explicit profile: no warning
        assert resolve_setup(BackendOptions(model="/m")).profile is DEFAULT
        assert resolve_setup(BackendOptions(model="/m"), "paper").profile is PAPER
        assert resolve_setup(BackendOptions(model="/m"), "default").backend.dtype is None
    with pytest.warns(ProfileWarning, match="model /m was not trained for profile smollm2-memagent"):
        setup = resolve_setup(BackendOptions(model="/m"), "smollm2-memagent", chunk=256)
    assert setup.profile is EMBEDDED and setup.budgets.chunk == 256
    # dtype: "auto" (the default) is the profile's where native; None is the backend's; else itself
    assert backend_dtype(BackendOptions(model="/m")) is None
    assert backend_dtype(BackendOptions(dtype=None)) is None
    assert backend_dtype(BackendOptions(dtype="float32")) == "float32"
    if embedded:
        assert backend_dtype(BackendOptions()) == pick_dtype(None, EMBEDDED)
    with pytest.raises(memagent.InputError, match="unknown profile 'fast'"):
        resolve_setup(profile="fast")


def test_the_python_api_page_runs(loads, monkeypatch, capsys):
    """docs/library.md's examples, on the scripted backend in place of the weights."""
    import re

    root = Path(__file__).resolve().parents[2]
    page = (root / "docs" / "library.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert len(blocks) == 3
    monkeypatch.chdir(root)
    scope: dict[str, Any] = {}
    exec(blocks[0] + blocks[1], scope)  # memagent.ask, then MemAgent(load_llm()).ask_many
    assert scope["result"].question == scope["q"] and len(scope["results"]) == 2
    *resolve, last = blocks[2].strip().splitlines()
    assert last.startswith("agent = setup.agent()")  # would load path/to/model
    exec("\n".join(resolve), scope)
    assert capsys.readouterr().out.splitlines()[-1].startswith(
        "profile paper: window 9216, query 1024, chunk 4096, memory 1024")
    assert len(loads) == 2 and all(dtype == pick_dtype(None, EMBEDDED) for _, dtype in loads)
