"""Tables and a plot of the grid's cells: python results/grid/summarize.py

Reads every results/grid/*/samples.jsonl and writes summary.md (accuracy, n, seconds and prompt
tokens per sample, per cell and task; the paired comparisons PREREGISTRATION.md decides on) and
shipped.png (the shipped agent by task and length).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHIPPED = ("shipped-8k", "shipped-rel-8k")
PAIRS = [(("plain-8k", "plain-rel-8k"), SHIPPED,
          "decoder: plain generate (A) vs prompt lookup (B); gate: each side <= 2 of 100"),
         (SHIPPED, ("c256-8k", "c256-rel-8k"),
          "lever: 512- (A) vs 256-token chunks (B); rule in PREREGISTRATION.md"),
         (SHIPPED, ("select-8k", "select-rel-8k"),
          "lever 2: generation (A) vs decision select (B); rule in PREREGISTRATION.md 3"),
         (("shipped-8k",), ("select-new-8k",),
          "lever 2, secondary: generation (A) vs select (B) on multikey_2/3 and multivalue"),
         (SHIPPED, ("v8-8k", "v8-rel-8k"),
          "lever 3: v6 (A) vs v8, hard negatives (B); rule (b) in PREREGISTRATION.md 4"),
         (("shipped-8k",), ("v8-new-8k",),
          "lever 3: v6 (A) vs v8 (B) on multikey_2/3 (rule (a)) and multivalue")]


def load(*cells: str) -> dict[str, dict]:
    """The memagent samples of the cells, by id (answered ones; budget errors are not scored)."""
    out: dict[str, dict] = {}
    for cell in cells:
        path = HERE / cell / "samples.jsonl"
        if path.exists():
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            out.update({r["id"]: r for r in rows if r.get("method") == "memagent"})
    return out


def cells() -> list[str]:
    return sorted(p.parent.name for p in HERE.glob("*/samples.jsonl"))


def _outside_memory(row: dict) -> bool:
    """The answer names something the final memory does not hold (each comma-separated part,
    \\boxed{} and quotes stripped, looked up case-blind in the memory)."""
    memory = (row.get("memory") or "").lower()
    pred = (row.get("prediction") or "").replace("\\boxed{", "").replace("}", "")
    parts = [p.strip(' "\'.').lower() for p in pred.split(",")]
    return any(p and p not in memory for p in parts)


def _repeats_a_line(memory: str) -> bool:
    lines = [" ".join(line.split()) for line in memory.splitlines() if line.strip()]
    return len(lines) != len(set(lines))


def cell_table(names: list[str]) -> list[str]:
    lines = ["| cell | task | length | accuracy % | right / n | s per sample | prompt tokens per "
             "sample | repeats written (dropped by hygiene) | final memories repeating a line | answers "
             "naming what the memory does not hold |", "|---|---|---|---|---|---|---|---|---|---|"]
    for cell in names:
        groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
        for r in load(cell).values():
            groups[(r["task"], r["length"])].append(r)
        for (task, length), rows in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            n = len(rows)
            acc = 100 * sum(r["score"] for r in rows) / n
            right = sum(r["score"] >= 1 for r in rows)
            secs = sum(r["seconds"] for r in rows) / n
            tokens = sum(r["prompt_tokens"] for r in rows) / n
            repeats = sum((r.get("hygiene") or {}).get("repeats", 0) for r in rows)
            held = sum(_repeats_a_line(r.get("memory") or "") for r in rows)
            outside = sum(_outside_memory(r) for r in rows if not r.get("error"))
            lines.append(f"| {cell} | {task} | {length // 1024}K | {acc:.0f} | {right} / {n} | "
                         f"{secs:.1f} | {tokens:,.0f} | {repeats} | {held} | {outside} |")
    return lines


def paired(a: tuple[str, ...], b: tuple[str, ...], title: str) -> list[str]:
    ra, rb = load(*a), load(*b)
    ids = sorted(set(ra) & set(rb))
    if not ids:
        return []
    lines = [f"### {title}", "", f"{' + '.join(a)} (A) vs {' + '.join(b)} (B), the same "
             f"{len(ids)} samples:", "",
             "| task | n | right only A | right only B | both | neither | mean A | mean B | "
             "same final memory | s per sample A / B |", "|---|---|---|---|---|---|---|---|---|---|"]
    by_task: dict[str, list[str]] = defaultdict(list)
    for i in ids:
        by_task[ra[i]["task"]].append(i)
    total = [0, 0, 0, 0]
    for task, group in [*sorted(by_task.items()), ("all", ids)]:
        counts = [0, 0, 0, 0]
        for i in group:
            x, y = ra[i]["score"] >= 1, rb[i]["score"] >= 1
            counts[0 if x and not y else 1 if y and not x else 2 if x else 3] += 1
        if task != "all":
            total = [t + c for t, c in zip(total, counts, strict=True)]
        mean_a = 100 * sum(ra[i]["score"] for i in group) / len(group)
        mean_b = 100 * sum(rb[i]["score"] for i in group) / len(group)
        sec_a = sum(ra[i]["seconds"] for i in group) / len(group)
        sec_b = sum(rb[i]["seconds"] for i in group) / len(group)
        same = sum(ra[i].get("memory") == rb[i].get("memory") for i in group)
        lines.append(f"| {task} | {len(group)} | {counts[0]} | {counts[1]} | {counts[2]} | "
                     f"{counts[3]} | {mean_a:.0f} | {mean_b:.0f} | {same} | "
                     f"{sec_a:.1f} / {sec_b:.1f} |")
    return [*lines, ""]


def plot(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data: dict[str, dict[int, tuple[float, int]]] = defaultdict(dict)
    for cell in cells():
        if not cell.startswith("shipped"):
            continue
        groups: dict[tuple[str, int], list[float]] = defaultdict(list)
        for r in load(cell).values():
            groups[(r["task"], r["length"])].append(r["score"])
        for (task, length), scores in groups.items():
            data[task][length] = (100 * sum(scores) / len(scores), len(scores))
    if not data:
        return
    tasks = sorted(data)
    lengths = sorted({n for t in data.values() for n in t})
    fig, ax = plt.subplots(figsize=(11, 3.8))
    width = 0.8 / len(lengths)
    for k, length in enumerate(lengths):
        xs = [i + k * width for i in range(len(tasks))]
        vals = [data[t].get(length, (0, 0)) for t in tasks]
        label = f"{length // 2**20}M" if length >= 2**20 else f"{length // 1024}K"
        bars = ax.bar(xs, [v[0] for v in vals], width, label=label)
        for bar, (_, n) in zip(bars, vals, strict=True):
            if n:
                ax.annotate(str(n), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=6)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(tasks))], tasks, rotation=30, ha="right",
                  fontsize=8)
    ax.set_ylabel("accuracy % (n above each bar)")
    ax.set_ylim(0, 110)
    ax.set_title("shipped embedded agent (v6, bfloat16, hygiene on, lookup decoding), held-out RULER")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    lines = ["# The grid: summary (rebuilt by summarize.py)", "", *cell_table(cells()), "",
             "## Paired", ""]
    for a, b, title in PAIRS:
        lines += paired(a, b, title)
    (HERE / "summary.md").write_text("\n".join(lines) + "\n")
    plot(HERE / "shipped.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
