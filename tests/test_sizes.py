"""The house's size rule: no file in src/ over 400 lines, no function over 80 (decorators counted).

Run it as a script (`python tests/test_sizes.py [DIR]`) to list what is over, one line each.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_FILE = 400
MAX_FUNCTION = 80


def oversized(root: Path = SRC) -> list[str]:
    """'path: N lines' for each file over MAX_FILE, 'path:line name: N lines' for each function
    (or method, nested ones too) over MAX_FUNCTION."""
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        shown = path.relative_to(root.parent) if root.parent in path.parents else path
        lines = len(text.splitlines())
        if lines > MAX_FILE:
            found.append(f"{shown}: {lines} lines (file)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = (node.end_lineno or node.lineno) - start + 1
                if length > MAX_FUNCTION:
                    found.append(f"{shown}:{node.lineno} {node.name}: {length} lines (function)")
    return found


def test_no_file_over_400_lines_and_no_function_over_80() -> None:
    assert oversized() == []


def test_the_check_finds_a_long_function_and_a_long_file(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION))  # 80 body lines + the def
    (tmp_path / "long.py").write_text("@decorator\ndef f():\n" + body, encoding="utf-8")
    (tmp_path / "big.py").write_text("x = 1\n" * (MAX_FILE + 1), encoding="utf-8")
    (tmp_path / "fine.py").write_text("def g():\n" + body[: body.index("x79")], encoding="utf-8")
    found = oversized(tmp_path)
    assert len(found) == 2, found  # fine.py's 80-line function is within the rule
    assert found[0].endswith("big.py: 401 lines (file)")
    assert found[1].endswith("long.py:2 f: 82 lines (function)")


if __name__ == "__main__":
    print("\n".join(oversized(Path(sys.argv[1]) if len(sys.argv) > 1 else SRC)) or "none over")
