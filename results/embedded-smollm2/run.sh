#!/usr/bin/env bash
# Evaluation of the embedded memory agent on the held-out split, in resumable stages, from the
# repository root. Every stage re-runs `memagent eval` into its own --out; finished samples are
# skipped, so a stage can be stopped and rerun. One thread per process, one process per core.
#   trained:  the default (embedded model + shipped adapter, profile smollm2-memagent)
#   base:     --base (the same model without the adapter, same profile and prompts)
# RULER tasks are held out by construction (RULER's needle template, noise and essay haystack are
# never trained on); --split heldout also draws their keys and values from the held-out partition.
set -euo pipefail
OUT=results/embedded-smollm2
RULER=niah_single_1,niah_single_2,niah_single_3,niah_multikey_1,vt
COMMON=(--split heldout --dtype bfloat16 --methods memagent)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
stage=${1:-all}
case $stage in
  trained-8k|all) memagent eval --tasks $RULER --lengths 8k -n 10 --batch 10 "${COMMON[@]}" --out $OUT/trained-8k ;;&
  base-8k|all) memagent eval --base --tasks $RULER --lengths 8k -n 5 --batch 5 "${COMMON[@]}" --out $OUT/base-8k ;;&
  trained-episodes|all) memagent eval --tasks episodes_train,episodes_heldout --lengths 4k -n 10 --batch 10 "${COMMON[@]}" --out $OUT/trained-episodes ;;&
  base-episodes|all) memagent eval --base --tasks episodes_train,episodes_heldout --lengths 4k -n 5 --batch 10 "${COMMON[@]}" --out $OUT/base-episodes ;;&
  trained-long|all) memagent eval --tasks niah_single_1 --lengths 32k -n 3 --batch 3 "${COMMON[@]}" --out $OUT/trained-long ;;&
  *) ;;
esac
