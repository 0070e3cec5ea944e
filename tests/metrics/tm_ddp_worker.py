"""Run by tests/metrics/test_streamed_vs_tf.py under two processes: every rank evaluates its shard of TF's eval
set with te.metrics objects and torchmetrics metrics; returns its results (identical on every rank)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

import torchestimator as te

FIX = Path(__file__).parents[1] / "fixtures" / "hooks_compat" / "tf_streamed_metrics.json"


class ShardModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        import torchmetrics

        self.w = torch.nn.Parameter(torch.zeros(()))
        self.tm_rmse = torchmetrics.MeanSquaredError(squared=False)
        self.tm_acc = torchmetrics.classification.BinaryAccuracy()

    def forward(self, features: dict[str, torch.Tensor], labels: Any = None, mode: str = "eval") -> Any:
        f = features
        classes = (f["probs"] > 0.5).float()
        self.tm_rmse.update(f["preds"], f["targets"])
        self.tm_acc.update(classes, labels)
        ops = {
            "rmse": te.metrics.root_mean_squared_error(f["targets"], f["preds"]),
            "auc": te.metrics.auc(labels, f["probs"]),
            "tm_rmse": self.tm_rmse,
            "tm_acc": self.tm_acc,
        }
        return te.EstimatorSpec(mode, loss=(self.w * f["preds"]).mean(), eval_metric_ops=ops)


def evaluate_shard(model_dir: str) -> dict[str, float]:
    fix = json.loads(FIX.read_text())
    data = {k: np.asarray(v, np.float32) for k, v in fix["data"].items()}
    batch = fix["batch_size"]

    def input_fn(input_context: Any = None) -> Any:
        n, i = input_context.num_input_pipelines, input_context.input_pipeline_id
        per = batch // n
        for start in range(0, len(data["labels"]), batch):
            f = {k: torch.from_numpy(v[start + i * per : start + (i + 1) * per]) for k, v in data.items()}
            yield f, f["labels"]

    config = te.RunConfig(train_distribute="ddp", allow_untrained=True, progress_bar=False)
    est = te.Estimator(ShardModel(), model_dir=model_dir, config=config)
    results = est.evaluate(input_fn)
    est._strategy.teardown()
    return {k: float(v) for k, v in results.items() if k != "global_step"}
