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
