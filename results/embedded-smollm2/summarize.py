"""Combine the eval directories under results/embedded-smollm2/ into one table and one plot.

Each directory is one `memagent eval --out` (see run.sh); this reads their samples.jsonl and
run.json and writes summary.md and accuracy.png here. Run from the repository root:
    python results/embedded-smollm2/summarize.py
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROFILE_CHUNK = 512  # the smollm2-memagent profile's chunk
LABELS = {
    "v3": "v3 SFT (shipped before v6)",
    "v3-f32": "v3 SFT, float32, current code",
    "v4-f32": "v4 SFT, float32, current code",
    "v5-f32": "v5 SFT, float32, current code",
    "v6-f32": "v6 SFT (v5 + vt_any; shipped default), float32, current code",
    "v7-f32": "v7 SFT (v6 + vt_syntax), float32, current code",
    "v2": "v2 SFT (shipped before v3)",
    "rl": "v2 + RL, 16 steps (not shipped)",
    "rl6-f32": "v6 + RL, 16 steps, float32, current code",
    "rl6r-f32": "v6 + RL, 16 steps, retrained from the same config, float32, current code",
    "trained": "v1 SFT (shipped before v2)",
    "base": "base (--base, same profile)",
    "base-f32": "base (--base, same profile), float32, current code",
    "baseline": "base, paper profile (8K window)",
    "baseline-f32": "base, own 8K window (--profile default), float32, current code; BM25 over 512-token chunks",
}


def load() -> dict[tuple[str, str, str, int], list[dict]]:
    cells: dict[tuple[str, str, str, int], list[dict]] = defaultdict(list)
    for samples in sorted(HERE.glob("*/samples.jsonl")):
        # "v3-f32-8k" is its own variant: float32 and the current code, not paired with "v3-8k-a"
        parts = samples.parent.name.split("-")
        variant = "-".join(parts[:2]) if parts[1:2] == ["f32"] else parts[0]
        run = json.loads((samples.parent / "run.json").read_text())
        # --style release (the MemAgent release's question texts) is its own column of a task
        suffix = " (release texts)" if run.get("style") == "release" else ""
        if run.get("seed", 0):  # other samples than seed 0's: not paired with them
            variant += f" @seed{run['seed']}"
        chunk = run.get("budgets", {}).get("chunk")
        if run.get("profile") == "smollm2-memagent" and chunk not in (None, PROFILE_CHUNK):
            variant += f" @chunk{chunk}"  # --chunk over the profile's: its own row
        for line in samples.read_text().splitlines():
            row = json.loads(line)
            cells[(variant, row["method"], row["task"] + suffix, row["length"])].append(row)
    return cells


def accuracy(rows: list[dict]) -> float:
    return 100 * sum(r["score"] for r in rows) / len(rows)


def label(variant: str) -> str:
    variant, _, chunk = variant.partition(" @chunk")
    name, _, seed = variant.partition(" @seed")
    return (
        LABELS.get(name, name)
        + (f"; samples of --seed {seed}" if seed else "")
        + (f"; --chunk {chunk}" if chunk else "")
    )


def main() -> None:
    cells = load()
    lines = [
        "| model | method | task | length | accuracy % | n | s/sample (batched, 1 core) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (variant, method, task, length), rows in sorted(
        cells.items(), key=lambda kv: (kv[0][2], kv[0][3], kv[0][0], kv[0][1])
    ):
        acc = accuracy(rows)
        secs = sum(r["seconds"] for r in rows) / len(rows)
        size = f"{length // 1024}K" if length >= 1024 else str(length)
        lines.append(
            f"| {label(variant)} | {method} | {task} | {size} | {acc:.0f} | {len(rows)} | {secs:.0f} |"
        )
    (HERE / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({k[2] for k in cells})
    all_series = sorted({(k[0], k[1]) for k in cells})
    colors = {sv: plt.get_cmap("tab20")(i % 20) for i, sv in enumerate(all_series)}
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks), 3.8), sharey=True)
    axes = axes if len(tasks) > 1 else [axes]
    for ax, task in zip(axes, tasks, strict=True):
        series = sorted({(k[0], k[1]) for k in cells if k[2] == task})
        for variant, method in series:
            pts = sorted(
                (k[3], accuracy(v)) for k, v in cells.items() if k[:3] == (variant, method, task)
            )
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                marker="o",
                color=colors[(variant, method)],
            )
        ax.set_xscale("log", base=2)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("document tokens")
        ax.set_ylim(-5, 105)
    axes[0].set_ylabel("accuracy %")
    handles = [plt.Line2D([], [], color=c, marker="o") for c in colors.values()]
    fig.legend(
        handles,
        [f"{v} {m}" for v, m in colors],
        loc="upper center",
        ncol=min(len(colors), 6),
        fontsize=8,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.82))
    fig.savefig(HERE / "accuracy.png", dpi=110)
    plt.close(fig)
    plot_shipped(cells)


# The accuracy-vs-length figure: the shipped agent against the untrained model under the same
# profile and the base model's own 8K window (full context, BM25). Seed-0 and seed-1 samples of one
# cell are pooled (both held out); n is written at each point.
SHIPPED_SERIES = {
    "shipped agent (v6)": (("v6-f32", "v6-f32 @seed1"), "memagent"),
    "untrained model, same profile": (("base-f32", "base-f32 @seed1"), "memagent"),
    "full context, base model (8K window)": (("baseline-f32", "baseline-f32 @seed1"), "full"),
    "BM25, base model (8K window)": (("baseline-f32", "baseline-f32 @seed1"), "rag"),
}
SHIPPED_TASKS = (
    "niah_single_1",
    "niah_single_2",
    "niah_single_3",
    "niah_multikey_1",
    "vt (release texts)",
)


def shipped_points(
    cells: dict, variants: tuple[str, ...], method: str, task: str
) -> list[tuple[int, float, int]]:
    pooled: dict[int, list[dict]] = defaultdict(list)
    for (variant, m, t, length), rows in cells.items():
        if variant in variants and m == method and t == task:
            pooled[length].extend(rows)
    return [(length, accuracy(rows), len(rows)) for length, rows in sorted(pooled.items())]


def plot_shipped(cells: dict) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(SHIPPED_TASKS), figsize=(3.3 * len(SHIPPED_TASKS), 3.9), sharey=True
    )
    for ax, task in zip(axes, SHIPPED_TASKS, strict=True):
        for i, (name, (variants, method)) in enumerate(SHIPPED_SERIES.items()):
            pts = shipped_points(cells, variants, method, task)
            if not pts:
                continue
            color = plt.get_cmap("tab10")(i)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=color, label=name)
            for x, y, n in pts:
                ax.annotate(
                    f"n={n}",
                    (x, y),
                    textcoords="offset points",
                    xytext=(3, 4 - 9 * (i % 2)),
                    fontsize=6,
                    color=color,
                )
        ax.set_xscale("log", base=2)
        ax.set_xticks([2**13, 2**15, 2**17, 2**20], ["8K", "32K", "128K", "1M"])
        ax.set_xlim(2**12.5, 2**20.5)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("document tokens")
        ax.set_ylim(-5, 105)
    axes[0].set_ylabel("accuracy % (held-out)")
    legend = {
        name: h for ax in axes for h, name in zip(*ax.get_legend_handles_labels(), strict=True)
    }
    names = [name for name in SHIPPED_SERIES if name in legend]
    fig.legend(
        [legend[name] for name in names], names, loc="upper center", ncol=len(names), fontsize=8
    )
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    fig.savefig(HERE / "shipped.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
