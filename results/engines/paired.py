"""Paired counts of the engine gate (issue 22): each int8 sample beside the committed float32
prediction of the same sample (same id: task, length, seed, index), in markdown on stdout.

    python results/engines/paired.py [PREFIX]   # the cells gate/PREFIX-* (default int8)

right = score 1.0 (vt: every variable of the chain). A sample is counted only where both runs have
it; the gate: right only under float32 <= 2 per 100 and right only under int8 <= 2 per 100."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REF = ROOT.parent / "embedded-smollm2"
REF_CELLS = ("v6-f32-8k-c", "v6-f32-8k", "v6-f32-8k-b", "v6-f32-vt")  # the float32 v6 cells


def _samples(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {r["id"]: r for r in rows if r.get("method") == "memagent"}


def main(prefix: str) -> int:
    """The table of the cells results/engines/gate/<prefix>-*."""
    lines = ["| task | n paired | same answers | float32 right | int8 right | only float32 | "
             "only int8 | same prediction | score sum f32 / int8 |", "|---|---|---|---|---|---|---|---|---|"]
    total = {"n": 0, "f": 0, "q": 0, "of": 0, "oq": 0, "same": 0}
    old: dict[str, dict] = {}
    for ref in REF_CELLS:
        old.update(_samples(REF / ref / "samples.jsonl"))
    new: dict[str, dict] = {}
    for cell in sorted((ROOT / "gate").glob(f"{prefix}-*")):
        new.update(_samples(cell / "samples.jsonl"))
    for task in sorted({r["task"] for r in new.values()}):
        ids = [i for i in new if new[i]["task"] == task and i in old]
        if not ids:
            continue
        agree = sum(new[i]["answers"] == old[i]["answers"] for i in ids)
        f = [old[i]["score"] == 1.0 for i in ids]
        q = [new[i]["score"] == 1.0 for i in ids]
        only_f = sum(a and not b for a, b in zip(f, q, strict=True))
        only_q = sum(b and not a for a, b in zip(f, q, strict=True))
        same = sum(new[i]["prediction"] == old[i]["prediction"] for i in ids)
        sf, sq = sum(old[i]["score"] for i in ids), sum(new[i]["score"] for i in ids)
        lines.append(f"| {task} | {len(ids)} | {agree} | {sum(f)} | {sum(q)} | {only_f} | "
                     f"{only_q} | {same} | {sf:.1f} / {sq:.1f} |")
        for k, v in zip(("n", "f", "q", "of", "oq", "same"),
                        (len(ids), sum(f), sum(q), only_f, only_q, same), strict=True):
            total[k] += v
    t = total
    lines.append(f"| **all** | {t['n']} | | {t['f']} | {t['q']} | **{t['of']}** | **{t['oq']}** | "
                 f"{t['same']} | |")
    worst = max(t["of"], t["oq"])
    if worst > 2:
        verdict = "fails"
    elif t["n"] >= 100:
        verdict = "holds"
    else:
        verdict = f"not decided: {t['n']} of the 100 paired samples run, within the budget so far"
    lines.append("")
    lines.append(f"Gate (of the 100 paired samples, right only under float32 <= 2 and right only "
                 f"under int8 <= 2): {verdict} ({t['of']} only float32, {t['oq']} only int8, "
                 f"n = {t['n']}).")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "int8"))
