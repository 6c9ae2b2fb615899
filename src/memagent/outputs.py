"""Writing an output file without clobbering anything the user did not name.

Every command that writes a file the user named (`data -o`, `data filter -o/--report`, eval's
and train's files, traces' companions) goes through `atomic_output` (or `write_text`):

- a regular file (new or existing) is written to a temporary file in the same directory, fsynced
  and renamed over the name, so a reader never sees half a file and a failure leaves the old one;
  the temporary file is removed on any failure (no stray `.part`);
- a symbolic link is written through: its target is replaced as above, the link stays;
- `-`, `/dev/stdout` and `/dev/stderr` are written directly (that is what the user meant);
- a directory, a device (`/dev/full`, `/dev/null`), a FIFO, a socket, anything under `/proc` or
  `/sys`, a symlink loop or a path whose directory is missing or not writable are refused with one
  line (`OutputError`, exit code 3), before any work when `check_output` is called up front.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from memagent.errors import OutputError

STREAMS = {"-": "stdout", "/dev/stdout": "stdout", "/dev/fd/1": "stdout",
           "/dev/stderr": "stderr", "/dev/fd/2": "stderr"}
_VIRTUAL = ("/proc", "/sys")
# An OSError raised inside the caller's block is a failed write to the output only with these;
# any other (a PermissionError reading an input, say) is the block's own and passes through.
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS)


@dataclass(frozen=True)
class Output:
    """Where an output goes: a standard stream (`stream`), or the regular file `path` (a
    symlink's target when the user named a link)."""

    shown: str  # the name as the user gave it, for messages
    path: Path | None = None
    stream: str | None = None


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_output(path: str | Path, what: str = "output") -> Output:
    """Where `path` can be written, or OutputError saying why it cannot (nothing is touched)."""
    shown = str(path)
    if shown in STREAMS:
        return Output(shown, stream=STREAMS[shown])
    if not shown.strip():
        raise OutputError(f"the {what} path is empty: give a file path (or - for stdout)")
    target = check_not_special(path, what)
    _check_directory(target.parent, shown, what)
    return Output(shown, path=target)


def check_not_special(path: str | Path, what: str) -> Path:
    """The regular file (or new name) `path` leads to, or OutputError when it is a directory, a
    device, a FIFO, a socket, under /proc or /sys, or a symlink loop. (Files written in place,
    such as traces, check this much; `check_output` also checks the directory.)"""
    shown = str(path)
    link = Path(shown).expanduser()
    try:
        target = link.resolve(strict=False)
    except RuntimeError as exc:  # Python < 3.13 raises this for a loop
        raise OutputError(f"{what} {shown} is a symlink loop: point it at a file") from exc
    except OSError as exc:
        raise OutputError(f"cannot use {what} {shown}: {exc.strerror or exc}") from exc
    if link.is_symlink() and _loops(link):
        raise OutputError(f"{what} {shown} is a symlink loop: point it at a file")
    if any(target.is_relative_to(v) for v in _VIRTUAL):
        raise OutputError(
            f"{what} {shown} is under {'/' + target.parts[1]}, a kernel file system: give a "
            "regular file path"
        )
    try:
        mode = target.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # a new file; its directory is checked below
    except OSError as exc:
        raise OutputError(f"cannot use {what} {shown}: {exc.strerror or exc}") from exc
    if mode is not None and not stat.S_ISREG(mode):
        kind = _kind(mode)
        fix = "give a file path" if kind == "a directory" else "give a regular file path"
        raise OutputError(f"{what} {shown} is {kind}, which memagent does not overwrite: {fix}")
    return target


def _loops(link: Path) -> bool:
    """Whether following `link` never reaches a file or a missing name (a cycle of links)."""
    try:
        os.stat(link)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _check_directory(directory: Path, shown: str, what: str) -> None:
    if not directory.exists():
        return  # created on write (mkdir -p), as the commands always did
    if not directory.is_dir():
        raise OutputError(f"cannot write {what} {shown}: {directory} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {what} {shown}: directory {directory} is not writable")


def _mode_for(path: Path) -> int:
    """The new file's permissions: the replaced file's, else what open() would give (0666 &
    ~umask), not mkstemp's 0600."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_output(
    path: str | Path, what: str = "output", binary: bool = False
) -> Iterator[IO[Any]]:
    """A file object to write `path` through (see the module docstring); the name gets the
    whole content when the block ends without an exception, and nothing changes otherwise."""
    out = check_output(path, what)
    if out.stream is not None:
        stream = getattr(sys, out.stream)
        if stream is None:
            raise OutputError(f"cannot write {what} to {out.shown}: it is closed")
        block_error: OSError | None = None
        try:
            try:
                yield stream.buffer if binary else stream
            except OSError as exc:
                block_error = None if exc.errno in _WRITE_ERRNOS else exc
                raise
            stream.flush()
        except BrokenPipeError:
            raise  # the reader left: the command's exit code 141
        except OSError as exc:
            if exc is block_error:
                raise  # the block's own (reading an input, say), not a write to the output
            raise OutputError(f"cannot write {what} to {out.shown}: {exc.strerror or exc}") from exc
        return
    assert out.path is not None
    target = out.path
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                        dir=target.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {what} {out.shown}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    block_error = None
    try:
        os.fchmod(fd, _mode_for(target))
        with open(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            try:
                yield f
            except OSError as exc:
                block_error = None if exc.errno in _WRITE_ERRNOS else exc
                raise
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _sync_directory(target.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc is block_error:
            raise  # the block's own (reading an input, say), not a write to the output
        raise OutputError(f"cannot write {what} {out.shown}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _sync_directory(directory: Path) -> None:
    """Make the rename durable (best effort: some file systems cannot fsync a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path: str | Path, text: str, what: str = "output") -> None:
    """`text` as the whole content of `path`, atomically (see `atomic_output`)."""
    with atomic_output(path, what) as f:
        f.write(text)


def write_bytes(path: str | Path, data: bytes, what: str = "output") -> None:
    with atomic_output(path, what, binary=True) as f:
        f.write(data)


__all__ = ["STREAMS", "Output", "atomic_output", "check_not_special", "check_output", "write_bytes",
           "write_text"]
