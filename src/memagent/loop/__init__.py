"""The memory loop: a `Job` per question, the `Scheduler` that batches every job's next request,
the `MemAgent` facade over both, and the JSONL traces that record and resume each step."""
