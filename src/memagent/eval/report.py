"""Turn an eval directory (samples.jsonl + run.json) into summary.csv, accuracy.png, report.md."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from memagent.eval.harness import SUMMARY_FILE, load_records, summarize, write_summary
from memagent.eval.run_file import RUN_FILE, RunInfo

PLOT_FILE = "accuracy.png"
REPORT_FILE = "report.md"
# Distinct markers and dashes, so methods that score the same stay visible on top of each other.
STYLES: dict[str, dict[str, Any]] = {
    "memagent": {"marker": "o", "linestyle": "-", "markersize": 6},
    "full": {"marker": "s", "linestyle": "--", "markersize": 10, "markerfacecolor": "none"},
    "rag": {"marker": "^", "linestyle": ":", "markersize": 6},
}


def length_label(tokens: int) -> str:
    if tokens >= 1 << 20 and tokens % (1 << 20) == 0:
        return f"{tokens >> 20}M"
    if tokens >= 1024 and tokens % 1024 == 0:
        return f"{tokens >> 10}K"
    return str(tokens)


def _ordered(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def plot_accuracy(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path:
    """One panel per task, one line per method, accuracy vs context length on a log-x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = _ordered(r["task"] for r in rows)
    methods = _ordered(r["method"] for r in rows)
    cols = min(3, max(len(tasks), 1))
    nrows = (len(tasks) + cols - 1) // cols or 1
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.3 * nrows), squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        for method in methods:
            pts = sorted((int(r["length"]), float(r["accuracy"])) for r in rows
                         if r["task"] == task and r["method"] == method)
            if pts:
                style = STYLES.get(method, {"marker": "o"})
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=method, **style)
        lengths = sorted({int(r["length"]) for r in rows if r["task"] == task})
        ax.set_xscale("log", base=2)
        ax.set_xticks(lengths, [length_label(n) for n in lengths])
        ax.minorticks_off()
        ax.set_ylim(-3, 103)
        ax.set_title(task)
        ax.set_xlabel("context length (tokens)")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tasks):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(methods), frameon=False)
    if title:
        import textwrap

        fig.text(0.5, 0.01, "\n".join(textwrap.wrap(title, 60 * cols)), ha="center",
                 va="bottom", fontsize=8)
    fig.tight_layout(rect=(0, 0.07 + 0.05 / nrows, 1, 0.93))
    from memagent.outputs import atomic_output

    try:
        with atomic_output(path, "plot", binary=True) as f:
            fig.savefig(f, format="png", dpi=110)
    finally:
        plt.close(fig)
    return path


def _table(rows: Sequence[dict[str, Any]], value: str, fmt: str = "{}") -> list[str]:
    """A markdown table: one row per (task, method), one column per length."""
    lengths = sorted({int(r["length"]) for r in rows})
    cells = {(r["task"], r["method"], int(r["length"])): r for r in rows}
    pairs = _ordered((r["task"], r["method"]) for r in rows)
    lines = ["| task | method | " + " | ".join(length_label(n) for n in lengths) + " |",
             "|---|---|" + "---|" * len(lengths)]
    for task, method in pairs:
        vals = []
        for n in lengths:
            r = cells.get((task, method, n))
            vals.append(fmt.format(r[value], **r) if r else "–")
        lines.append(f"| {task} | {method} | " + " | ".join(vals) + " |")
    return lines


