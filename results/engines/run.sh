#!/usr/bin/env bash
# The gate of issue 22: the int8 engine (--engine int8, llm/int8.py) on the held-out 8K cells of the
# five tasks of the current table, on the SAME samples as the committed float32 v6 cells
# (results/embedded-smollm2/v6-f32-8k, -8k-b, -8k-c, -vt: --split heldout, seed 0, n = 20 each),
# then paired counts against those float32 predictions (paired.py). From the repository root:
#   OMP_NUM_THREADS=1 nohup bash results/engines/run.sh > /tmp/engine-gate.log 2>&1 &
# Resumable: each eval skips the samples already in its --out; rerun to continue.
# Hygiene off (results/embedded-smollm2/hygiene/hygiene-off.toml): the float32 cells were run before
# memory hygiene existed, so the engine is the only thing that differs from them.
set -euo pipefail
OUT=results/engines/gate
REF=results/embedded-smollm2
A=(--profile smollm2-memagent --prompts $REF/hygiene/hygiene-off.toml --engine int8
   --split heldout --lengths 8k -n 20 --batch 10 --methods memagent)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
stage=${1:-all}
run() { [[ $stage == "$1" || $stage == all ]]; }
# First engine (commit 2338600: every decoder linear layer int8). Stopped after niah_single_1 and
# niah_single_2 (40 samples) once it had failed the gate (5 right only under float32); kept as run.
if [[ $stage == c ]]; then memagent eval "${A[@]}" --tasks niah_single_1 --out $OUT/int8-8k-c; fi
if [[ $stage == a ]]; then memagent eval "${A[@]}" --tasks niah_single_2,niah_single_3 --out $OUT/int8-8k; fi
# The engine as it is now (llm/int8.py FLOAT_LAYERS: the MLP's down projection stays float32), the
# same samples, the most sensitive cell first.
for task in niah_single_2 niah_single_1 niah_single_3 niah_multikey_1; do
  if run d-$task; then memagent eval "${A[@]}" --tasks $task --out $OUT/int8d-$task; fi
done
if run d-vt; then memagent eval "${A[@]}" --tasks vt --style release --out $OUT/int8d-vt; fi
if run pairs; then
  { echo "## int8, every decoder linear layer (first engine)"; echo
    python results/engines/paired.py int8; echo
    echo "## int8, the MLP's down projection float32 (the engine now)"; echo
    python results/engines/paired.py int8d; } > results/engines/gate.md
fi
