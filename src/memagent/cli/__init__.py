"""`memagent` command line: ask, data, eval, report, train.

Exit codes (documented in README):
  0 answered / done   2 usage error (bad flags)   3 bad input or budgets   4 backend failed
  130 interrupted (the trace, if any, keeps every finished step; rerun with --resume)
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import typer

from memagent.errors import MemAgentError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Read documents of any length with a small-window LLM and an overwritten memory (MemAgent).",
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Keeps typer in multi-command mode even while only one subcommand is installed."""


# Subcommands live in their own modules; each exposes one typer-annotated function.
_COMMANDS = {
    "ask": ("memagent.cli.ask", "ask_command"),
    "data": ("memagent.cli.data", "data_command"),
    "eval": ("memagent.cli.eval", "eval_command"),
    "report": ("memagent.cli.eval", "report_command"),
    "train": ("memagent.cli.train", "train_command"),
}


def _guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Translate our errors to one line + exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            rc = func(*args, **kwargs)
        except MemAgentError as exc:
            fail(str(exc), exc.exit_code)
        except ValueError as exc:  # settings validated by dataclasses (temperature, top_p, ...)
            fail(str(exc), 3)
        except KeyboardInterrupt:
            fail("interrupted (finished steps are kept in the trace; rerun with --resume)", 130)
        if isinstance(rc, int) and rc:
            raise SystemExit(rc)
        return rc

    return wrapper


def _register() -> None:
    for name, (module, attr) in _COMMANDS.items():
        try:
            func: Callable[..., Any] = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        app.command(name)(_guarded(func))


_register()


def fail(message: str, code: int) -> None:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise SystemExit(code)


# The arguments of the running command, for records such as an eval's run.json.
invocation: list[str] = []


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    import sys

    invocation[:] = ["memagent", *(sys.argv[1:] if argv is None else argv)]
    app(args=argv)
