"""Ranks for tests/data/test_data_ddp.py: train a small MLP under DDP from a te.data input_fn."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import torchestimator as te

GLOBAL_BATCH = 8
ROWS = 96


class MLP(torch.nn.Module):
    """A small regressor with Adam."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        self.optimizer = torch.optim.Adam(self.parameters(), lr=0.01)

    def forward(self, features: dict[str, torch.Tensor], labels: Any = None, mode: str = "train") -> Any:
        y = self.net(features["x"].float())  # (B, 1)
        loss = torch.mean((y[:, 0] - labels.float()) ** 2)
        return te.EstimatorSpec(mode, loss=loss, train_op=self.optimizer)


def columns() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((ROWS, 4)).astype(np.float32)
    return x, np.sin(x.sum(1)).astype(np.float32)


def sharded_input_fn(input_context: Any = None) -> te.data.Dataset:
    """TF's idiom: shard the rows by input pipeline, batch per replica."""
    x, y = columns()
    ds = te.data.Dataset.from_tensor_slices(({"x": x}, y))
    if input_context is not None:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        return ds.batch(input_context.get_per_replica_batch_size(GLOBAL_BATCH))
    return ds.batch(GLOBAL_BATCH)


def global_input_fn() -> te.data.Dataset:
    """What one process would read: the global batches (rows 0-7, 8-15, ...)."""
    x, y = columns()
    return te.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(GLOBAL_BATCH)


def train_rank(model_dir: str, steps: int) -> dict[str, list[Any]]:
    config = te.RunConfig(train_distribute="ddp", save_checkpoints_steps=None, save_checkpoints_secs=None)
    est = te.Estimator(MLP, model_dir=model_dir, config=config)
    est.train(sharded_input_fn, max_steps=steps)
    return {k: v.tolist() for k, v in est.model.state_dict().items() if isinstance(v, torch.Tensor)}
