"""Ctrl-C while the `memagent` command is still starting: one line and exit 130, no traceback.

The command's imports take a few hundred milliseconds, before the CLI's own handling of Ctrl-C
exists. `memagent/__init__.py` imports this module first thing, which calls `guard()`; it acts
only when this process is the `memagent` command (the console script, or `python -m memagent.cli`),
never when memagent is imported as a library. The CLI calls `release()` once it can handle
KeyboardInterrupt itself.

SIGTERM and SIGHUP (a `kill`, a closed terminal) are handled as Ctrl-C is: while starting, one line
and exit 128 + the signal (143, 129); once released, they raise KeyboardInterrupt, so traces are
closed as after a Ctrl-C, and `signalled` tells the CLI which signal it was (its exit code).
"""

# Only modules built into the interpreter (or already loaded by site) before the guard is up,
# and no `from __future__`: importing `signal` runs its enum conversion, a millisecond in which a
# Ctrl-C still showed a traceback through this file (CI, 60 ms after start).
import _signal
import _thread
import os
import sys

MESSAGE = b"error: interrupted while starting; nothing was run\n"
EXIT_INTERRUPTED = 130
# signals ended like Ctrl-C (exit 128 + number), with the names messages use
TERMINATING = {getattr(_signal, name): name for name in ("SIGTERM", "SIGHUP") if hasattr(_signal, name)}
signalled = 0  # the TERMINATING signal that raised the last KeyboardInterrupt; 0 for Ctrl-C


def _is_cli() -> bool:
    if not sys.argv:
        return False
    if os.path.basename(sys.argv[0]) == "memagent":
        return True
    # `python -m memagent.cli`: argv[0] is "-m" while the module's packages are imported
    return sys.argv[0] == "-m" and "memagent.cli" in getattr(sys, "orig_argv", [])


def _interrupted(signum: int, frame: object) -> None:
    if signum in TERMINATING:
        os.write(2, b"error: %s while starting; nothing was run\n" % TERMINATING[signum].encode())
        os._exit(128 + signum)
    os.write(2, MESSAGE)
    os._exit(EXIT_INTERRUPTED)


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM/SIGHUP once the CLI runs: a KeyboardInterrupt, as Ctrl-C raises."""
    global signalled
    signalled = signum
    raise KeyboardInterrupt


IS_CLI = _is_cli()  # this process is the `memagent` command (argv[0] changes later under -m)


def guard() -> None:
    """While the command starts, Ctrl-C prints one line and exits 130 (SIGTERM 143, SIGHUP 129)."""
    if not IS_CLI:
        return  # a library import
    try:
        # a signal already handled or ignored by someone else (SIG_IGN in a background job) stays
        if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
            _signal.signal(_signal.SIGINT, _interrupted)
        for signum in TERMINATING:
            if _signal.getsignal(signum) == _signal.SIG_DFL:
                _signal.signal(signum, _interrupted)
    except ValueError:  # not the main thread
        pass


guard()  # as early as this module allows; the rest below is only needed later


def _fill_closed_descriptors() -> frozenset[int]:
    """stdout/stderr the shell closed (`>&-`, `2>&-`): /dev/null takes the descriptor, so that no
    file the command opens later (a trace, an output) gets it and receives its messages or
    answers. Returns the descriptors that were closed (the CLI refuses `ask` with no stdout)."""
    if not IS_CLI or os.name != "posix":
        return frozenset()
    import fcntl  # after the guard: the import cost no longer matters

    closed = set()
    for fd in (1, 2):
        try:  # read-only: a launcher's script left there (a pyenv shim) once the shell closed it
            writable = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY
        except OSError:
            writable = False
        if not writable:
            closed.add(fd)
            null = os.open(os.devnull, os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if 1 in closed:
        sys.stdout = None  # as Python has it for a closed stdout
    return frozenset(closed)


CLOSED_AT_START = _fill_closed_descriptors()


def exit_now(code: int) -> None:
    """End the `memagent` command at once, flushing its output first: used after Ctrl-C, when
    every trace is already closed and nothing else may write, so threads still waiting on a server
    are not waited for. Does nothing when memagent is not the running command (a test's main())."""
    if not IS_CLI:
        return
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 (as in guard)
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def redeliver_swallowed_ctrl_c(unraisable: "sys.UnraisableHookArgs") -> None:  # a typeshed name
    """`sys.unraisablehook` of the command: a KeyboardInterrupt that Python could not raise (Ctrl-C
    landing in a weakref callback, e.g. inside an import's module lock) is delivered to the main
    thread again instead of being printed as "Exception ignored" and lost, which left the command
    running (retrying a dead server) after the user's Ctrl-C."""
    if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
        # From another thread: raised here, it would be swallowed again. Should it land in another
        # callback, this hook runs again and resends it.
        _thread.start_new_thread(_resend_ctrl_c, ())
        return
    sys.__unraisablehook__(unraisable)


def _resend_ctrl_c() -> None:
    """A real SIGINT, as the user's was: unlike `_thread.interrupt_main`, which only sets Python's
    flag, it also wakes a main thread blocked in a lock or a sleep (waiting on a worker that
    retries a dead server, where a resent Ctrl-C was seen to wait out every retry)."""
    if os.name == "posix":
        os.kill(os.getpid(), signalled or _signal.SIGINT)
    else:  # no process-directed SIGINT on Windows
        _thread.interrupt_main()


def release() -> None:
    """From here on Ctrl-C raises KeyboardInterrupt again, which the CLI turns into exit 130."""
    if _signal.getsignal(_signal.SIGINT) is _interrupted:
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)
        sys.unraisablehook = redeliver_swallowed_ctrl_c
    for signum in TERMINATING:
        if _signal.getsignal(signum) is _interrupted:
            _signal.signal(signum, _terminated)
