"""One writer per trace: an OS lock on the trace file, held while a run reads and writes it.

`TraceLock.acquire(path)` opens the trace (creating it, empty, when it is new: an empty trace is a
trace still to be written) and takes `flock(LOCK_EX | LOCK_NB)` on it. A second run on the same
trace (`--resume` twice at once, or a fresh run while one is going) gets one line naming the
trace and the process holding it (its pid, read from /proc/locks where the kernel lists it) instead
of writing every step a second time. The kernel drops the lock when its process ends, however it
ends (`kill -9` included), so the lock of a dead process never blocks a resume, and nothing is left
beside the trace: no companion file, no pid file to clean up.
"""

from __future__ import annotations

import errno
import fcntl
import os
import warnings
from pathlib import Path

from memagent.errors import InputError
from memagent.outputs import check_not_special

_UNSUPPORTED = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


class TraceLock:
    """An exclusive lock on one trace file; `close()` releases it (the process's end does too)."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path) -> TraceLock:
        """The lock on `path`, or InputError naming the process that holds it. A path that is
        not a regular file (a device, a FIFO, /proc ...) is refused first, untouched."""
        if path.is_dir():
            raise InputError(f"trace path {path} is a directory: give a file path for --trace")
        if path.exists() or path.is_symlink():
            check_not_special(path, "trace")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = _open(path)
        except IsADirectoryError as exc:
            raise InputError(f"trace path {path} is a directory: give a file path for --trace") from exc
        except OSError as exc:
            raise InputError(f"cannot use trace {path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in _UNSUPPORTED:  # a file system without flock: run, unprotected
                warnings.warn(
                    f"trace {path} cannot be locked here ({exc.strerror}): do not run two "
                    "memagent commands on it at once", UserWarning, stacklevel=3,
                )
                return cls(path, fd)
            holder = _holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise InputError(f"cannot lock trace {path}: {exc.strerror or exc}") from exc
            who = f"process {holder}" if holder is not None else "another process"
            raise InputError(
                f"trace {path} is in use by {who} (another memagent run writing it): wait for it "
                "to end, or use a new --trace path"
            ) from exc
        return cls(path, fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def __enter__(self) -> TraceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: Path) -> int:
    """The trace open for locking: read-write (created when new), or read-only for an existing
    trace this user may only read (a finished one still gives its answer; an unfinished one is
    then refused by its writer, naming the cause)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS) or not path.exists():
            raise
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def _holder(fd: int) -> int | None:
    """The pid holding a flock on the file open as `fd`, from /proc/locks (Linux); None when the
    kernel does not say (another OS, another pid namespace)."""
    inode = os.fstat(fd).st_ino
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 12345 00:2f:1234567 0 EOF" ("->" marks a waiter)
        parts = line.split()
        if len(parts) < 6 or "->" in parts or parts[1] != "FLOCK":
            continue
        device_inode = parts[5].rsplit(":", 1)
        if len(device_inode) == 2 and device_inode[1] == str(inode) and parts[4].isdigit():
            return int(parts[4])
    return None


__all__ = ["TraceLock"]
