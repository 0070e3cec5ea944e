"""Pre-made estimator training throughput vs TF 2.15 in the same run (prints numbers; asserts nothing).

On the synthetic benchmark (scripts/synthetic_data.py: 10 numeric + 10 hashed int64 columns, vocab 10..100k,
batch 512), in one invocation:

1. ``DNNClassifier([256, 128, 64])`` on numeric_column x 10 + embedding_column(hash_bucket, 16) x 10, Adagrad
   (TF's defaults), ours and TF 2.15's (a worker subprocess in the TF venv: scripts/_bench_tf.py);
2. ``LinearClassifier`` (FTRL, TF's default) on the numerics + the 10 hash-bucket columns, ours and TF's;
3. a hand-written torch loop: ONE ``EmbeddingBag(sparse=True)`` over the 10 tables (row offsets, ids hashed once
   up front) + the numerics -> DNN [256, 128, 64] -> logit, torch's Adagrad, under the same thread policy as
   ours: RunConfig's 'auto' by default, N with --threads N.

Each figure is the steady rate over the steps after ``--warmup`` of a train call (input pipeline included on
both sides; graph building, first checkpoint and optimizer slots excluded on both). The sides are timed
interleaved ``--repeats`` times; medians and ratios are printed. ``--threads 0`` (default) leaves each side its
default threading (ours: ``RunConfig``'s thread policy; TF: its default session); ``--threads N`` sets N intra-op
threads on both (TF: intra and inter op).

Usage::

    .venv/bin/python scripts/bench_premade.py [--rows 200000] [--threads 0] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

warnings.filterwarnings("ignore", message="Sparse invariant checks")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench_tf as bt  # noqa: E402
from _bench_cases import synthetic_columns  # noqa: E402
from synthetic_data import (  # noqa: E402
    BATCH_SIZE,
    CATEGORICAL_KEYS,
    EMBEDDING_DIM,
    HIDDEN_UNITS,
    NUMERIC_KEYS,
    VOCAB_SIZES,
    make_synthetic,
)

import torchestimator as te  # noqa: E402
from torchestimator import feature_column as fc  # noqa: E402
from torchestimator.columns.hashing import hash_bucket  # noqa: E402
from torchestimator.premade import DNNClassifier, LinearClassifier  # noqa: E402
from torchestimator.threads import AUTO, ThreadScope  # noqa: E402


class HandFused(nn.Module):
    """One EmbeddingBag over all 10 tables (row offsets), sparse gradients, DNN tower."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("offsets", torch.tensor(np.concatenate([[0], np.cumsum(VOCAB_SIZES)[:-1]])))
        self.bag = nn.EmbeddingBag(sum(VOCAB_SIZES), EMBEDDING_DIM, mode="sum", sparse=True)
        layers: list[nn.Module] = []
        width = len(NUMERIC_KEYS) + len(CATEGORICAL_KEYS) * EMBEDDING_DIM
        for units in HIDDEN_UNITS:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        layers.append(nn.Linear(width, 1))
        self.tower = nn.Sequential(*layers)

    def forward(self, numeric: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        flat = (ids + self.offsets).reshape(-1)  # (B*10,)
        emb = self.bag(flat, torch.arange(flat.numel()), None).view(ids.shape[0], -1)  # (B, 160)
        return self.tower(torch.cat([emb, numeric], dim=1))  # (B, 1)


def hand_rate(feats: dict[str, np.ndarray], labels: np.ndarray, n_batches: int, warmup: int) -> float:
    """Steady examples/s of the hand-written loop over steps ``warmup..n_batches`` (ids hashed before timing)."""
    numeric = torch.from_numpy(np.stack([feats[k] for k in NUMERIC_KEYS], axis=1))  # (N, 10)
    ids = torch.from_numpy(
        np.stack([hash_bucket(feats[k], v) for k, v in zip(CATEGORICAL_KEYS, VOCAB_SIZES)], 1)
    )
    y = torch.from_numpy(labels.astype(np.float32)).unsqueeze(1)  # (N, 1)
    torch.manual_seed(0)
    model = HandFused()
    opt = torch.optim.Adagrad(model.parameters(), lr=0.05, initial_accumulator_value=0.1, eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss()
    t0 = 0.0
    for i in range(n_batches):
        if i == warmup:
            t0 = time.perf_counter()
        s = slice(i * BATCH_SIZE, (i + 1) * BATCH_SIZE)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(numeric[s], ids[s]), y[s])
        loss.backward()
        opt.step()
    return (n_batches - warmup) * BATCH_SIZE / (time.perf_counter() - t0)


def batches_fn(feats: dict[str, np.ndarray], labels: np.ndarray, n_batches: int, batch: int) -> Any:
    """An input_fn over the in-memory arrays: ``n_batches`` raw batches of ``batch`` rows."""

    def input_fn() -> Iterator[Any]:
        for i in range(n_batches):
            s = slice(i * batch, (i + 1) * batch)
            yield {k: v[s] for k, v in feats.items()}, labels[s]

    return input_fn


def save_npz(feats: dict[str, np.ndarray], labels: np.ndarray) -> str:
    path = os.path.join(tempfile.mkdtemp(prefix="bench-data-"), "data.npz")
    np.savez(path, __label__=labels, **feats)
    return path


def quiet_config(threads: int) -> te.RunConfig:
    config = te.RunConfig(
        progress_bar=False, save_checkpoints_steps=10**9, save_summary_steps=0, log_step_count_steps=None
    )
    return config.replace(num_threads=threads) if threads else config


def ours_runner(est: te.Estimator, input_fn: Any, n_batches: int, warmup: int, batch: int) -> Any:
    def run() -> float:
        timer = bt.hook(warmup, batch)
        est.train(input_fn, steps=n_batches, hooks=[timer])
        return timer.rate()

    return run


def prepare(rows: int, threads: int, warmup: int, tf_side: bt.TFWorker) -> dict[str, dict[str, Any]]:
    """Build both sides of both cases (warmed up); returns {case: {side: runner() -> examples/s}}."""
    if threads:
        torch.set_num_threads(threads)
    feats, labels = make_synthetic(rows, seed=0)
    n_batches = rows // BATCH_SIZE
    data = save_npz(feats, labels)
    config = quiet_config(threads)
    input_fn = batches_fn(feats, labels, n_batches, BATCH_SIZE)
    torch.manual_seed(0)
    dnn = DNNClassifier(
        HIDDEN_UNITS, synthetic_columns(fc, "int64", True), model_dir=tempfile.mkdtemp(), config=config
    )
    linear = LinearClassifier(
        synthetic_columns(fc, "int64", False), model_dir=tempfile.mkdtemp(), config=config
    )
    for est in (dnn, linear):
        est.train(input_fn, steps=10)  # warm-up: first checkpoint, optimizer slots
    for case in ("dnn", "linear"):
        tf_side.call(op="setup", case=case, data=data, threads=threads, batch=BATCH_SIZE)

    def hand() -> float:
        # the same thread policy as ours: RunConfig's 'auto' (or --threads N); ours may give one core to its
        # host transform (torchestimator.inputs.measured_prefetch), this loop has no host stage to move
        with ThreadScope(threads or AUTO):
            return hand_rate(feats, labels, n_batches, warmup)

    def tf_train(case: str) -> Any:
        return lambda: tf_side.call(op="train", case=case, steps=n_batches, warmup=warmup)["rate"]

    return {
        "dnn": {
            "ours": ours_runner(dnn, input_fn, n_batches, warmup, BATCH_SIZE),
            "tf": tf_train("dnn"),
            "hand": hand,
        },
        "linear": {
            "ours": ours_runner(linear, input_fn, n_batches, warmup, BATCH_SIZE),
            "tf": tf_train("linear"),
        },
    }


def run(
    rows: int, threads: int, repeats: int, warmup: int, tf_side: bt.TFWorker
) -> dict[str, dict[str, list[float]]]:
    """Both cases, interleaved; returns {case: {side: [examples/s per repeat]}}."""
    runners = prepare(rows, threads, warmup, tf_side)
    return {case: bt.interleave(sides, repeats) for case, sides in runners.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=0, help="0: each side's default threading")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; medians are reported")
    parser.add_argument("--warmup", type=int, default=20, help="steps of each train call not timed")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with bt.TFWorker() as tf_side:
        rates = run(args.rows, args.threads, args.repeats, args.warmup, tf_side)
    print(
        f"{bt.machine()}; {args.rows:,} rows, batch {BATCH_SIZE}, threads "
        f"{args.threads or 'default (ours: RunConfig auto policy)'}"
    )
    bt.print_rates(
        f"DNNClassifier {HIDDEN_UNITS}, emb {EMBEDDING_DIM}, examples/s", rates["dnn"], "ours", "tf"
    )
    print(f"  ours / hand-written = {bt.median(rates['dnn']['ours']) / bt.median(rates['dnn']['hand']):.2f}x")
    bt.print_rates("LinearClassifier (FTRL), examples/s", rates["linear"], "ours", "tf")
    print("  targets (issue 18): DNN >= 1.2x TF and >= 0.9x hand-written; Linear >= 1.5x TF")


if __name__ == "__main__":
    main()
