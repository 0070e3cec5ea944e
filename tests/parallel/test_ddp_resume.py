"""DDP (2 processes, gloo) with dropout, SIGKILLed and restarted by torchrun: bit-identical to an uninterrupted run.

Every rank's RNG state is gathered into each checkpoint and restored on its own rank, so the dropout masks
after the restart are the ones the uninterrupted run drew.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torchestimator.checkpoint import load_checkpoint
from torchestimator.parallel.launch import launch_env

WORKER = str(Path(__file__).resolve().parent / "ddp_worker.py")
ROOT = str(Path(__file__).resolve().parents[2])  # this checkout's package, not another installed copy
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]

pytestmark = pytest.mark.slow


def _launch(mode: str, model_dir: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    out.mkdir(exist_ok=True)
    return subprocess.run(
        [*TORCHRUN, *extra, WORKER, mode, str(model_dir), str(out)],
        env=launch_env(
            {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
        ),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_sigkilled_ddp_run_with_dropout_resumes_bit_identical(tmp_path: Path) -> None:
    ref = _launch("dropout_ref", tmp_path / "ref", tmp_path / "out")
    assert ref.returncode == 0, ref.stderr[-3000:]
    killed = _launch("dropout_killed", tmp_path / "killed", tmp_path / "out", "--max-restarts=1")
    assert killed.returncode == 0, killed.stderr[-3000:]
    assert "exitcode: -9" in killed.stderr or "Signal 9" in killed.stderr or "SIGKILL" in killed.stderr
    for rank in (0, 1):
        result = json.loads((tmp_path / "out" / f"dropout_killed_rank{rank}.json").read_text())
        assert result["restart_count"] == 1  # only the restarted group finishes
    a = load_checkpoint(str(tmp_path / "ref" / "model.ckpt-12"))
    b = load_checkpoint(str(tmp_path / "killed" / "model.ckpt-12"))
    assert set(a.rng["ranks"]) == set(b.rng["ranks"]) == {"0", "1"}
    for key, value in a.model.items():
        torch.testing.assert_close(b.model[key], value, rtol=0, atol=0, msg=key)
    slots_a, slots_b = a.optimizers["optimizer"]["state"], b.optimizers["optimizer"]["state"]
    assert slots_a.keys() == slots_b.keys() and slots_a
    for idx, slots in slots_a.items():
        for key, value in slots.items():
            torch.testing.assert_close(
                torch.as_tensor(slots_b[idx][key]), torch.as_tensor(value), rtol=0, atol=0, msg=f"{idx}/{key}"
            )
    # the resumed ranks drew the masks of the uninterrupted run: the final RNG states agree too
    assert a.rng["ranks"]["1"]["torch"] == b.rng["ranks"]["1"]["torch"]
