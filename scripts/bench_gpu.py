"""GPU-ready benchmark: Estimator vs a hand-written loop on the same CUDA device (prints numbers; asserts nothing).

Where CUDA is present, on one device:

1. the synthetic DNN (scripts/bench_premade.py case: 10 numeric + 10 hashed int64 columns, emb 16, DNN
   [256, 128, 64], batch 512): ``DNNClassifier`` trained with ``Estimator.train`` on ``RunConfig(device='cuda')``
   (the column host transform runs ``prefetch_batches`` ahead in a background thread, overlapping the device
   step) vs a hand-written loop (one fused sparse ``EmbeddingBag`` + the same tower, Adagrad; ids hashed once up
   front, batches copied from pinned host memory with ``non_blocking=True``);
2. the census wide & deep case (scripts/bench_census.py), ``DNNLinearCombinedClassifier`` end to end from raw
   strings, on the device and on the CPU in the same run (no hand-written census loop: its host work is the
   column transform itself).

Each figure is the steady rate over the steps after ``--warmup`` (the device is synchronised before each clock
read), interleaved ``--repeats`` times, medians and ratios printed. Without CUDA it says so and exits 0.

    .venv/bin/python scripts/bench_gpu.py [--rows 200000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench_tf as bt
from _bench_cases import CENSUS_BATCH, CENSUS_HIDDEN, census_columns, make_census, synthetic_columns
from bench_premade import HandFused, batches_fn
from synthetic_data import (
    BATCH_SIZE,
    CATEGORICAL_KEYS,
    HIDDEN_UNITS,
    NUMERIC_KEYS,
    VOCAB_SIZES,
    make_synthetic,
)

import torchestimator as te
from torchestimator import feature_column as fc
from torchestimator.columns.hashing import hash_bucket
from torchestimator.hooks import Hook
from torchestimator.premade import DNNClassifier, DNNLinearCombinedClassifier

warnings.filterwarnings("ignore", message="Sparse invariant checks")


class SyncedRate(Hook):
    """Examples/s over the steps after ``warmup``, the device synchronised before each clock read."""

    def __init__(self, warmup: int, batch: int, device: torch.device) -> None:
        self.warmup, self.batch, self.device, self.steps = warmup, batch, device, 0
        self.t0 = self.t1 = 0.0

    def after_step(self, ctx: Any) -> None:
        self.steps += 1
        if self.steps >= self.warmup:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.t1 = time.perf_counter()
            if self.steps == self.warmup:
                self.t0 = self.t1

    def rate(self) -> float:
        return (self.steps - self.warmup) * self.batch / (self.t1 - self.t0)


def hand_rate(
    feats: dict[str, np.ndarray], labels: np.ndarray, n: int, warmup: int, dev: torch.device
) -> float:
    """The hand-written fused loop on ``dev``: pinned host batches, non-blocking copies."""
    numeric = torch.from_numpy(np.stack([feats[k] for k in NUMERIC_KEYS], axis=1)).pin_memory()  # (N, 10)
    ids = torch.from_numpy(
        np.stack([hash_bucket(feats[k], v) for k, v in zip(CATEGORICAL_KEYS, VOCAB_SIZES)], 1)
    ).pin_memory()  # (N, 10)
    y = torch.from_numpy(labels.astype(np.float32)).unsqueeze(1).pin_memory()  # (N, 1)
    torch.manual_seed(0)
    model = HandFused().to(dev)
    opt = torch.optim.Adagrad(model.parameters(), lr=0.05, initial_accumulator_value=0.1, eps=1e-7)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    t0 = 0.0
    for i in range(n):
        if i == warmup:
            torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
        s = slice(i * BATCH_SIZE, (i + 1) * BATCH_SIZE)
        x, k, t = (v[s].to(dev, non_blocking=True) for v in (numeric, ids, y))
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x, k), t).backward()
        opt.step()
    torch.cuda.synchronize(dev)
    return (n - warmup) * BATCH_SIZE / (time.perf_counter() - t0)


def est_runner(est: te.Estimator, input_fn: Any, n: int, warmup: int, batch: int, dev: torch.device) -> Any:
    def run() -> float:
        hook = SyncedRate(warmup, batch, dev)
        est.train(input_fn, steps=n, hooks=[hook])
        return hook.rate()

    return run


def config(device: str) -> te.RunConfig:
    return te.RunConfig(
        progress_bar=False,
        save_checkpoints_steps=10**9,
        save_summary_steps=0,
        log_step_count_steps=None,
        device=device,
        prefetch_batches=2,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--census-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure (bench_gpu.py runs where torch.cuda.is_available())")
        return
    logging.disable(logging.WARNING)
    dev = torch.device("cuda")
    feats, labels = make_synthetic(args.rows, seed=0)
    n = args.rows // BATCH_SIZE
    input_fn = batches_fn(feats, labels, n, BATCH_SIZE)
    torch.manual_seed(0)
    dnn = DNNClassifier(
        HIDDEN_UNITS,
        synthetic_columns(fc, "int64", True),
        model_dir=tempfile.mkdtemp(),
        config=config("cuda"),
    )
    dnn.train(input_fn, steps=10)
    cfeats, clabels = make_census(args.census_rows, seed=0)
    cn = args.census_rows // CENSUS_BATCH
    cinput = batches_fn(cfeats, clabels, cn, CENSUS_BATCH)
    census = {}
    for device in ("cuda", "cpu"):
        wide, deep = census_columns(fc)
        census[device] = DNNLinearCombinedClassifier(
            linear_feature_columns=wide,
            dnn_feature_columns=deep,
            dnn_hidden_units=CENSUS_HIDDEN,
            model_dir=tempfile.mkdtemp(),
            config=config(device),
        )
        census[device].train(cinput, steps=10)
    rates = bt.interleave(
        {
            "dnn estimator": est_runner(dnn, input_fn, n, args.warmup, BATCH_SIZE, dev),
            "dnn hand-written": lambda: hand_rate(feats, labels, n, args.warmup, dev),
            "census estimator cuda": est_runner(census["cuda"], cinput, cn, args.warmup, CENSUS_BATCH, dev),
            "census estimator cpu": est_runner(
                census["cpu"], cinput, cn, args.warmup, CENSUS_BATCH, torch.device("cpu")
            ),
        },
        args.repeats,
    )
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(
        f"{torch.cuda.get_device_name(dev)}; host: {bt.machine()}; medians of {args.repeats} interleaved repeats"
    )
    for name, values in rates.items():
        print(f"  {name:<24} median {med[name]:>12,.0f} ex/s   (all: {bt.fmt_all(values)})")
    print(
        f"  DNN estimator / hand-written on the GPU = {med['dnn estimator'] / med['dnn hand-written']:.2f}x"
    )
    print(
        f"  census on the GPU / on the CPU          = {med['census estimator cuda'] / med['census estimator cpu']:.2f}x"
    )


if __name__ == "__main__":
    main()
