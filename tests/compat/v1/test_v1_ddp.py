"""A function model_fn (te.compat.v1: input_layer with a sparse embedding, dense layers, v1 Adagrad, v1 accuracy)
under 2-process DDP (gloo) ends with the parameters and metrics of one process fed the same global batches: the
layers are built before DDP wraps the model, and the streamed metric is reduced across ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import torchestimator as te
from torchestimator.parallel.launch import launch_env

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import v1_ddp_worker as worker  # noqa: E402

pytestmark = pytest.mark.slow


def test_function_model_fn_under_ddp_matches_single_process(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        str(HERE / "v1_ddp_worker.py"),
        str(tmp_path / "m"),
        str(out),
    ]
    env = launch_env()
    env["PYTHONPATH"] = os.pathsep.join(
        [str(HERE.parents[2]), env.get("PYTHONPATH", "")]
    )  # this checkout's package
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    oracle = te.Estimator(worker.model_fn, model_dir=str(tmp_path / "oracle"), config=worker.config(None))
    oracle.train(lambda: iter(worker.global_batches()), max_steps=worker.N_BATCHES)
    expected = oracle.evaluate(lambda: iter(worker.global_batches()), steps=6)
    for rank in (0, 1):
        r = json.loads((out / f"rank{rank}.json").read_text())
        assert r["world_size"] == 2 and r["global_step"] == worker.N_BATCHES
        state = {k: v for k, v in oracle.model.state_dict().items() if isinstance(v, torch.Tensor)}
        assert sorted(r["params"]) == sorted(state)
        for key, value in state.items():
            torch.testing.assert_close(torch.tensor(r["params"][key]), value, rtol=1e-5, atol=1e-6, msg=key)
        assert r["eval"]["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-6)
        assert r["eval"]["loss"] == pytest.approx(expected["loss"], rel=1e-5)
