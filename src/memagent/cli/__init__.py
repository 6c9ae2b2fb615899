"""`memagent` command line: ask, data, eval, report, train.

Exit codes (documented in docs/ask.md):
  0 answered / done   2 usage error (bad flags)   3 bad input or budgets   4 backend failed
  5 partial: several questions, some answered (printed) and some failed (named on stderr)
  130 interrupted (the trace, if any, keeps every finished step; rerun with --resume)
  129 / 143 ended by SIGHUP / SIGTERM, handled as an interrupt (one line; the trace resumes)
  141 stdout closed before the answers were written (a pipe such as `| head`), nothing printed

Every error is one line on stderr, `error: ...`; warnings are one line too, `warning: ...`. Both
pass through `memagent.urls.redact` first: no key, password or credential-named URL parameter
(from --api-key, --base-url or their environment variables) is ever shown.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import typer

from memagent import _startup
from memagent.errors import MemAgentError

EXIT_USAGE = 2
EXIT_PARTIAL = 5
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left
EXIT_HANGUP = 129  # 128 + SIGHUP
EXIT_TERMINATED = 143  # 128 + SIGTERM

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
    "data-filter": ("memagent.cli.data", "filter_command"),  # also `memagent data filter`
    "eval": ("memagent.cli.eval", "eval_command"),
    "report": ("memagent.cli.eval", "report_command"),
    "serve": ("memagent.cli.serve", "serve_command"),
    "train": ("memagent.cli.train", "train_command"),
}


# What an interrupted command keeps, for its one line (Ctrl-C, SIGTERM, SIGHUP).
_KEPT = {
    "ask_command": "a --trace keeps every finished step: rerun with --resume",
    "eval_command": "samples.jsonl keeps every finished batch: rerun the same command to go on",
    "train_command": "rerun the same command to resume from the newest checkpoint",
    "data_command": "an output file is written whole or not at all: rerun the command",
    "filter_command": "an output file is written whole or not at all: rerun the command",
}


def _guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Translate our errors to one line + exit code, never a traceback."""
    kept = _KEPT.get(func.__name__)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            rc = func(*args, **kwargs)
        except MemAgentError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            interrupted(f"interrupted ({kept})" if kept else "interrupted")
        except BrokenPipeError:  # stdout's reader left (typer would make this exit 1)
            stdout_closed()
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


def fail(message: str, code: int) -> None:
    """Print `error: message` as one line on stderr and exit with `code`."""
    print_line("error", message)
    raise SystemExit(code)


def interrupted(message: str = "interrupted") -> None:
    """Ctrl-C: one line, exit 130; SIGTERM / SIGHUP the same, exit 143 / 129, the message naming
    the signal. The command's process ends at once (its traces are closed by now), without
    waiting for request threads; inside another program, a SystemExit as usual."""
    code = EXIT_INTERRUPTED
    if _startup.signalled:
        name = _startup.TERMINATING.get(_startup.signalled, "a signal")
        message = message.replace("interrupted", f"ended by {name}", 1)
        code = 128 + _startup.signalled
    print_line("error", message)
    _startup.exit_now(code)
    raise SystemExit(code)


def stdout_closed() -> None:
    """stdout's reader left early (`| head -1`): stop quietly with 141, as a shell reports a
    writer ended by SIGPIPE (commands call this where they write answers)."""
    silence_stdout()
    raise SystemExit(EXIT_BROKEN_PIPE)


