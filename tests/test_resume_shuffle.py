"""SIGKILL + restart with the default (unseeded) shuffle: no row re-read or skipped, and a bit-identical result.

The shuffle seed a train() call used is recorded in every checkpoint's input state, so the restarted call
replays the same order and skips exactly the batches already trained on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torchestimator import checkpoint as ck

HERE = Path(__file__).resolve().parent
CHILD = str(HERE / "kill_resume_shuffle_child.py")
# the children import this checkout's package (not another installed copy) and the test support modules
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}

pytestmark = pytest.mark.slow


def _steps(lines: list[str]) -> dict[int, list[int]]:
    out = {}
    for line in lines:
        if line.startswith("step "):
            _, step, _, ids = line.split()
            out[int(step)] = [int(i) for i in ids.split(",")]
    return out


def _run(model_dir: Path, max_steps: int, seed: str) -> dict[int, list[int]]:
    proc = subprocess.run(
        [sys.executable, CHILD, str(model_dir), str(max_steps), "0", seed],
        env=ENV,
        timeout=120,
        capture_output=True,
        text=True,
        check=True,
    )
    return _steps(proc.stdout.splitlines())


def _run_killed(model_dir: Path, max_steps: int, seed: str, kill_after: int) -> dict[int, list[int]]:
    proc = subprocess.Popen(
        [sys.executable, CHILD, str(model_dir), str(max_steps), "0.05", seed],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(f"step {kill_after} "):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return _steps(lines)


def test_resumed_epoch_reads_every_row_exactly_once_without_any_seed(tmp_path):
    before = _run_killed(tmp_path, 12, "none", kill_after=8)  # 6 steps per epoch; checkpoints every 5
    resumed_from = ck.load_checkpoint(str(tmp_path)).global_step
    assert resumed_from == 5
    after = _run(tmp_path, 12, "none")
    assert min(after) == resumed_from + 1 and max(after) == 12
    trained = {**{s: ids for s, ids in before.items() if s <= resumed_from}, **after}
    for epoch in range(2):
        rows = [i for step in range(6 * epoch + 1, 6 * epoch + 7) for i in trained[step]]
        assert sorted(rows) == list(range(48)), f"epoch {epoch}: re-read or skipped rows"


def test_sigkill_with_unseeded_shuffle_resumes_bit_identical(tmp_path):
    _run(tmp_path / "ref", 20, "3")
    _run_killed(tmp_path / "killed", 20, "3", kill_after=13)
    _run(tmp_path / "killed", 20, "3")
    a, b = ck.load_checkpoint(str(tmp_path / "ref")), ck.load_checkpoint(str(tmp_path / "killed"))
    assert a.global_step == b.global_step == 20
    for key, value in a.model.items():
        torch.testing.assert_close(b.model[key], value, rtol=0, atol=0, msg=key)
    slots_a, slots_b = a.optimizers["optimizer"]["state"], b.optimizers["optimizer"]["state"]
    assert slots_a and slots_a.keys() == slots_b.keys()
    for idx, slots in slots_a.items():
        for key, value in slots.items():
            torch.testing.assert_close(
                torch.as_tensor(slots_b[idx][key]), torch.as_tensor(value), rtol=0, atol=0, msg=f"{idx}/{key}"
            )
