"""Feature-column benchmarks (prints numbers; asserts nothing).

1. Host transform throughput, single core, batch 4096: 10 string hash columns with Zipf repetition,
   10 vocabulary-list lookups, 5 two-way crosses (ids only, and the full DenseFeatures host pass).
2. Train-step throughput on the synthetic benchmark (scripts/synthetic_data.py): 10 numeric +
   10 int categorical hashed with bucket size = vocabulary size, embedding dim 16, DNN [256, 128, 64],
   batch 512, Adagrad: a hand-written loop with ONE fused sparse EmbeddingBag (ids hashed once up
   front) vs the same model built from DenseFeatures with the host transform timed per batch, as the
   Estimator runs it.

Usage::

    .venv/bin/python scripts/bench_columns.py --rows 200000
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch import nn

warnings.filterwarnings("ignore", message="Sparse invariant checks")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synthetic_data import (  # noqa: E402
    BATCH_SIZE,
    CATEGORICAL_KEYS,
    EMBEDDING_DIM,
    HIDDEN_UNITS,
    NUMERIC_KEYS,
    VOCAB_SIZES,
    make_synthetic,
)

from torchestimator import feature_column as fc  # noqa: E402
from torchestimator.columns import TransformCache, find_host_transform  # noqa: E402
from torchestimator.columns.hashing import hash_bucket  # noqa: E402


def _rate(fn: Callable[[], Any], rows: int, repeat: int) -> float:
    fn()  # warm caches, as a long-running input pipeline would be
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeat)
    return rows / best


def bench_transform(batch: int = 4096, repeat: int = 20) -> None:
    rng = np.random.default_rng(0)
    words = np.asarray([f"token_{i:06d}" for i in range(50_000)], dtype=object)
    feats = {f"s{i}": words[(rng.zipf(1.2, batch) - 1) % len(words)] for i in range(10)}
    hashed = [fc.categorical_column_with_hash_bucket(f"s{i}", 100_000) for i in range(10)]
    vocab = [
        fc.categorical_column_with_vocabulary_list(f"s{i}", words[:1000].tolist(), num_oov_buckets=10)
        for i in range(10)
    ]
    crosses = [fc.crossed_column([f"s{2 * i}", f"s{2 * i + 1}"], 100_000) for i in range(5)]

    def ids_only(cols: list[Any]) -> Callable[[], None]:
        return lambda: [c.ids(TransformCache(feats)) for c in cols]  # type: ignore[func-returns-value]

    host = find_host_transform(fc.DenseFeatures([fc.embedding_column(c, 16) for c in hashed]))
    assert host is not None
    print(f"[transform] batch {batch}, single core, Zipf(1.2) over 50k strings")
    print(f"  10 hash columns, ids only           : {_rate(ids_only(hashed), batch, repeat):>12,.0f} rows/s")
    print(
        f"  10 hash columns, DenseFeatures host : {_rate(lambda: host(feats), batch, repeat):>12,.0f} rows/s"
    )
    print(f"  10 vocabulary-list (1k + 10 OOV)    : {_rate(ids_only(vocab), batch, repeat):>12,.0f} rows/s")
    print(f"  5 string x string crosses           : {_rate(ids_only(crosses), batch, repeat):>12,.0f} rows/s")


def _tower(in_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for units in HIDDEN_UNITS:
        layers += [nn.Linear(in_dim, units), nn.ReLU()]
        in_dim = units
    layers.append(nn.Linear(in_dim, 1))
    return nn.Sequential(*layers)


class HandFused(nn.Module):
    """Hand-written: one EmbeddingBag over all 10 tables (row offsets), sparse gradients."""

    def __init__(self) -> None:
        super().__init__()
        self.offsets = torch.tensor(np.concatenate([[0], np.cumsum(VOCAB_SIZES)[:-1]]), dtype=torch.int64)
        self.bag = nn.EmbeddingBag(sum(VOCAB_SIZES), EMBEDDING_DIM, mode="sum", sparse=True)
        self.tower = _tower(len(NUMERIC_KEYS) + len(CATEGORICAL_KEYS) * EMBEDDING_DIM)

    def forward(self, numeric: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        b = ids.shape[0]
        flat = (ids + self.offsets).reshape(-1)  # (B*10,)
        emb = self.bag(flat, torch.arange(flat.numel()), None).view(b, -1)  # (B, 160)
        return self.tower(torch.cat([emb, numeric], dim=1))  # (B, 1)


class ColumnModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        cols: list[Any] = [fc.numeric_column(k) for k in NUMERIC_KEYS]
        cols += [
            fc.embedding_column(fc.categorical_column_with_hash_bucket(k, v, dtype="int64"), EMBEDDING_DIM)
            for k, v in zip(CATEGORICAL_KEYS, VOCAB_SIZES)
        ]
        self.inputs = fc.DenseFeatures(cols)
        self.tower = _tower(self.inputs.output_dim)

    def forward(self, features: dict[str, Any]) -> torch.Tensor:
        return self.tower(self.inputs(features))  # (B, 1)


def bench_train(rows: int) -> None:
    feats, labels = make_synthetic(rows, seed=0)
    y = torch.from_numpy(labels.astype(np.float32)).unsqueeze(1)
    n_batches = rows // BATCH_SIZE
    loss_fn = nn.BCEWithLogitsLoss()

    # hand-written: hash once up front (pure compute baseline)
    numeric = torch.from_numpy(np.stack([feats[k] for k in NUMERIC_KEYS], axis=1))
    ids = torch.from_numpy(
        np.stack([hash_bucket(feats[k], v) for k, v in zip(CATEGORICAL_KEYS, VOCAB_SIZES)], 1)
    )
    torch.manual_seed(0)
    hand = HandFused()
    opt = torch.optim.Adagrad(hand.parameters(), lr=0.05)
    t0 = time.perf_counter()
    for i in range(n_batches):
        s = slice(i * BATCH_SIZE, (i + 1) * BATCH_SIZE)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(hand(numeric[s], ids[s]), y[s])
        loss.backward()
        opt.step()
    hand_rate = n_batches * BATCH_SIZE / (time.perf_counter() - t0)
    hand_loss = float(loss.detach())

    def run_columns(prefetch: bool) -> tuple[float, float]:
        torch.manual_seed(0)
        model = ColumnModel()
        transform = find_host_transform(model)
        assert transform is not None
        opt = torch.optim.Adagrad(model.parameters(), lr=0.05)
        raw = (
            {k: v[i * BATCH_SIZE : (i + 1) * BATCH_SIZE] for k, v in feats.items()} for i in range(n_batches)
        )
        pool = ThreadPoolExecutor(1) if prefetch else None
        batches = _prefetch(pool, transform, raw) if pool is not None else map(transform, raw)
        t0 = time.perf_counter()
        for i, batch in enumerate(batches):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(batch), y[i * BATCH_SIZE : (i + 1) * BATCH_SIZE])
            loss.backward()
            opt.step()
        rate = n_batches * BATCH_SIZE / (time.perf_counter() - t0)
        if pool is not None:
            pool.shutdown()
        return rate, float(loss.detach())

    col_rate, col_loss = run_columns(prefetch=False)
    pre_rate, _ = run_columns(prefetch=True)
    print(
        f"[train] {rows:,} rows, batch {BATCH_SIZE}, emb {EMBEDDING_DIM}, DNN {HIDDEN_UNITS}, Adagrad, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(
        f"  hand-written fused sparse EmbeddingBag : {hand_rate:>10,.0f} examples/s (last loss {hand_loss:.4f})"
    )
    print(
        f"  DenseFeatures, host transform inline   : {col_rate:>10,.0f} examples/s (last loss {col_loss:.4f})"
    )
    print(f"  DenseFeatures, host transform prefetch : {pre_rate:>10,.0f} examples/s (1 background thread)")
    print(f"  ratio inline / hand-written            : {col_rate / hand_rate:.3f}")
    print(f"  ratio prefetch / hand-written          : {pre_rate / hand_rate:.3f}")


def _prefetch(
    pool: ThreadPoolExecutor, fn: Callable[[Any], Any], items: Iterator[Any], depth: int = 2
) -> Iterator[Any]:
    """Run ``fn`` on the next ``depth`` items in a background thread (as the Estimator's input pipeline does)."""
    pending: deque[Future[Any]] = deque(pool.submit(fn, item) for item in itertools.islice(items, depth))
    while pending:
        done = pending.popleft().result()
        nxt = next(items, None)
        if nxt is not None:
            pending.append(pool.submit(fn, nxt))
        yield done


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000, help="synthetic rows for the train benchmark")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for training (0 = torch default)"
    )
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args()
    bench_transform()
    if not args.skip_train:
        if args.threads:
            torch.set_num_threads(args.threads)
        bench_train(args.rows)


if __name__ == "__main__":
    main()
