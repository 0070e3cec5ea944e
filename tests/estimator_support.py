"""Test support: a tiny regression model_fn and its data (imported by bare name: tests/ is on sys.path)."""

from __future__ import annotations

import torch

import torchestimator as te


class TinyRegressor(torch.nn.Module):
    """y = w·x + b with SGD; dropout optional to exercise RNG state."""

    def __init__(self, params: dict | None = None) -> None:
        super().__init__()
        params = params or {}
        self.layer = torch.nn.Linear(3, 1)
        self.dropout = torch.nn.Dropout(params.get("dropout", 0.0))
        opt = params.get("optimizer", "sgd")
        lr = params.get("lr", 0.05)
        self.optimizer = (
            torch.optim.Adam(self.parameters(), lr=lr)
            if opt == "adam"
            else torch.optim.SGD(self.parameters(), lr=lr)
        )

    def forward(self, features, labels=None, mode=te.ModeKeys.TRAIN):
        y = self.layer(self.dropout(features["x"]))  # (B, 1)
        if mode == te.ModeKeys.PREDICT:
            return te.EstimatorSpec(mode, predictions={"y": y, "x": features["x"]})
        loss = torch.mean((y - labels) ** 2)
        return te.EstimatorSpec(
            mode, loss=loss, train_op=self.optimizer, eval_metric_ops={"mae": (y - labels).abs().mean()}
        )


def make_batches(n_batches: int = 8, batch: int = 4, seed: int = 0) -> list[tuple[dict, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    w = torch.tensor([[1.0], [-2.0], [0.5]])
    for _ in range(n_batches):
        x = torch.randn(batch, 3, generator=g)
        out.append(({"x": x}, x @ w + 0.3))
    return out
