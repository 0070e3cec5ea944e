"""SIGKILL mid-training, restart: the result is bit-identical to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torchestimator import checkpoint as ck

CHILD = str(Path(__file__).with_name("kill_resume_child.py"))
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent.parent), str(Path(__file__).parent)]),
}


def _run(model_dir, max_steps=40, delay=0.0):
    subprocess.run(
        [sys.executable, CHILD, str(model_dir), str(max_steps), str(delay)],
        check=True,
        env=ENV,
        timeout=120,
        capture_output=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [13, 21])
def test_sigkill_and_restart_is_bit_identical(tmp_path, kill_after):
    _run(tmp_path / "ref")
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, CHILD, str(killed), "40", "0.02"], stdout=subprocess.PIPE, text=True, env=ENV
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == f"step {kill_after}":
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    last = ck.load_checkpoint(str(killed))  # loadable right after the kill
    assert last.global_step <= kill_after
    _run(killed)  # restart: resumes from the last complete checkpoint
    a, b = ck.load_checkpoint(str(tmp_path / "ref")), ck.load_checkpoint(str(killed))
    assert a.global_step == b.global_step == 40
    for key, value in a.model.items():
        torch.testing.assert_close(b.model[key], value, rtol=0, atol=0, msg=key)
