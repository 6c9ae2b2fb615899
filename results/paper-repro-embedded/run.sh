#!/bin/bash
cd /tmp/repro
export PYTHONPATH=/work/wt-paper/src OMP_NUM_THREADS=1
start=$(date +%s)
taskset -c 1 nice -n 5 python -m memagent.cli eval --samples hqa_100.jsonl --samples hqa_200.jsonl \
  --tasks hotpotqa --lengths 100,200 --methods memagent -n 5 --batch 5 --profile paper \
  --out /tmp/repro/eval-paper > eval.log 2>&1
echo "rc=$? wall=$(( $(date +%s) - start ))s" >> eval.log
