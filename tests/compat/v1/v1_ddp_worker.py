"""A TF1-style function model_fn (te.compat.v1) trained under 2-process DDP by tests/compat/v1/test_v1_ddp.py.

Usage: ``python v1_ddp_worker.py MODEL_DIR OUT_DIR``; every rank writes ``OUT_DIR/rank<r>.json``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

import torchestimator as te

v1 = te.compat.v1
GLOBAL_BATCH = 8
N_BATCHES = 16


def model_fn(features, labels, mode, params):
    cat = v1.feature_column.categorical_column_with_hash_bucket("cat", 20, dtype="int64")
    columns = [v1.feature_column.numeric_column("x", shape=(3,)), v1.feature_column.embedding_column(cat, 2)]
    net = v1.feature_column.input_layer(features, columns)
    net = v1.layers.dense(net, 6, activation=v1.nn.relu)
    logits = v1.layers.dense(net, 2)
    if mode == v1.estimator.ModeKeys.PREDICT:
        return v1.estimator.EstimatorSpec(mode, predictions={"logits": logits})
    loss = v1.losses.sparse_softmax_cross_entropy(labels, logits)
    accuracy = v1.metrics.accuracy(labels, v1.argmax(logits, 1))
    train_op = v1.train.AdagradOptimizer(0.1).minimize(loss, global_step=v1.train.get_global_step())
    return v1.estimator.EstimatorSpec(
        mode, loss=loss, train_op=train_op, eval_metric_ops={"accuracy": accuracy}
    )


def global_batches() -> list[tuple[dict[str, Any], Any]]:
    g = torch.Generator().manual_seed(3)
    out = []
    for _ in range(N_BATCHES):
        x = torch.randn(GLOBAL_BATCH, 3, generator=g)  # (B, 3)
        cat = torch.randint(0, 12, (GLOBAL_BATCH,), generator=g)  # (B,)
        y = ((x[:, 0] + (cat % 3 == 0)) > 0.5).long()  # (B,)
        out.append(({"x": x.numpy(), "cat": cat.numpy()}, y.numpy()))
    return out


def sharded_input_fn(input_context: Any = None) -> Any:
    n = input_context.num_input_pipelines if input_context else 1
    i = input_context.input_pipeline_id if input_context else 0
    per = GLOBAL_BATCH // n
    for features, y in global_batches():
        yield {k: v[i * per : (i + 1) * per] for k, v in features.items()}, y[i * per : (i + 1) * per]


def config(distribute: str | None) -> te.RunConfig:
    return te.RunConfig(
        tf_random_seed=7,
        train_distribute=distribute,
        save_checkpoints_steps=None,
        save_checkpoints_secs=None,
        log_step_count_steps=None,
        save_summary_steps=None,
    )


def main() -> None:
    model_dir, out_dir = sys.argv[1], Path(sys.argv[2])
    rank = int(os.environ.get("RANK", "0"))
    est = te.Estimator(model_fn, model_dir=model_dir, config=config("ddp"))
    est.train(sharded_input_fn, max_steps=N_BATCHES)
    result = {
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "global_step": est.global_step,
        "params": {k: v.tolist() for k, v in est.model.state_dict().items() if isinstance(v, torch.Tensor)},
        "eval": est.evaluate(sharded_input_fn, steps=6),
    }
    (out_dir / f"rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
