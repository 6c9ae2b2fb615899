"""The multi-process learner path on this machine: 2 CPU processes (gloo) via torchrun.

Both ranks must end the step with identical weights, and the same gradient as one process
training on the whole batch: the loss weights are global, so sharding conversations
across ranks and accumulating micro-batches must not change the token (or episode) mean.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).parents[1] / "rl_ddp_worker.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch(nproc: int, out: Path, aggregation: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
        "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(WORKER), str(out),
        aggregation,
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("aggregation", ["token", "episode"])
def test_two_gloo_processes_agree_with_each_other_and_with_one(
    tmp_path: Path, aggregation: str
) -> None:
    _launch(2, tmp_path, aggregation)
    _launch(1, tmp_path, aggregation)
    r0, r1 = (torch.load(tmp_path / f"rank{r}-of2.pt") for r in (0, 1))
    single = torch.load(tmp_path / "rank0-of1.pt")
    assert torch.equal(r0["weights"], r1["weights"])  # DDP kept the replicas identical
    # Same gradient as one process on the whole batch (up to summation order). Weights after
    # AdamW are not compared: its first step is lr * sign(g), which flips on rounding noise.
    assert torch.allclose(r0["grad"], single["grad"], rtol=1e-4, atol=1e-7)
    assert r0["grad"].abs().max() > 1e-4  # and there was a gradient to compare
    assert r0["metrics"]["optimizer_steps"] == 1.0
