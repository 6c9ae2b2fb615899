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
if run c; then memagent eval "${A[@]}" --tasks niah_single_1 --out $OUT/int8-8k-c; fi
if run a; then memagent eval "${A[@]}" --tasks niah_single_2,niah_single_3 --out $OUT/int8-8k; fi
if run b; then memagent eval "${A[@]}" --tasks niah_multikey_1 --out $OUT/int8-8k-b; fi
if run vt; then memagent eval "${A[@]}" --tasks vt --style release --out $OUT/int8-vt; fi
if run pairs; then python results/engines/paired.py > results/engines/gate.md; fi
