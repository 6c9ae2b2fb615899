"""Answer grounding (memagent.hygiene.ground) applied to the shipped agent's committed cells:
python results/grid/grounding.py   (PREREGISTRATION.md section 5)

Grounding is a pure function of a sample's final memory, its question and the extracted answer,
so its effect is exact without running the cells again: each cell's samples are regenerated from
its run.json (the same generator, seed and split the eval used) for their questions and metrics,
the answer is grounded, and rescored. Writes grounding.md.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from memagent.eval.harness import EvalPlan, cell_samples
from memagent.hygiene import ground
from memagent.llm.hf_tokenizer import load_tokenizer
from memagent.llm.registry import resolve_model
from memagent.scoring import score

HERE = Path(__file__).resolve().parent
CELLS = ("shipped-8k", "shipped-rel-8k", "shipped-32k", "shipped-rel-32k", "shipped-1m")


def cell_rows(cell: str, tokenizer) -> list[tuple[dict, object]]:
    """(record, sample) of every answered memagent sample of a cell."""
    run = json.loads((HERE / cell / "run.json").read_text())
    records = {r["id"]: r for r in map(json.loads, (HERE / cell / "samples.jsonl").open())
               if r.get("method") == "memagent" and not r.get("error")}
    plan = EvalPlan(tuple(run["tasks"]), tuple(run["lengths"]), ("memagent",), n=run["n"],
                    seed=run["seed"], split=run.get("split"), style=run.get("style", "ruler"))
    out = []
    for task in plan.tasks:
        for length in plan.lengths:
            for sample in cell_samples(plan, task, length, tokenizer):
                if sample.id in records:
                    out.append((records[sample.id], sample))
    return out


def main() -> None:
    tokenizer = load_tokenizer(str(resolve_model(None, base=True)))
    table: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    costs: list[str] = []
    for cell in CELLS:
        for rec, sample in cell_rows(cell, tokenizer):
            g = ground(rec["prediction"], rec.get("memory") or "", sample.question)
            new = score(sample.metric, g.answer, sample.answers)
            row = table[(cell, rec["task"])]
            row["n"] += 1
            row["before"] += rec["score"]
            row["after"] += new
            row["answers repaired"] += bool(g.dropped)
            row["left with no answer"] += bool(g.dropped) and g.answer is None
            row["parts dropped"] += len(g.dropped)
            if new < rec["score"]:
                costs.append(f"- {cell} {rec['id']}: {rec['score']} -> {new} "
                             f"(answer {rec['prediction']!r}, dropped {list(g.dropped)})")
    lines = ["# Answer grounding on the shipped agent's cells (grounding.py)", "",
             "Rule (PREREGISTRATION.md 5): the embedded default only if no right sample turns "
             "wrong and no partial score falls.", "",
             "| cell | task | n | mean score before % | after % | answers repaired | "
             "left with no answer | parts dropped |", "|---|---|---|---|---|---|---|---|"]
    for (cell, task), r in sorted(table.items()):
        n = r["n"]
        lines.append(f"| {cell} | {task} | {n:.0f} | {100 * r['before'] / n:.1f} | "
                     f"{100 * r['after'] / n:.1f} | {r['answers repaired']:.0f} | "
                     f"{r['left with no answer']:.0f} | {r['parts dropped']:.0f} |")
    lines += ["", f"Samples whose score fell: {len(costs)}", *costs]
    (HERE / "grounding.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
