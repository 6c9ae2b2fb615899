#!/usr/bin/env bash
# Memory hygiene on vs off, v6 (the shipped adapter) under smollm2-memagent, as pre-registered in
# PREREGISTRATION.md (committed before any stage below ran). From the repository root:
#   OMP_NUM_THREADS=1 nohup bash results/embedded-smollm2/hygiene/run.sh > /tmp/hygiene.log 2>&1 &
# Resumable: every eval stage skips the samples already in its --out; rerun to continue.
set -euo pipefail
H=results/embedded-smollm2/hygiene
OFF=(--prompts $H/hygiene-off.toml)
COMMON=(--split heldout --lengths 8k --batch 1 --methods memagent)  # dtype: the profile's (bfloat16 here)
Q="What is the special magic number for crystal-mango mentioned in the provided text?"  # README's, verbatim
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
stage=${1:-all}
run() { [[ $stage == "$1" || $stage == all ]]; }
if run readme; then  # README's example: reported, never tuned on
  [[ -s $H/readme-on.json ]] || memagent ask examples/needle-8k.txt -q "$Q" --trace $H/readme-on.trace.jsonl --json > $H/readme-on.json
  [[ -s $H/readme-off.json ]] || memagent ask examples/needle-8k.txt -q "$Q" "${OFF[@]}" --trace $H/readme-off.trace.jsonl --json > $H/readme-off.json
fi
for task in niah_single_2 niah_single_3; do
  if run $task; then
    memagent eval --tasks $task -n 20 "${COMMON[@]}" --out $H/on-8k
    python $H/subset.py $H/on-8k $task 8192 $H/off-$task.samples.jsonl 2 | tee $H/off-$task.subset.json
    memagent eval --tasks $task -n 20 "${COMMON[@]}" "${OFF[@]}" --samples $H/off-$task.samples.jsonl --out $H/off-8k
  fi
done
# Exploratory (PREREGISTRATION.md, addendum): decision "select" on the first 10 niah_single_3 samples.
if [[ $stage == select ]]; then
  SEL=(--prompts $H/select.toml)
  [[ -s $H/readme-select.json ]] || memagent ask examples/needle-8k.txt -q "$Q" "${SEL[@]}" --trace $H/readme-select.trace.jsonl --json > $H/readme-select.json
  memagent eval --tasks niah_single_3 -n 10 "${COMMON[@]}" "${SEL[@]}" --out $H/select-8k
fi
# Addendum 2 (PREREGISTRATION.md): vt at 8K, release texts, first 10 of v6's samples.
if [[ $stage == vt ]]; then
  memagent eval --tasks vt -n 10 --style release "${COMMON[@]}" --out $H/on-vt-8k
  python $H/subset.py $H/on-vt-8k vt 8192 $H/off-vt.samples.jsonl 2 release | tee $H/off-vt.subset.json
  memagent eval --tasks vt -n 10 --style release "${COMMON[@]}" "${OFF[@]}" --samples $H/off-vt.samples.jsonl --out $H/off-vt-8k
fi
