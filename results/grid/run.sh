#!/usr/bin/env bash
# The shipped embedded agent (v6 adapter, profile smollm2-memagent as shipped: bfloat16 where native,
# memory hygiene on) on every RULER task memagent generates offline, held-out split (issue 23).
# One process per core, one thread each; every stage resumes where it stopped.
#   OMP_NUM_THREADS=1 bash results/grid/run.sh STAGE
set -euo pipefail
cd "$(dirname "$0")/../.."
ALL8="niah_single_1,niah_single_2,niah_single_3,niah_multikey_1,niah_multikey_2,niah_multikey_3,niah_multivalue,niah_multiquery,vt,cwe,fwe"
COMMON=(--split heldout --methods memagent --batch 10)
case "${1:?stage}" in
  shipped-8k)  memagent eval --tasks "$ALL8" --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/shipped-8k ;;
  # the decoder's gate (issue 22): the five tasks of README's table with prompt-lookup decoding, the
  # samples of shipped-8k (which ran with transformers' generate, the code before lookup_decode.py)
  lookup-8k)   memagent eval --tasks niah_single_1,niah_single_2,niah_single_3,niah_multikey_1,vt --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/lookup-8k ;;
  base-8k)     memagent eval --base --tasks "$ALL8" --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/base-8k ;;
  shipped-32k) memagent eval --tasks "$ALL8" --lengths 32k -n 10 --seed 1 "${COMMON[@]}" --out results/grid/shipped-32k ;;
  shipped-128k) memagent eval --tasks niah_single_1,niah_single_2,niah_single_3,niah_multikey_1,vt --lengths 128k -n 10 --seed 1 "${COMMON[@]}" --out results/grid/shipped-128k ;;
  *) echo "unknown stage $1" >&2; exit 2 ;;
esac
