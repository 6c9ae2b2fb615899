import pytest

from memagent.errors import InputError
from memagent.sources import DecodeWarning, DocumentSource


def test_directory_is_read_in_sorted_order(tmp_path):
    (tmp_path / "b.txt").write_text("second ")
    (tmp_path / "a.txt").write_text("first ")
    (tmp_path / "skip.bin").write_bytes(b"\x00\x01")
    assert "".join(DocumentSource.from_args([str(tmp_path)])) == "first second "


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        DocumentSource.from_args([str(tmp_path / "missing.txt")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="has no text files"):
        DocumentSource.from_args([str(tmp_path / "empty")])
    binary = tmp_path / "x.txt"
    binary.write_bytes(b"abc\x00def")
    with pytest.raises(InputError, match="looks binary"):
        list(DocumentSource.from_args([str(binary)]))


def test_invalid_utf8_is_replaced_with_a_warning(tmp_path):
    f = tmp_path / "latin1.txt"
    f.write_bytes("caf\xe9 ok".encode("latin-1"))
    with pytest.warns(DecodeWarning, match="1 invalid UTF-8"):
        text = "".join(DocumentSource.from_args([str(f)]))
    assert text == "caf\ufffd ok"


def test_multibyte_chars_split_across_blocks(tmp_path, monkeypatch):
    import memagent.sources as sources

    monkeypatch.setattr(sources, "BLOCK_BYTES", 3)
    f = tmp_path / "u.txt"
    f.write_text("東京🙂 naïve", encoding="utf-8")
    assert "".join(DocumentSource.from_args([str(f)])) == "東京🙂 naïve"


@pytest.mark.parametrize("block", [3, 1 << 20])
def test_nul_bytes_anywhere_are_refused_with_their_offset(tmp_path, monkeypatch, block):
    import memagent.sources as sources

    monkeypatch.setattr(sources, "BLOCK_BYTES", block)
    f = tmp_path / "late.txt"
    f.write_bytes(b"a" * 10_000 + b"\x00tail")  # past the first 8 KiB (the old check's reach)
    with pytest.raises(InputError, match=rf"{f.name} looks binary \(a NUL byte at byte offset 10000\)"):
        list(DocumentSource.from_args([str(f)]))
    with pytest.raises(InputError, match="byte offset 10000"):
        DocumentSource.from_args([str(f)]).precheck()
    with pytest.raises(InputError, match="byte offset 10000"):
        DocumentSource.from_args([str(f)]).fingerprint_files()
    # beyond what precheck reads, the stream still refuses it
    monkeypatch.setattr(sources, "PRECHECK_BYTES", 4096)
    DocumentSource.from_args([str(f)]).precheck()
    with pytest.raises(InputError, match="byte offset 10000"):
        list(DocumentSource.from_args([str(f)]))


def test_precheck_refuses_empty_documents_before_any_model(tmp_path, monkeypatch):
    import io

    empty, text = tmp_path / "e.txt", tmp_path / "t.txt"
    empty.write_text("")
    text.write_text("x")
    with pytest.raises(InputError, match=r"the document is empty \(0 bytes in .*e\.txt\)"):
        DocumentSource.from_args([str(empty)]).precheck()
    DocumentSource.from_args([str(empty), str(text)]).precheck()  # one text file is enough

    class Stdin:  # a pipe: peekable, not a terminal
        def __init__(self, data):
            self.buffer = io.BufferedReader(io.BytesIO(data))

        def isatty(self):
            return False

    monkeypatch.setattr("sys.stdin", Stdin(b""))
    with pytest.raises(InputError, match=r"empty .*stdin"):
        DocumentSource.from_args(["-"]).precheck()
    monkeypatch.setattr("sys.stdin", Stdin(b"ab\x00"))
    with pytest.raises(InputError, match="<stdin> looks binary"):
        DocumentSource.from_args(["-"]).precheck()
    monkeypatch.setattr("sys.stdin", Stdin(b"hello"))
    source = DocumentSource.from_args(["-"])
    source.precheck()
    assert "".join(source) == "hello"  # peeking consumed nothing


def test_inputs_that_are_not_documents(tmp_path):
    with pytest.raises(InputError, match="stdin \\('-'\\) can be read only once"):
        DocumentSource.from_args(["-", "-"])
    with pytest.raises(InputError, match="/dev/null is not a regular file or directory"):
        DocumentSource.from_args(["/dev/null"])