def _release_convention(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The release's convention (empty/failed replies dropped from the denominator), shown only
    when some cell differs from the table above."""
    rows = [{**r, "kept": int(r["n"]) - int(r.get("dropped") or 0)} for r in rows]
    rows = [{**r, "accuracy_drop_empty": r["accuracy_drop_empty"] if r["kept"] else "–"}
            for r in rows]
    if not any(r["kept"] != int(r["n"]) for r in rows):
        return []
    return ["## Accuracy (%), the release's convention — empty or failed replies dropped", "",
            "As `taskutils/memory_eval/run.py` scores: a sample whose reply is empty or whose "
            "request failed leaves the denominator (n kept in brackets; – where none is left).", "",
            *_table(rows, "accuracy_drop_empty", "{} ({kept})"), ""]


def _commands(run: RunInfo) -> list[str]:
    commands = run.commands or ["?"]
    if len(commands) == 1:
        return [f"- command: `{commands[0]}`"]
    return ["- commands, in the order they ran (later stages skip finished samples):",
            *[f"  - `{c}`" for c in commands]]


def _method_costs(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Mean tokens processed per sample (prompt + completion) by method and length, all tasks."""
    lengths = sorted({int(r["length"]) for r in rows})
    methods = _ordered(r["method"] for r in rows)
    lines = ["| method | " + " | ".join(length_label(n) for n in lengths) + " |",
             "|---|" + "---|" * len(lengths)]
    for m in methods:
        vals = []
        for n in lengths:
            sel = [r for r in rows if r["method"] == m and int(r["length"]) == n]
            total = sum(int(r["n"]) for r in sel)
            if not total:
                vals.append("–")
                continue
            tok = sum((float(r["mean_prompt_tokens"]) + float(r["mean_completion_tokens"]))
                      * int(r["n"]) for r in sel) / total
            vals.append(f"{tok:,.0f}")
        lines.append(f"| {m} | " + " | ".join(vals) + " |")
    return lines


HYGIENE_COLUMNS = ("repaired", "rejected", "repeats", "unsupported", "repeat_steps", "ungrounded")


def _hygiene_table(records: Iterable[dict[str, Any]]) -> list[str]:
    """Memory hygiene summed per cell (memagent.hygiene), for records that carry it: steps
    repaired / rejected, sentences dropped as repeats / as in neither chunk nor memory, and
    memories that held a sentence twice (repeat_steps; samples with one in brackets), answer
    parts dropped by answer grounding."""
    cells: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in records:
        if isinstance(r.get("hygiene"), dict):
            cells.setdefault((r["task"], int(r["length"])), []).append(r["hygiene"])
    if not cells:
        return []
    lines = ["## Memory hygiene (memagent method; sums over the samples' steps)", "",
             "| task | length | n | steps repaired | steps rejected | repeats dropped | "
             "unsupported dropped | memories with a repeat (samples) | answer parts not in "
             "memory, dropped |", "|---|---|---|---|---|---|---|---|---|"]
    for (task, length), hs in sorted(cells.items()):
        sums = {c: sum(int(h.get(c, 0)) for h in hs) for c in HYGIENE_COLUMNS}
        with_repeat = sum(1 for h in hs if int(h.get("repeat_steps", 0)))
        lines.append(f"| {task} | {length_label(length)} | {len(hs)} | {sums['repaired']} | "
                     f"{sums['rejected']} | {sums['repeats']} | {sums['unsupported']} | "
                     f"{sums['repeat_steps']} ({with_repeat}) | {sums['ungrounded']} |")
    return [*lines, ""]


def merge_runs(out: Path, other: Path) -> int:
    """Append `other`'s samples that `out` lacks to `out`; returns how many were added."""
    from memagent.errors import InputError

    runs = []
    for d in (out, other):
        run = RunInfo.read(d) if (d / "samples.jsonl").is_file() else None
        if run is None:
            raise InputError(f"{d}: not an eval directory (needs samples.jsonl and {RUN_FILE})")
        runs.append(run)
    mine, theirs = runs
    differs = mine.differs(theirs)
    if differs:
        raise InputError(f"cannot merge {other} into {out}: {differs}")
    have = load_records(out / "samples.jsonl")
    # A sample is taken when OUT lacks it or holds only a failed attempt at it.
    new = [r for k, r in load_records(other / "samples.jsonl").items()
           if k not in have or (have[k].get("error") and not r.get("error"))]
    with (out / "samples.jsonl").open("a", encoding="utf-8") as f:
        for rec in new:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    for cmd in theirs.commands:
        if cmd not in mine.commands:
            mine.commands.append(cmd)
    mine.tasks = _ordered([*mine.tasks, *theirs.tasks])
    mine.lengths = _ordered([*mine.lengths, *theirs.lengths])
    mine.methods = _ordered([*mine.methods, *theirs.methods])
    mine.write(out)
    return len(new)


def write_report(out: Path, run: RunInfo | None = None) -> Path:
    """(Re)build summary.csv, accuracy.png and report.md from what samples.jsonl holds now."""
    records = load_records(out / "samples.jsonl")
    rows = summarize(records.values())
    write_summary(rows, out / SUMMARY_FILE)
    run = run or RunInfo.read(out) or RunInfo()
    model = run.model
    budgets = ", ".join(f"{k} {v}" for k, v in run.budgets.items())
    title = f"{model}; budgets: {budgets}"
    if rows:
        plot_accuracy(rows, out / PLOT_FILE, title)
    lines = [f"# Evaluation: {model}", ""]
    seed = "?" if run.seed is None else run.seed
    lines += [f"- model: `{model}` (sha256 `{run.model_sha256 or 'unknown'}`)",
              f"- budgets: `{json.dumps(run.budgets)}`",
              f"- sampling: `{json.dumps(run.sampling)}`, seed {seed}",
              *_commands(run),
              f"- samples scored: {len(records)} ({sum(int(r['errors']) for r in rows)} backend "
              "errors, counted as 0)", ""]
    lines += ["## Accuracy (%) — n per cell in brackets", "",
              "Empty or failed replies count as wrong.", "",
              *_table(rows, "accuracy", "{} ({n})"), "",
              *_release_convention(rows),
              f"![accuracy vs length]({PLOT_FILE})", "",
              "## Answers in \\boxed{} (%)", "", *_table(rows, "boxed"), "",
              "## Tokens processed per sample (prompt + completion, mean over tasks)", "",
              *_method_costs(rows), "",
              "## Wall seconds per cell", "", *_table(rows, "wall_seconds"), "",
              *_hygiene_table(records.values())]
    from memagent.outputs import write_text

    path = out / REPORT_FILE
    write_text(path, "\n".join(lines), "report")
    return path
