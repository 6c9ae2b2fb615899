"""docs/architecture.md's module map is the tree: every module has its line and every line names a module."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "memagent"


def layout_map() -> set[str]:
    """Paths relative to src/memagent/ named in docs/architecture.md's module map, by indentation."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = text.split("## Module map", 1)[1].split("```", 2)[1]
    named: set[str] = set()
    folders: list[tuple[int, str]] = []  # (indent, folder) of the open folders
    for line in block.splitlines():
        m = re.match(r"^( +)(\S+\.py|\S+/)(?=\s|$)", line)
        if not m:
            continue
        indent, name = len(m.group(1)), m.group(2)
        folders = [(i, f) for i, f in folders if i < indent]
        path = "".join(f for _, f in folders) + name
        if name.endswith("/"):
            folders.append((indent, name))
        named.add(path)
    return named


def test_the_layout_map_lists_every_module_and_nothing_else() -> None:
    named = layout_map()
    modules = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    folders = {p.relative_to(PACKAGE).as_posix() + "/" for p in PACKAGE.rglob("*")
               if p.is_dir() and "__pycache__" not in p.parts}  # serve/static/ holds no module
    assert sorted(modules - named) == [], "modules missing from docs/architecture.md's module map"
    assert sorted(named - modules - folders) == [], "docs/architecture.md's module map names what is not there"


README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_commands() -> list[str]:
    """Every `memagent ...` command in README's bash blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                part = part.split("  #", 1)[0].strip()
                if part.startswith("memagent "):
                    commands.append(part)
    return commands


def test_readme_is_a_front_door_not_a_log():
    assert len(README.splitlines()) <= 150
    first = README.split("```bash\n", 2)
    assert first[1].split("```")[0].strip().endswith("--show-memory")  # command 1: install + ask
    assert first[2].split("```")[0].strip() == "python -m pytest -q"  # command 2: the tests


def test_every_readme_command_names_a_real_subcommand_and_real_options():
    """A renamed flag or command breaks README's promise: each one must parse as written."""
    import shlex

    import typer.main

    from memagent.cli import app

    group = typer.main.get_command(app)
    context = group.make_context("memagent", ["ask", "--help"], resilient_parsing=True)
    commands = readme_commands()
    assert len(commands) >= 5  # the check really reads README
    for line in commands:
        words = shlex.split(line)[1:]
        sub = group.get_command(context, words[0])  # type: ignore[attr-defined]
        assert sub is not None, f"README: no subcommand {words[0]!r} in {line!r}"
        known = {opt for p in sub.params for opt in (*p.opts, *p.secondary_opts)}
        flags = [w.split("=", 1)[0] for w in words[1:] if w.startswith("-") and w != "-"]
        unknown = [f for f in flags if f not in known]
        assert unknown == [], f"README: {line!r} uses unknown options {unknown}"


def test_every_relative_link_in_readme_exists():
    links = re.findall(r"\]\(([^)#\s]+)\)", README)
    assert links
    missing = [link for link in links if "://" not in link and not (ROOT / link).exists()]
    assert missing == []


def test_readme_python_example_compiles_and_names_the_real_api():
    """Its behaviour is pinned by tests/llm/test_setup.py (the library sends what the CLI sends);
    here: it is valid Python and every memagent name in README exists."""
    import importlib

    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(blocks) >= 2  # the library and the server's client
    for block in blocks:
        compile(block, "README.md", "exec")
    names = set(re.findall(r"\bmemagent\.([A-Za-z_][\w.]*)", README)) | {"MemAgent", "load_llm"}
    for dotted in sorted(names):
        obj: object = importlib.import_module("memagent")
        for part in dotted.split("."):
            if not hasattr(obj, part):
                obj = importlib.import_module(f"{obj.__name__}.{part}")  # type: ignore[attr-defined]
            else:
                obj = getattr(obj, part)
