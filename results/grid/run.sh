#!/usr/bin/env bash
# The shipped embedded agent (v6 adapter, profile smollm2-memagent as shipped: bfloat16 where native,
# memory hygiene on, prompt-lookup decoding) on every RULER task memagent generates offline,
# held-out split (issues 22 and 23). One process per core, one thread each; every stage resumes
# where it stopped:   OMP_NUM_THREADS=1 bash results/grid/run.sh STAGE
set -euo pipefail
cd "$(dirname "$0")/../.."
GATE="niah_single_1,niah_single_2,niah_single_3,niah_multikey_1,vt"  # README's table
NEW="niah_multikey_2,niah_multikey_3,niah_multivalue,niah_multiquery,cwe,fwe"
COMMON=(--split heldout --methods memagent --batch 10)
case "${1:?stage}" in
  # the default decoder; the gate's five tasks first, then the rest of RULER's offline tasks
  shipped-8k)   memagent eval --tasks "$GATE" --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/shipped-8k
                memagent eval --tasks "$GATE,$NEW" --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/shipped-8k ;;
  # the decoder's gate (issue 22): the same samples and batches with transformers' generate
  plain-8k)     memagent eval --decoding plain --tasks "$GATE" --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/plain-8k ;;
  # lever 1 of issue 23 (PREREGISTRATION.md 2): 256-token chunks on shipped-8k's gate samples
  c256-8k)      memagent eval --chunk 256 --tasks "$GATE" --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/c256-8k ;;
  base-8k)      memagent eval --base --tasks "$NEW" --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/base-8k ;;
  shipped-32k)  memagent eval --tasks "$GATE,$NEW" --lengths 32k -n 10 --seed 1 "${COMMON[@]}" --out results/grid/shipped-32k ;;
  shipped-128k) memagent eval --tasks "$GATE" --lengths 128k -n 10 --seed 1 "${COMMON[@]}" --out results/grid/shipped-128k ;;
  *) echo "unknown stage $1" >&2; exit 2 ;;
esac
