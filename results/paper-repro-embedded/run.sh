#!/bin/bash
# The end-to-end check of docs/paper-differences.md ("Checked here end to end"), run from a scratch
# directory. Samples: memagent's HotpotQA-format fixture, release-style documents.
set -e
python -c "from memagent.data.fixtures import write_hotpotqa_fixture as w; w('hotpot_fixture.json')"
memagent data hotpotqa --source hotpot_fixture.json --docs 100 --n 5 --style release -o hqa_100.jsonl
memagent data hotpotqa --source hotpot_fixture.json --docs 200 --n 5 --style release -o hqa_200.jsonl
# 7K (100 documents) ran first, batched, with the adapter shipped then; 14K (200 documents) with
# the current one, in float32, one sample at a time (the same --out resumes: finished samples are
# skipped).
OMP_NUM_THREADS=1 memagent eval --samples hqa_100.jsonl --samples hqa_200.jsonl \
  --tasks hotpotqa --lengths 100,200 --methods memagent -n 5 --batch 1 --profile paper --dtype float32 \
  --out eval-paper
