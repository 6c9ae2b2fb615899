"""memagent.outputs: a named output path is written whole or not at all, and nothing else is touched."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from memagent.errors import OutputError
from memagent.outputs import atomic_output, check_output, write_text


def _no_parts(directory: Path) -> None:
    assert [p.name for p in directory.iterdir() if p.name.endswith(".part")] == []


def test_a_regular_file_is_replaced_whole_and_keeps_its_mode(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    out.chmod(0o640)
    write_text(out, "new\n")
    assert out.read_text() == "new\n" and stat.S_IMODE(out.stat().st_mode) == 0o640
    _no_parts(tmp_path)


def test_a_new_file_gets_open_s_mode_not_mkstemp_s(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "sub" / "new.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "sub" / "new.txt").stat().st_mode) == 0o644


def test_a_failure_in_the_block_leaves_the_old_file_and_no_part(tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("old")
    with pytest.raises(KeyError), atomic_output(out) as f:
        f.write("half")
        raise KeyError("boom")
    assert out.read_text() == "old"
    _no_parts(tmp_path)


def test_a_symlink_is_written_through(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    _no_parts(tmp_path)


@pytest.mark.parametrize(("name", "fragment"), [
    ("/dev/full", "is a device"), ("/dev/null", "is a device"), ("/proc/version", "under /proc"),
    ("/sys/kernel/x", "under /sys"), ("", "is empty"),
])
def test_special_paths_are_refused_with_one_line(name, fragment):
    with pytest.raises(OutputError, match=fragment) as info:
        write_text(name, "x")
    assert "\n" not in str(info.value)


def test_a_directory_a_fifo_and_a_loop_are_refused_untouched(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(loop)
    for path, fragment in [(tmp_path, "is a directory"), (fifo, "is a FIFO"),
                           (loop, "symlink loop")]:
        with pytest.raises(OutputError, match=fragment):
            write_text(path, "x")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    _no_parts(tmp_path)


def test_a_file_as_directory_and_an_unwritable_directory(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="is not a directory"):
        check_output(tmp_path / "f" / "out.txt")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: every directory is writable")
        with pytest.raises(OutputError, match="not writable"):
            check_output(ro / "out.txt")
    finally:
        ro.chmod(0o700)


def test_streams_are_written_directly(capsys):
    for name in ("-", "/dev/stdout"):
        write_text(name, f"to {name}\n")
    assert capsys.readouterr().out == "to -\nto /dev/stdout\n"
    assert check_output("/dev/stderr").stream == "stderr"


def test_an_error_of_the_block_itself_passes_through_a_write_error_does_not(tmp_path):
    """An input the block could not read is not reported as an output it could not write."""
    import errno

    out = tmp_path / "out.txt"
    with pytest.raises(PermissionError), atomic_output(out) as f:
        f.write("x")
        raise PermissionError(errno.EACCES, "Permission denied", "haystack.txt")
    with pytest.raises(OutputError, match=r"cannot write output .*: No space left on device"), \
            atomic_output(out) as f:
        raise OSError(errno.ENOSPC, "No space left on device")
    assert not out.exists()
    _no_parts(tmp_path)
