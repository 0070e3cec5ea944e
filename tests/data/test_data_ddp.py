"""A te.data input_fn sharded by input_context under two-process DDP (CPU / gloo) trains exactly as one
process fed the global batches (the oracle: a plain single-process Estimator)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

import torchestimator as te

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import data_ddp_worker  # noqa: E402


@pytest.mark.slow
def test_sharded_dataset_under_ddp_matches_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchestimator.parallel.launch import run_local

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    steps = 10
    results = run_local(data_ddp_worker.train_rank, nproc=2, args=(str(tmp_path / "ddp"), steps))
    config = te.RunConfig(save_checkpoints_steps=None, save_checkpoints_secs=None)
    oracle = te.Estimator(data_ddp_worker.MLP, model_dir=str(tmp_path / "one"), config=config)
    oracle.train(data_ddp_worker.global_input_fn, max_steps=steps)
    for rank in (0, 1):
        for name, value in oracle.model.state_dict().items():
            if isinstance(value, torch.Tensor):
                torch.testing.assert_close(
                    torch.tensor(results[rank][name]), value, rtol=1e-5, atol=1e-6, msg=name
                )
