"""Run tasks x lengths x methods over samples; write per-sample JSONL and a summary CSV.

Samples come from the data generators (same seed, same samples) or from JSONL files written by
`memagent data`. Every scored sample is appended to `samples.jsonl` as soon as its batch finishes,
so a killed run loses at most one batch; re-running the same command skips what is recorded there.
A sample whose backend call failed is recorded with `error` set and score 0; a later run retries
it, and until then it counts as wrong (never dropped from the denominator).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from memagent.config import AgentConfig
from memagent.data import GenOptions, Sample, generate_samples, read_jsonl
from memagent.errors import InputError
from memagent.eval.methods import METHODS, Method, Prediction, make_method
from memagent.scoring import score
from memagent.types import LLM, Tokenizer

SAMPLES_FILE = "samples.jsonl"
SUMMARY_FILE = "summary.csv"
SUMMARY_FIELDS = ("task", "length", "method", "n", "errors", "accuracy", "boxed",
                  "mean_prompt_tokens", "mean_completion_tokens", "wall_seconds",
                  "dropped", "accuracy_drop_empty")


def dropped_by_release(rec: dict[str, Any]) -> bool:
    """The release's evaluation (taskutils/memory_eval/run.py) skips a sample whose client returned
    '': any failed request, or an empty final reply. memagent counts those as wrong; the summary
    reports both (`accuracy` and `accuracy_drop_empty`)."""
    return bool(rec.get("error")) or (rec.get("reply") or "") == ""


@dataclass(frozen=True)
class EvalPlan:
    """What to run. `sample_files` (task -> JSONL files) replaces generation for those tasks."""

    tasks: tuple[str, ...]
    lengths: tuple[int, ...]
    methods: tuple[str, ...]
    n: int = 20
    seed: int = 0
    batch: int = 8  # samples per backend batch (and per append to the JSONL)
    qa_source: str | None = None  # HotpotQA / SQuAD JSON for qa_1, qa_2, hotpotqa
    haystack_dir: str | None = None
    split: str | None = None  # "heldout": keys/values never drawn by training episodes
    style: str = "ruler"  # question texts: RULER's or the MemAgent release's (data/templates.py)
    sample_files: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.tasks or not self.lengths or not self.methods:
            raise InputError("eval needs at least one task, one length and one method")
        if self.n < 1 or self.batch < 1:
            raise InputError(f"n and batch must be >= 1, got n={self.n}, batch={self.batch}")


def record_key(rec: dict[str, Any]) -> tuple[str, int, str, str]:
    return (rec["task"], int(rec["length"]), rec["method"], rec["id"])


# what the summary and the report read of every record (make_record writes them all)
_RECORD_FIELDS = ("task", "length", "method", "id", "score", "rule", "prompt_tokens",
                  "completion_tokens", "seconds")


def load_records(path: Path) -> dict[tuple[str, int, str, str], dict[str, Any]]:
    """The last record per (task, length, method, id); a torn last line is ignored."""
    records: dict[tuple[str, int, str, str], dict[str, Any]] = {}
    if not path.is_file():
        return records
    with path.open(encoding="utf-8") as f:
        try:
            for lineno, line in enumerate(f, 1):
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill
                if isinstance(rec, dict) and "method" in rec:
                    missing = [k for k in _RECORD_FIELDS if k not in rec]
                    try:
                        if missing:
                            raise KeyError(missing[0])
                        records[record_key(rec)] = rec
                    except (KeyError, TypeError, ValueError):
                        raise InputError(
                            f"{path}:{lineno}: not an eval record memagent wrote (it needs "
                            f"{', '.join(_RECORD_FIELDS)}; lacks {', '.join(missing) or 'none'})"
                        ) from None
        except UnicodeDecodeError:
            raise InputError(f"{path} is not UTF-8 text, so not an eval's samples file") from None
    return records


def make_record(sample: Sample, length: int, method: str, pred: Prediction) -> dict[str, Any]:
    value = 0.0 if pred.error else score(sample.metric, pred.answer, sample.answers)
    return {
        "id": sample.id, "task": sample.task, "length": length, "method": method,
        "prediction": pred.answer, "rule": pred.rule, "score": value, "answers": sample.answers,
        "prompt_tokens": pred.prompt_tokens, "completion_tokens": pred.completion_tokens,
        "context_tokens": pred.context_tokens, "seconds": round(pred.seconds, 3),
        "reply": pred.text, "error": pred.error, "memory": pred.memory,
        **({"hygiene": pred.hygiene} if pred.hygiene is not None else {}),
    }


def _file_samples(paths: Sequence[str], length: int) -> list[Sample]:
    out = []
    for path in paths:
        for s in read_jsonl(path):
            if int(s.meta.get("target_tokens", -1)) == length:
                out.append(s)
    return out


def cell_samples(plan: EvalPlan, task: str, length: int, tokenizer: Tokenizer) -> Iterator[Sample]:
    """The first `plan.n` samples of a cell, generated lazily (or read from the task's files)."""
    if task in plan.sample_files:
        yield from _file_samples(plan.sample_files[task], length)[: plan.n]
        return
    opts = GenOptions(target=length, seed=plan.seed, haystack_dir=plan.haystack_dir, split=plan.split,
                      style=plan.style,
                      source=plan.qa_source)
    yield from generate_samples(task, opts, plan.n, tokenizer)


ProgressHook = Callable[[str, int], None]  # (description, samples just finished)


@dataclass
class Harness:
    """Runs an EvalPlan into `out` with one backend; `run()` returns the summary rows."""

    plan: EvalPlan
    llm: LLM
    config: AgentConfig
    tokenizer: Tokenizer
    out: Path
    on_progress: ProgressHook | None = None
    methods: dict[str, Method] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        for name in self.plan.methods:
            self.methods[name] = make_method(name, self.llm, self.config, self.tokenizer)
        self.records = load_records(self.samples_path)

    @property
    def samples_path(self) -> Path:
        return self.out / SAMPLES_FILE

    def pending(self) -> int:
        """Samples still to run (an upper bound for file-based tasks, which may hold fewer)."""
        total = len(self.plan.tasks) * len(self.plan.lengths) * len(self.plan.methods) * self.plan.n
        done = sum(1 for k, r in self.records.items() if not r.get("error") and self._wanted(k))
        return max(total - done, 0)

    def _wanted(self, key: tuple[str, int, str, str]) -> bool:
        task, length, method, _ = key
        plan = self.plan
        return task in plan.tasks and length in plan.lengths and method in plan.methods

    def run(self) -> list[dict[str, Any]]:
        for length in self.plan.lengths:
            for task in self.plan.tasks:
                self.run_cell(task, length)
        rows = summarize(self.records.values(), self.plan)
        write_summary(rows, self.out / SUMMARY_FILE)
        return rows

    def run_cell(self, task: str, length: int) -> None:
        """All methods on one (task, length): samples are generated once, methods run in turn."""
        samples = list(cell_samples(self.plan, task, length, self.tokenizer))
        for name in self.plan.methods:
            todo = [s for s in samples if self._needs(task, length, name, s.id)]
            for start in range(0, len(todo), self.plan.batch):
                self._run_batch(task, length, name, todo[start : start + self.plan.batch])

    def _needs(self, task: str, length: int, method: str, sample_id: str) -> bool:
        rec = self.records.get((task, length, method, sample_id))
        return rec is None or bool(rec.get("error"))

    def _run_batch(self, task: str, length: int, method: str, batch: list[Sample]) -> None:
        t0 = time.perf_counter()
        preds = self.methods[method].predict(batch)
        wall = time.perf_counter() - t0
        with self.samples_path.open("a", encoding="utf-8") as f:
            for sample, pred in zip(batch, preds, strict=True):
                rec = make_record(sample, length, method, pred)
                rec["batch_wall_seconds"] = round(wall / len(batch), 3)
                self.records[record_key(rec)] = rec
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        if self.on_progress is not None:
            self.on_progress(f"{task} {length} {method}", len(batch))


def summarize(records: Any, plan: EvalPlan | None = None) -> list[dict[str, Any]]:
    """One row per (task, length, method) cell, in plan order when a plan is given."""
    cells: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for rec in records:
        cells.setdefault((rec["task"], int(rec["length"]), rec["method"]), []).append(rec)
    if plan is not None:
        order = [(t, n, m) for n in plan.lengths for t in plan.tasks for m in plan.methods]
        keys = [k for k in order if k in cells]
    else:  # tasks alphabetically, then length, methods in their usual order
        rank = {m: i for i, m in enumerate(METHODS)}
        keys = sorted(cells, key=lambda k: (k[0], k[1], rank.get(k[2], len(rank)), k[2]))
    rows = []
    for task, length, method in keys:
        recs = cells[(task, length, method)]
        n = len(recs)
        rows.append({
            "task": task, "length": length, "method": method, "n": n,
            "errors": sum(1 for r in recs if r.get("error")),
            "accuracy": round(100 * sum(float(r["score"]) for r in recs) / n, 2),
            "boxed": round(100 * sum(r["rule"] == "boxed" for r in recs) / n, 1),
            "mean_prompt_tokens": round(sum(r["prompt_tokens"] for r in recs) / n),
            "mean_completion_tokens": round(sum(r["completion_tokens"] for r in recs) / n),
            "wall_seconds": round(sum(r.get("batch_wall_seconds", r["seconds"]) for r in recs), 1),
            "dropped": len(recs) - len(kept := [r for r in recs if not dropped_by_release(r)]),
            "accuracy_drop_empty": (
                round(100 * sum(float(r["score"]) for r in kept) / len(kept), 2) if kept else ""
            ),
        })
    return rows


def write_summary(rows: Sequence[dict[str, Any]], path: Path) -> None:
    from memagent.outputs import atomic_output

    with atomic_output(path, "summary") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def read_summary(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def plan_json(plan: EvalPlan) -> dict[str, Any]:
    return asdict(plan)
