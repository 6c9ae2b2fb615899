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
    folders = {p.relative_to(PACKAGE).as_posix() + "/" for p in PACKAGE.iterdir()
               if p.is_dir() and p.name != "__pycache__"}
    folders |= {f"{p.parent.relative_to(PACKAGE).as_posix()}/" for p in PACKAGE.rglob("*/*.py")}
    assert sorted(modules - named) == [], "modules missing from docs/architecture.md's module map"
    assert sorted(named - modules - folders) == [], "docs/architecture.md's module map names what is not there"
