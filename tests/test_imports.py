"""The package's import graph: every module imports, and no two modules import each other, even
through a chain and even from inside a function (a function-level import only hides a loop)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "memagent"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path) -> set[str]:
    """The package modules `name` imports anywhere in its file (top level, functions, TYPE_CHECKING
    blocks excepted: those never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # `import a.b.c` names a.b.c's module
                target = target.rpartition(".")[0]
            if target.startswith("memagent") and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    graph = {name: imported(name, path) for name, path in MODULES.items()}
    # A package's __init__ runs before any of its modules, and a module's parents' __init__ too;
    # those edges are not loops the code wrote, so only module-to-module imports count, plus
    # an __init__ importing its own modules.
    for name, targets in graph.items():
        targets -= {t for t in targets if name.startswith(t + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_import_graph_has_no_cycle():
    graph = import_graph()
    assert graph["memagent.loop.scheduler"] >= {"memagent.loop.job"}  # the graph is really read
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_a_function_level_loop(tmp_path):
    """The check can fail: a loop hidden in a function is an edge like any other."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    source = "def f():\n    from memagent.loop.agent import MemAgent\n"
    fake = tmp_path / "memagent" / "scheduler.py"
    fake.parent.mkdir()
    fake.write_text(source)
    assert "memagent.loop.agent" in imported("memagent.loop.scheduler", fake)


def test_core_does_not_import_its_drivers():
    """The job knows nothing of who drives it; the scheduler knows jobs, not the agent."""
    graph = import_graph()
    assert "memagent.loop.agent" not in graph["memagent.loop.job"]
    assert "memagent.loop.scheduler" not in graph["memagent.loop.job"]
    assert "memagent.loop.agent" not in graph["memagent.loop.scheduler"]
    assert graph["memagent.loop.scheduler"] <= {"memagent.errors", "memagent.inflight",
                                                "memagent.loop.job", "memagent.types"}


def test_imports_go_one_way():
    """The core (top-level modules) imports no subpackage; llm/, data/ never import eval/, rl/
    or cli/ (nor data/ the profiles); eval/ and rl/ never import cli/ or each other; nothing
    but cli/ imports cli/; and every driver of jobs goes through MemAgent.run, not the scheduler."""
    graph = import_graph()
    subpackages = ("memagent.llm", "memagent.data", "memagent.eval", "memagent.rl", "memagent.sft",
                   "memagent.cli", "memagent.serve")
    for name, targets in graph.items():
        # the core: a top-level module (or memagent/__init__) or the loop/ package
        top = MODULES[name].parent == PACKAGE or name.startswith("memagent.loop")
        for target in targets:
            where = f"{name} imports {target}"
            if top and name != "memagent":
                assert not target.startswith(subpackages), where
            if name.startswith(("memagent.llm", "memagent.data")):
                assert not target.startswith(("memagent.eval", "memagent.rl", "memagent.sft",
                                              "memagent.cli")), where
            if name.startswith("memagent.data"):  # the policy's words come in from the caller
                assert target != "memagent.profile", where
            if name.startswith("memagent.eval"):
                assert not target.startswith(("memagent.rl", "memagent.cli")), where
            if name.startswith("memagent.rl"):
                assert not target.startswith(("memagent.eval", "memagent.cli", "memagent.sft")), where
            if name.startswith("memagent.sft"):  # SFT sits on rl/'s config and checkpoints
                assert not target.startswith(("memagent.eval", "memagent.cli")), where
            if not name.startswith("memagent.cli"):
                assert not target.startswith("memagent.cli"), where
            if not name.startswith(("memagent.cli", "memagent.serve")):
                assert not target.startswith("memagent.serve"), where
            if target == "memagent.loop.scheduler":
                assert name == "memagent.loop.agent", f"{where}: drive jobs with MemAgent.run"


OPTIONAL = ("torch", "transformers", "vllm", "peft", "trl", "accelerate", "deepspeed", "matplotlib",
            "rank_bm25", "openai", "httpx")


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.endswith(".__main__")))
def test_every_module_imports(name):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:  # an optional backend's package not installed here
        if (exc.name or "").split(".")[0] in OPTIONAL:
            pytest.skip(f"{name} needs {exc.name}")
        raise
