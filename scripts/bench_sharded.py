"""Examples/s of a DNNClassifier on the synthetic CTR benchmark: sharded tables (TorchRec) vs DDP-replicated tables.

Model: ``DNNClassifier`` over the synthetic benchmark's 10 numerics and 10 hashed categorical columns (vocabularies
10 ... 100,000, ``embedding_column`` dimension 16), hidden units [256, 128, 64], Adagrad; global batch 512, each of
N processes reads its 512/N slice (``input_context``). ``--big-rows R`` makes ``cat_9``'s table R rows (the issue's
variant: 10,000,000). Every configuration is one ``torchrun --standalone`` launch in this invocation, in the order
(1 process, 2 processes) x (ddp, sharded); the timer runs on rank 0 from after ``--warmup`` steps to the last step.
Per rank it also reports the bytes the embedding tables and their Adagrad accumulators occupy in the training
state: the sharded strategy's local shards + FBGEMM state, or DDP's replicated table + torch's accumulator.

    .venv/bin/python scripts/bench_sharded.py --rows 20000 --steps 30 --warmup 5
    .venv/bin/python scripts/bench_sharded.py --big-rows 10000000

Note: the sharded strategy still holds the layer's full table (and its optimizer's accumulator) in the module
besides the shards (see docs/sharded.md, "Limits"); the per-rank figures are the training state only.
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


class Timer(Hook):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.stop, self.steps = warmup, 0.0, 0.0, 0

    def after_step(self, ctx: RunContext) -> None:
        if self.steps == self.warmup:
            self.start = time.perf_counter()
        self.steps += 1
        self.stop = time.perf_counter()


def columns(big_rows: int) -> list[Any]:
    from torchestimator import feature_column as fc

    vocab = [*VOCAB_SIZES[:-1], big_rows or VOCAB_SIZES[-1]]
    cats = [
        fc.embedding_column(fc.categorical_column_with_hash_bucket(k, v, dtype="int64"), EMBEDDING_DIM)
        for k, v in zip(CATEGORICAL_KEYS, vocab)
    ]
    return [*(fc.numeric_column(k) for k in NUMERIC_KEYS), *cats]


def batches(rows: int, rank: int, world: int, steps: int) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
    features, labels = make_synthetic(rows, seed=0)
    per = BATCH_SIZE // world
    out = []
    for start in range(0, steps * BATCH_SIZE, BATCH_SIZE):
        s = slice(start + rank * per, start + (rank + 1) * per)
        out.append(({k: v[s] for k, v in features.items()}, labels[s]))
    return out


def table_state_bytes(est: te.Estimator) -> int:
    """Bytes of embedding tables + Adagrad accumulators in this rank's training state."""
    strategy = est._strategy
    groups = getattr(strategy, "groups", None)
    if groups:
        return sum(g.local_bytes() for g in groups)
    module = est.model
    total = 0
    for name, p in module.named_parameters():
        if "embedding_tables" in name:
            total += p.numel() * p.element_size()
            for opt in est._optimizers.values():
                acc = opt.state.get(p, {}).get("sum")
                if acc is not None:
                    total += acc.numel() * acc.element_size()
    return total


def worker(args: argparse.Namespace) -> None:
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    data = batches(args.rows, rank, world, args.steps)
    cfg = te.RunConfig(
        train_distribute=args.strategy,
        save_checkpoints_steps=None,
        save_checkpoints_secs=None,
        log_step_count_steps=None,
        save_summary_steps=None,
        tf_random_seed=0,
    )
    est = te.DNNClassifier(HIDDEN_UNITS, columns(args.big_rows), model_dir=tempfile.mkdtemp(), config=cfg)
    timer = Timer(args.warmup)
    est.train(lambda: iter(data), hooks=[timer])
    seconds = timer.stop - timer.start
    timed = args.steps - args.warmup
    print(
        json.dumps(
            {
                "rank": rank,
                "examples_per_sec": timed * BATCH_SIZE / seconds,
                "table_state_mb": table_state_bytes(est) / 2**20,
            }
        ),
        flush=True,
    )
    est._strategy.teardown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--big-rows", type=int, default=0, help="rows of cat_9's table (0: 100,000)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--strategy", default="ddp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.steps * BATCH_SIZE > args.rows:
        parser.error(f"--rows must be >= steps * {BATCH_SIZE}")
    from torchestimator.parallel.launch import launch_env

    big = f", cat_9 table {args.big_rows:,} rows" if args.big_rows else ""
    print(
        f"synthetic CTR: global batch {BATCH_SIZE}, {args.steps - args.warmup} timed steps{big}, torch "
        f"{torch.__version__}, {os.cpu_count()} CPU cores (shared machine)"
    )
    results: dict[tuple[str, int], float] = {}
    for nproc in (1, 2):
        for strategy in ("ddp", "sharded"):
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
            cmd += [__file__, "--worker", f"--strategy={strategy}", f"--rows={args.rows}"]
            cmd += [f"--steps={args.steps}", f"--warmup={args.warmup}", f"--big-rows={args.big_rows}"]
            proc = subprocess.run(cmd, env=launch_env(), capture_output=True, text=True, timeout=1800)
            if proc.returncode != 0:
                raise SystemExit(f"{strategy} nproc={nproc} failed:\n{proc.stderr[-3000:]}")
            lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
            rank0 = next(x for x in lines if x["rank"] == 0)
            results[(strategy, nproc)] = rank0["examples_per_sec"]
            mem = ", ".join(
                f"rank {x['rank']} {x['table_state_mb']:.1f} MB"
                for x in sorted(lines, key=lambda x: x["rank"])
            )
            print(
                f"  {strategy:7s} nproc={nproc}: {rank0['examples_per_sec']:9.0f} examples/s   tables+accumulators: {mem}"
            )
    for nproc in (1, 2):
        print(f"nproc={nproc}: sharded / ddp = {results[('sharded', nproc)] / results[('ddp', nproc)]:.2f}x")


if __name__ == "__main__":
    main()
