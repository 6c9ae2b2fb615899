#!/usr/bin/env bash
# The results run, in resumable stages: each stage re-runs the same command with more samples or
# lengths; samples already in samples.jsonl are skipped. Run from the repository root.
set -euo pipefail
OUT=results/eval-smollm2
FIX=$OUT/hotpotqa_fixture.json
[ -f "$FIX" ] || python -c "from memagent.data.fixtures import write_hotpotqa_fixture as w; w('$FIX')"
COMMON=(--tasks niah_single_1,niah_single_2,niah_single_3,niah_multikey_1,vt,qa_2
        --methods memagent,full,rag --chunk 3000 --memory 128 --output 64 --window 8192
        --batch 4 --hotpotqa "$FIX" --out "$OUT")
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
memagent eval "${COMMON[@]}" --lengths 4k -n 4
memagent eval "${COMMON[@]}" --lengths 4k,8k -n 4
memagent eval "${COMMON[@]}" --lengths 4k,8k -n 20
memagent eval "${COMMON[@]}" --lengths 4k,8k,16k,32k,128k -n 20
