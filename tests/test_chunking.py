import random

from hypothesis import example, given, settings
from hypothesis import strategies as st

from memagent.chunking import iter_chunks, safe_cut

TEXT = (
    "Ünïcödé  words,\tnumbers 1234567 and   spaces.\n\nNew paragraph: café — naïve 東京 🙂 end. "
    "One of the special magic numbers for tasty-apple is: 4821937.\n"
) * 40


def _blocks(text: str, sizes: list[int]) -> list[str]:
    out, i = [], 0
    for s in sizes:
        out.append(text[i : i + s])
        i += s
    out.append(text[i:])
    return out


def test_chunks_are_token_exact_and_concatenate_to_the_document(tokenizer):
    chunks = list(iter_chunks([TEXT], tokenizer, 100))
    assert "".join(c.text for c in chunks) == TEXT
    assert all(c.n_tokens == 100 for c in chunks[:-1])
    assert 0 < chunks[-1].n_tokens <= 100
    assert sum(c.n_tokens for c in chunks) == len(tokenizer.encode(TEXT))
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_streaming_in_random_blocks_matches_whole_document(tokenizer):
    whole = [(c.text, c.n_tokens) for c in iter_chunks([TEXT], tokenizer, 77)]
    rng = random.Random(0)
    for _ in range(5):
        sizes = [rng.randint(1, 400) for _ in range(30)]
        streamed = [(c.text, c.n_tokens) for c in iter_chunks(_blocks(TEXT, sizes), tokenizer, 77)]
        assert streamed == whole


@settings(max_examples=30, deadline=None)
@given(st.text(min_size=1, max_size=300), st.integers(1, 50), st.integers(1, 40))
@example("\x06", 1, 1)  # the tokenizer maps it to no tokens; it used to vanish
def test_any_text_round_trips(tokenizer, text, size, block):
    chunks = list(iter_chunks(_blocks(text, [block] * (len(text) // block)), tokenizer, size))
    assert "".join(c.text for c in chunks) == text
    assert all(c.n_tokens <= size for c in chunks)


def test_safe_cut_lands_before_a_whitespace_run():
    assert safe_cut("abc   def") == 3
    assert safe_cut("abcdef") == 0
    assert safe_cut("a b\n\nc", limit=4) == 3
