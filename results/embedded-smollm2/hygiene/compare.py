"""Paired on/off counts for PREREGISTRATION.md's decision, from on-8k/ and off-8k/ (and README's
example from readme-{on,off}.json and their traces). Prints markdown; changes no file.

    python results/embedded-smollm2/hygiene/compare.py
"""

import json
from pathlib import Path

from memagent.eval.harness import load_records
from memagent.hygiene import repeated_sentences

H = Path(__file__).parent


def records(d: str) -> dict[str, dict]:
    path = H / d / "samples.jsonl"
    return {r["id"]: r for r in load_records(path).values()} if path.is_file() else {}


def readme(arm: str) -> str:
    res = H / f"readme-{arm}.json"
    trace = H / f"readme-{arm}.trace.jsonl"
    if not res.is_file() or not trace.is_file() or not res.read_text().strip():
        return f"| {arm} | not run | | |"
    answer = json.loads(res.read_text())["answer"]
    steps = [json.loads(x) for x in trace.read_text().splitlines()]
    mems = [s["memory"] for s in steps if s.get("type") == "step" and s.get("kind") == "memory"]
    rep = sum(1 for m in mems if repeated_sentences(m))
    return f"| {arm} | {answer} | {'yes' if answer == '9539473' else 'no'} | {rep} of {len(mems)} |"


def main() -> None:
    on, off = records("on-8k"), records("off-8k")
    print("## README's example (examples/needle-8k.txt, README's question)\n")
    print("| arm | answer | right | memories repeating a sentence |\n|---|---|---|---|")
    print(readme("on"))
    print(readme("off"))
    print(readme("select"))
    print("\n## Held-out, paired (8K, --split heldout --seed 0; vt: --style release, score = "
          "share of the chain's values)\n")
    print("| task | n paired | on score | off score | better on | better off | "
          "samples hygiene changed | determinism checks equal | on-arm repeat_steps | "
          "v6-f32 (same ids) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    tot = {"n": 0, "on": 0, "off": 0, "only_on": 0, "only_off": 0, "rep": 0}
    niah = dict(tot)
    cells = (("on-8k", "off-8k", "niah_single_2", "../v6-f32-8k"),
             ("on-8k", "off-8k", "niah_single_3", "../v6-f32-8k"),
             ("on-vt-8k", "off-vt-8k", "vt", "../v6-f32-vt"))
    for on_dir, off_dir, task, v6_dir in cells:
        on, off, v6 = records(on_dir), records(off_dir), records(v6_dir)
        ids = sorted((i for i, r in on.items() if r["task"] == task), key=lambda i: int(i.split("-")[-1]))
        if not ids:
            print(f"| {task} | not run | | | | | | | | |")
            continue
        fired = [i for i in ids if on[i]["hygiene"]["repaired"] + on[i]["hygiene"]["rejected"]]
        checks = [i for i in ids if i not in fired and i in off]
        equal = sum(1 for i in checks if (off[i]["prediction"], off[i]["memory"])
                    == (on[i]["prediction"], on[i]["memory"]))
        paired = [i for i in ids if i in off or i not in fired]  # unfired: off == on (rule)
        if equal != len(checks):  # a failed determinism check: only samples run in both arms
            paired = [i for i in ids if i in off]
        s_on = {i: on[i]["score"] for i in paired}
        s_off = {i: (off[i] if i in off else on[i])["score"] for i in paired}
        only_on = sum(1 for i in paired if s_on[i] > s_off[i])
        only_off = sum(1 for i in paired if s_off[i] > s_on[i])
        rep = sum(on[i]["hygiene"]["repeat_steps"] for i in ids)
        v6r = [v6[i]["score"] for i in ids if i in v6]
        print(f"| {task} | {len(paired)} | {sum(s_on.values()):.1f} | {sum(s_off.values()):.1f} | "
              f"{only_on} | {only_off} | {len(fired)} ({', '.join(i.split('-')[-1] for i in fired)}) | "
              f"{equal}/{len(checks)} | {rep} | {sum(v6r):.1f}/{len(v6r)} |")
        for k, v in (("n", len(paired)), ("on", sum(s_on.values())), ("off", sum(s_off.values())),
                     ("only_on", only_on), ("only_off", only_off), ("rep", rep)):
            tot[k] += v
            if task != "vt":
                niah[k] += v
    for name, t in (("niah_single_2/3", niah), ("all", tot)):
        print(f"| {name} | {t['n']} | {t['on']:.1f} | {t['off']:.1f} | {t['only_on']} | "
              f"{t['only_off']} | | | {t['rep']} | |")
    for name, t in (("niah_single_2/3", niah), ("niah_single_2/3 + vt", tot)):
        keep = t["only_on"] >= t["only_off"] and t["rep"] == 0
        print(f"\nDecision rule (pre-registered), {name}: better on {t['only_on']} >= better off "
              f"{t['only_off']} and on-arm repeat_steps {t['rep']} == 0: "
              f"{'holds: hygiene stays on' if keep else 'fails: hygiene goes off by default'} "
              f"({t['n']} paired samples).")
    on = records("on-8k")

    sel = records("select-8k")
    if sel:
        ids = sorted(sel, key=lambda i: int(i.split("-")[-1]))
        both = [i for i in ids if i in on]
        only_sel = sum(1 for i in both if sel[i]["score"] > on[i]["score"])
        only_gen = sum(1 for i in both if on[i]["score"] > sel[i]["score"])
        secs = sum(sel[i]["seconds"] for i in both) / max(len(both), 1)
        secs_on = sum(on[i]["seconds"] for i in both) / max(len(both), 1)
        print("\n## Exploratory: decision select vs generate (both hygiene on), niah_single_3 8K\n")
        print(f"n paired {len(both)}: select right {sum(sel[i]['score'] for i in both):.0f}, "
              f"generate right {sum(on[i]['score'] for i in both):.0f}; right only with select "
              f"{only_sel}, only with generate {only_gen}; {secs:.0f} s vs {secs_on:.0f} s per "
              "sample (one loaded core). No default changes (pre-registered: exploratory).")


main()
