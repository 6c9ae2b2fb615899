"""The off-arm's samples (PREREGISTRATION.md): every on-arm sample of TASK where hygiene changed a
reply (a step repaired or rejected), plus the first CHECK samples where it changed none (the
determinism check), generated exactly as `memagent eval --split heldout --seed 0` draws them.

    python subset.py ON_DIR TASK LENGTH OUT.jsonl [CHECK] [STYLE]  (STYLE: eval's --style)
"""

import json
import sys
from pathlib import Path

from memagent.data import write_jsonl
from memagent.eval.harness import EvalPlan, cell_samples, load_records
from memagent.llm.hf_tokenizer import load_tokenizer
from memagent.llm.registry import resolve_model

on_dir, task, length, out = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
check = int(sys.argv[5]) if len(sys.argv) > 5 else 2
style = sys.argv[6] if len(sys.argv) > 6 else "ruler"
recs = [r for r in load_records(on_dir / "samples.jsonl").values()
        if r["task"] == task and int(r["length"]) == length and r["method"] == "memagent"]
fired = [r["id"] for r in recs if r["hygiene"]["repaired"] + r["hygiene"]["rejected"]]
quiet = [r["id"] for r in recs if r["id"] not in fired][:check]
plan = EvalPlan((task,), (length,), ("memagent",), n=len(recs), seed=0, split="heldout",
                style=style)
tokenizer = load_tokenizer(str(resolve_model(None)))
wanted = set(fired) | set(quiet)
samples = [s for s in cell_samples(plan, task, length, tokenizer) if s.id in wanted]
for s in samples:
    assert int(s.meta.get("target_tokens", -1)) == length, s.id
write_jsonl(samples, out)
print(json.dumps({"task": task, "on_samples": len(recs), "fired": fired, "check": quiet,
                  "written": len(samples)}))
