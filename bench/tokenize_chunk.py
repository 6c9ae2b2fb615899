"""Tokenize + chunk a 3.5M-token document streamed from a file: seconds.

Side by side in one run: memagent's streaming chunker (1 MiB blocks, Rust `encode_batch` over
64K-char pieces, numpy offsets) vs one plain `Tokenizer.encode` of the whole text (no offsets, no
chunking, whole text in memory), the fastest thing that could count the same tokens.

    python bench/tokenize_chunk.py [--tokens 3500000] [--chunk 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import embedded_tokenizer, noise_blocks, report
from memagent.chunking import iter_chunks
from memagent.sources import DocumentSource


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=3_500_000)
    ap.add_argument("--chunk", type=int, default=5000)
    args = ap.parse_args()
    tok = embedded_tokenizer()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.txt"
        with path.open("w") as f:
            for block in noise_blocks(args.tokens, seed=3):
                f.write(block)
        t0 = time.perf_counter()
        chunks = n_tokens = 0
        for chunk in iter_chunks(DocumentSource([str(path)]), tok, args.chunk):
            chunks += 1
            n_tokens += chunk.n_tokens
        streamed = time.perf_counter() - t0
        t0 = time.perf_counter()
        plain = len(tok.fast.encode(path.read_text(), add_special_tokens=False).ids)
        whole = time.perf_counter() - t0
    rows = [{"method": "memagent iter_chunks (streamed, offsets, chunks)", "tokens": n_tokens,
             "chunks": chunks, "seconds": streamed, "tokens_per_s": n_tokens / streamed,
             "ratio_vs_plain": streamed / whole},
            {"method": "plain encode of the whole text (reference)", "tokens": plain, "chunks": "",
             "seconds": whole, "tokens_per_s": plain / whole, "ratio_vs_plain": 1.0}]
    report("tokenize_chunk", f"Tokenize + chunk {args.tokens:,} tokens",
           f"python bench/tokenize_chunk.py --tokens {args.tokens} --chunk {args.chunk}", rows,
           ["Token counts must match: the chunker tokenizes piecewise at whitespace boundaries "
            "that the pre-tokenizer never merges across.", "Embedded SmolLM2 tokenizer (Rust)."])


if __name__ == "__main__":
    main()
