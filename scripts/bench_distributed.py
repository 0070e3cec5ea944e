"""Examples/s of DDP training on the synthetic benchmark, 1 vs 2 processes, Estimator vs a hand-written loop.

Model (a custom model_fn; the synthetic benchmark's layout): the 10 categorical columns embedded (dim
16) in one fused sparse ``EmbeddingBag`` with per-column row offsets, concatenated with the 10
numerics, DNN [256, 128, 64], logistic loss, Adagrad. Global batch 512: each of N processes reads
its 512/N slice of every global batch (``input_context``), so examples/s counts global examples.

    .venv/bin/python scripts/bench_distributed.py --rows 200000 --steps 150

Each configuration is one ``torchrun --standalone`` launch (OMP_NUM_THREADS=1 per process); the
timer starts after ``--warmup`` steps and ends after the last step on rank 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_data import (
    BATCH_SIZE,
    CATEGORICAL_KEYS,
    EMBEDDING_DIM,
    HIDDEN_UNITS,
    NUMERIC_KEYS,
    VOCAB_SIZES,
    make_synthetic,
)

import torchestimator as te
from torchestimator.hooks.base import Hook, RunContext

OFFSETS = np.concatenate([[0], np.cumsum(VOCAB_SIZES)[:-1]]).astype(np.int64)


class FusedDNN(torch.nn.Module):
    """All categorical tables in one sparse EmbeddingBag (rows offset per column) + numerics -> DNN."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(int(sum(VOCAB_SIZES)), EMBEDDING_DIM, sparse=True)
        layers: list[torch.nn.Module] = []
        width = len(CATEGORICAL_KEYS) * EMBEDDING_DIM + len(NUMERIC_KEYS)
        for units in HIDDEN_UNITS:
            layers += [torch.nn.Linear(width, units), torch.nn.ReLU()]
            width = units
        layers.append(torch.nn.Linear(width, 1))
        self.dnn = torch.nn.Sequential(*layers)
        self.optimizer = torch.optim.Adagrad(self.parameters(), lr=0.05)

    def logits(self, ids: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        emb = self.emb(ids).flatten(1)  # (B, 10 * 16)
        return self.dnn(torch.cat([emb, dense], dim=1))  # (B, 1)

    def forward(
        self,
        features: dict[str, torch.Tensor],
        labels: torch.Tensor | None = None,
        mode: str = te.ModeKeys.TRAIN,
    ) -> te.EstimatorSpec:
        logits = self.logits(features["ids"], features["dense"])
        if mode == te.ModeKeys.PREDICT:
            return te.EstimatorSpec(mode, predictions={"logistic": torch.sigmoid(logits)})
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        return te.EstimatorSpec(mode, loss=loss, train_op=self.optimizer)


def host_batches(rows: int, rank: int, world: int) -> list[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    """This rank's per-replica slice of every global batch, as tensors."""
    features, labels = make_synthetic(rows, seed=0)
    ids = np.stack([features[k] for k in CATEGORICAL_KEYS], axis=1) + OFFSETS  # (N, 10)
    dense = np.stack([features[k] for k in NUMERIC_KEYS], axis=1)  # (N, 10)
    per = BATCH_SIZE // world
    out = []
    for start in range(0, rows - BATCH_SIZE + 1, BATCH_SIZE):
        s = slice(start + rank * per, start + (rank + 1) * per)
        out.append(
            (
                {"ids": torch.from_numpy(ids[s]), "dense": torch.from_numpy(dense[s])},
                torch.from_numpy(labels[s]).float().unsqueeze(1),
            )
        )
    return out


class Timer(Hook):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.stop, self.steps = warmup, 0.0, 0.0, 0

    def after_step(self, ctx: RunContext) -> None:
        if self.steps == self.warmup:
            self.start = time.perf_counter()
        self.steps += 1
        self.stop = time.perf_counter()


def worker(args: argparse.Namespace) -> None:
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    torch.manual_seed(0)
    data = host_batches(args.rows, rank, world)[: args.steps]
    timed = args.steps - args.warmup
    if args.loop == "estimator":
        cfg = te.RunConfig(
            train_distribute="ddp" if world > 1 else None,
            save_checkpoints_steps=None,
            save_checkpoints_secs=None,
            log_step_count_steps=None,
            save_summary_steps=None,
            tf_random_seed=0,
        )
        est = te.Estimator(FusedDNN, model_dir=tempfile.mkdtemp(), config=cfg)
        timer = Timer(args.warmup)
        est.train(lambda: iter(data), hooks=[timer])
        seconds = timer.stop - timer.start
    else:  # the hand-written loop on the same model and batches
        import torch.distributed as dist

        model = FusedDNN()
        train_model: torch.nn.Module = model
        if world > 1:
            dist.init_process_group("gloo")
            train_model = torch.nn.parallel.DistributedDataParallel(model)
        for i, (features, labels) in enumerate(data):
            if i == args.warmup:
                start = time.perf_counter()
            model.optimizer.zero_grad(set_to_none=True)
            train_model(features, labels=labels, mode=te.ModeKeys.TRAIN).loss.backward()
            model.optimizer.step()
        seconds = time.perf_counter() - start
        if world > 1:
            del train_model
            dist.barrier()
            dist.destroy_process_group()
    if rank == 0:
        print(
            json.dumps({"examples_per_sec": timed * BATCH_SIZE / seconds, "seconds": seconds, "steps": timed})
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--loop", default="estimator", choices=["estimator", "manual"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.steps * BATCH_SIZE > args.rows:
        parser.error(f"--rows must be >= steps * {BATCH_SIZE}")
    from torchestimator.parallel.launch import launch_env

    print(
        f"synthetic benchmark: global batch {BATCH_SIZE}, {args.steps - args.warmup} timed steps, torch {torch.__version__}"
    )
    results: dict[tuple[str, int], float] = {}
    for nproc in (1, 2):
        for loop in ("estimator", "manual"):
            cmd = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                f"--nproc-per-node={nproc}",
                __file__,
                "--worker",
                f"--loop={loop}",
            ]
            cmd += [f"--rows={args.rows}", f"--steps={args.steps}", f"--warmup={args.warmup}"]
            proc = subprocess.run(cmd, env=launch_env(), capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                raise SystemExit(f"{loop} nproc={nproc} failed:\n{proc.stderr[-3000:]}")
            line = [x for x in proc.stdout.splitlines() if x.startswith("{")][-1]
            results[(loop, nproc)] = json.loads(line)["examples_per_sec"]
            print(f"  {loop:9s} nproc={nproc}: {results[(loop, nproc)]:10.0f} examples/s")
    for nproc in (1, 2):
        print(
            f"nproc={nproc}: Estimator / hand-written loop = {results[('estimator', nproc)] / results[('manual', nproc)]:.2f}x"
        )
    print(
        f"Estimator scaling 2 vs 1 process: {results[('estimator', 2)] / results[('estimator', 1)]:.2f}x (2 CPU cores shared)"
    )


if __name__ == "__main__":
    main()
