#!/usr/bin/env bash
# The shipped embedded agent (v6 adapter, profile smollm2-memagent as shipped: bfloat16 where native,
# memory hygiene on, prompt-lookup decoding) on every RULER task memagent generates offline,
# held-out split (issues 22 and 23). One process per core, one thread each; every stage resumes
# where it stopped:   OMP_NUM_THREADS=1 bash results/grid/run.sh STAGE
# vt and cwe use the release's question texts (--style release), as README's table does: RULER's
# own vt and cwe questions carry worked examples (542 and 1,205 tokens), over the embedded
# profile's 256-token query budget, so every such sample is a budget error.
set -euo pipefail
cd "$(dirname "$0")/../.."
NEEDLES="niah_single_1,niah_single_2,niah_single_3,niah_multikey_1"  # README's table, with vt
NEW="niah_multikey_2,niah_multikey_3,niah_multivalue,niah_multiquery,fwe"
COMMON=(--split heldout --methods memagent --batch 10)
REL=(--style release)
case "${1:?stage}" in
  # the default decoder
  shipped-8k)     memagent eval --tasks "$NEEDLES,$NEW" --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/shipped-8k ;;
  shipped-rel-8k) memagent eval --tasks vt,cwe --lengths 8k -n 20 --seed 0 "${REL[@]}" "${COMMON[@]}" --out results/grid/shipped-rel-8k ;;
  # the decoder's gate (issue 22): the same samples and batches with transformers' generate
  plain-8k)       memagent eval --decoding plain --tasks "$NEEDLES" --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/plain-8k ;;
  plain-rel-8k)   memagent eval --decoding plain --tasks vt --lengths 8k -n 20 --seed 0 "${REL[@]}" "${COMMON[@]}" --out results/grid/plain-rel-8k ;;
  # lever 1 of issue 23 (PREREGISTRATION.md 2): 256-token chunks on the gate's samples
  c256-8k)        memagent eval --chunk 256 --tasks "$NEEDLES" --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/c256-8k ;;
  c256-rel-8k)    memagent eval --chunk 256 --tasks vt --lengths 8k -n 20 --seed 0 "${REL[@]}" "${COMMON[@]}" --out results/grid/c256-rel-8k ;;
  # lever 2 of issue 23 (PREREGISTRATION.md 3): decision "select" on the same samples
  select-8k)      memagent eval --prompts results/grid/select.toml --tasks "$NEEDLES" --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/select-8k ;;
  select-rel-8k)  memagent eval --prompts results/grid/select.toml --tasks vt --lengths 8k -n 20 --seed 0 "${REL[@]}" "${COMMON[@]}" --out results/grid/select-rel-8k ;;
  select-new-8k)  memagent eval --prompts results/grid/select.toml --tasks niah_multikey_2,niah_multikey_3,niah_multivalue --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/select-new-8k ;;
  # lever 3 of issue 23 (PREREGISTRATION.md 4): hard negatives, adapter v8 (configs/rl/sft-smollm2-v8.yaml)
  v8-8k)          memagent eval --adapter runs/sft-smollm2-v8/final --profile smollm2-memagent --prompts results/grid/v6-answers.toml --tasks "$NEEDLES" --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/v8-8k ;;
  v8-rel-8k)      memagent eval --adapter runs/sft-smollm2-v8/final --profile smollm2-memagent --prompts results/grid/v6-answers.toml --tasks vt --lengths 8k -n 20 --seed 0 "${REL[@]}" "${COMMON[@]}" --out results/grid/v8-rel-8k ;;
  v8-new-8k)      memagent eval --adapter runs/sft-smollm2-v8/final --profile smollm2-memagent --prompts results/grid/v6-answers.toml --tasks niah_multikey_2,niah_multikey_3,niah_multivalue --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/v8-new-8k ;;
  v8-32k)         memagent eval --adapter runs/sft-smollm2-v8/final --profile smollm2-memagent --prompts results/grid/v6-answers.toml --tasks "$NEEDLES" --lengths 32k -n 10 --seed 1 "${COMMON[@]}" --out results/grid/v8-32k ;;
  base-8k)        memagent eval --base --tasks "$NEW" --lengths 8k -n 20 --seed 0 "${COMMON[@]}" --out results/grid/base-8k ;;
  shipped-32k)    memagent eval --tasks "$NEEDLES" --lengths 32k -n 10 --seed 1 "${COMMON[@]}" --out results/grid/shipped-32k ;;
  shipped-rel-32k) memagent eval --tasks vt --lengths 32k -n 10 --seed 1 "${REL[@]}" "${COMMON[@]}" --out results/grid/shipped-rel-32k ;;
  shipped-128k)   memagent eval --tasks "$NEEDLES" --lengths 128k -n 10 --seed 1 "${COMMON[@]}" --out results/grid/shipped-128k ;;
  # issue 22's 1M target: one held-out 1M-token document (niah_single_1, the sample of v6-f32-1m)
  shipped-1m)     memagent eval --tasks niah_single_1 --lengths 1m -n 1 --seed 1 "${COMMON[@]}" --out results/grid/shipped-1m ;;
  *) echo "unknown stage $1" >&2; exit 2 ;;
esac
