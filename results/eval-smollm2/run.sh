#!/usr/bin/env bash
# The results run, in resumable stages, from the repository root. Each stage re-runs `memagent eval`
# with more samples or lengths into the same --out; samples already in samples.jsonl are skipped.
# Stages 1-2 ran here (2 CPU cores, one thread per process); stage 3 is the full grid, which
# this machine cannot afford (README.md: ~145 core-hours) and a GPU runs in minutes.
set -euo pipefail
OUT=results/eval-smollm2
FIX=$OUT/hotpotqa_fixture.json
[ -f "$FIX" ] || python -c "from memagent.data.fixtures import write_hotpotqa_fixture as w; w('$FIX')"
BUDGETS=(--chunk 3000 --memory 128 --output 64 --window 8192 --hotpotqa "$FIX")
ALL=niah_single_1,niah_single_2,niah_single_3,niah_multikey_1,vt,qa_2
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
stage=${1:-all}
if [[ $stage == 1 || $stage == all ]]; then   # 3 tasks at 4K, n=4 (stopped by hand after niah_single_3)
  memagent eval --tasks $ALL --methods memagent,full,rag "${BUDGETS[@]}" --batch 4 --out $OUT --lengths 4k -n 4
fi
if [[ $stage == 2 || $stage == all ]]; then   # niah_single_1 length sweep, two processes
  memagent eval --tasks niah_single_1 --methods memagent,full,rag "${BUDGETS[@]}" --batch 5 --out $OUT --lengths 4k,8k,16k -n 10
  memagent eval --tasks niah_single_1 --methods memagent,full,rag "${BUDGETS[@]}" --batch 6 --out $OUT-32k --lengths 32k -n 6
  memagent report $OUT --merge $OUT-32k
fi
if [[ $stage == 3 || $stage == all ]]; then   # the grid (+ 1m for niah_single_1)
  memagent eval --tasks $ALL --methods memagent,full,rag "${BUDGETS[@]}" --batch 8 --out $OUT --lengths 4k,8k,16k,32k,128k -n 20
  memagent eval --tasks niah_single_1 --methods memagent,full,rag "${BUDGETS[@]}" --batch 8 --out $OUT --lengths 1m -n 20
fi
