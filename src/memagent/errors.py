"""memagent's exception tree. Low-level errors are translated to these at the boundary.

Only these map to exit codes (`memagent.cli`); any other exception, a ValueError included, is a
bug and surfaces as one.

MemAgentError
├── InputError      bad document, question, prompt file, config or setting (exit code 3)
├── BudgetError     budgets that cannot fit the window, a question over its budget (exit code 3)
├── OutputError     an output path memagent must not or cannot write: a directory, device, FIFO,
│                   /proc, a symlink loop, a full disk (exit code 3)
└── BackendError    the model backend failed (exit code 4)
    ├── BackendUnreachable   server down, connection refused, timed out after retries
    └── ModelNotFound        wrong model name or path
"""

from __future__ import annotations


class MemAgentError(Exception):
    """Base of every error memagent raises on purpose."""

    exit_code = 1


class InputError(MemAgentError, ValueError):
    exit_code = 3


class BudgetError(InputError):
    exit_code = 3


class OutputError(InputError):
    exit_code = 3


class BackendError(MemAgentError, RuntimeError):
    exit_code = 4


class BackendUnreachable(BackendError):
    pass


class ModelNotFound(BackendError):
    pass