def silence_stdout() -> None:
    """Point stdout at /dev/null once nothing more can reach it (its reader left, its disk is
    full), so that Python's final flush does not fail again with "Exception ignored"."""
    import contextlib
    import os
    import sys

    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def print_line(label: str, message: str) -> None:
    """`label: message` on stderr as a single line (markup in the message is shown as is), with
    every secret redacted (`memagent.urls.redact`)."""
    from rich.console import Console
    from rich.markup import escape

    from memagent.urls import redact

    colour = "bold red" if label == "error" else "yellow"
    Console(stderr=True, soft_wrap=True).print(
        f"[{colour}]{label}:[/] {escape(one_line(redact(message)))}", highlight=False
    )


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Warnings as `warning: message`, one line, without the source file and line."""
    print_line("warning", str(message))


def _log_handler() -> Any:
    """memagent's own log warnings (e.g. a server without token usage) as one line each."""
    import logging

    from memagent.urls import redact

    class Redacting(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return one_line(redact(super().format(record)))

    handler = logging.StreamHandler()
    handler.setFormatter(Redacting("warning: %(message)s"))
    handler.setLevel(logging.WARNING)
    return handler


_SECRET_FLAGS = {"--api-key": "key", "--server-key": "key", "--base-url": "url"}
_SECRET_VARS = {"MEMAGENT_API_KEY": "key", "OPENAI_API_KEY": "key", "MEMAGENT_SERVER_KEY": "key",
                "MEMAGENT_BASE_URL": "url", "OPENAI_BASE_URL": "url"}


def _register_secrets(argv: list[str]) -> None:
    """The keys and URLs the command was given (flags and their environment variables), so every
    message can hide them (`memagent.urls.redact`), even one printed before a backend exists."""
    import os

    from memagent.urls import add_secret, url_secrets

    given: list[tuple[str, str | None]] = [(k, os.environ.get(v)) for v, k in _SECRET_VARS.items()]
    for i, arg in enumerate(argv):
        flag, eq, value = arg.partition("=")
        if flag in _SECRET_FLAGS:
            given.append((_SECRET_FLAGS[flag], value if eq else "".join(argv[i + 1 : i + 2])))
    for kind, secret in given:
        if secret:
            url_secrets(secret) if kind == "url" else add_secret(secret)


def _closed_streams(argv: list[str]) -> None:
    """A stream the shell closed (`2>&-`, `>&-`): `_startup` gave its descriptor to /dev/null, so
    a closed stderr only loses the messages (it made every run exit 1) and the exit code still
    tells. `ask` with a closed stdout would read the whole document for answers nobody can
    receive: it stops now with 141 (`data -o -` says so itself)."""
    import os
    import sys

    if sys.stderr is None or 2 in _startup.CLOSED_AT_START:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (for the process)
    if sys.stdout is None and argv[:1] == ["ask"] and not {"--help", "-h"} & set(argv):
        print_line("error", "stdout is closed: the answers would have nowhere to go")
        raise SystemExit(EXIT_BROKEN_PIPE)


# The arguments of the running command, for records such as an eval's run.json.
invocation: list[str] = []


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the command and exits with its code (see the module docstring)."""
    import logging
    import sys
    import warnings

    try:  # typer >= 0.2x vendors click as typer._click; older typer uses click itself
        from typer._click import exceptions as click
    except ImportError:
        from click import exceptions as click  # type: ignore[no-redef]

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["data", "filter"]:  # a subcommand of `data`, whose first argument is a task
        argv[:2] = ["data-filter"]
    invocation[:] = ["memagent", *argv]
    _register_secrets(argv)
    _closed_streams(argv)
    logger = logging.getLogger("memagent")
    handler = _log_handler()
    logger.addHandler(handler)
    shown = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        _run(argv, click)
    finally:  # main() may run inside another program (the tests): leave it as it was
        warnings.showwarning = shown
        logger.removeHandler(handler)


def _run(argv: list[str] | None, click: Any) -> None:
    try:
        _startup.release()  # from here on Ctrl-C is a KeyboardInterrupt, handled below or in _guarded
        rc = app(args=argv, prog_name="memagent", standalone_mode=False)
    except click.NoArgsIsHelpError as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "memagent"
        fail(f"{exc.format_message()} (see '{command} --help')", EXIT_USAGE)
    except click.ClickException as exc:
        fail(exc.format_message(), exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        interrupted()
    except BrokenPipeError:
        stdout_closed()
    if rc == EXIT_INTERRUPTED:  # Ctrl-C while click parsed the arguments (typer's Exit(130))
        interrupted()
    raise SystemExit(rc if isinstance(rc, int) else 0)


_register()  # last: the command modules import fail/print_line and the exit codes from here
