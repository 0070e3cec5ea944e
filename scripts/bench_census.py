"""Census-style wide & deep, end to end, vs TF 2.15 in the same run (prints numbers; asserts nothing).

``DNNLinearCombinedClassifier`` with TF's census tutorial columns (scripts/_bench_cases.py: vocabulary lists, a
hashed occupation, bucketized age, 2 crosses; DNN [100, 75, 50, 25]; FTRL + Adagrad, TF's defaults), batch 256,
on a generated census-shaped table of raw strings and numbers held in memory. "End to end": every step starts
from the raw strings (vocabulary lookups, hashing, crosses, bucketizing on the host) on both sides. TF runs in
a worker subprocess (scripts/_bench_tf.py) fed ``from_tensor_slices(...).batch(256).prefetch(AUTOTUNE)``; ours
an input_fn yielding the same numpy batches. Two figures, each interleaved ``--repeats`` times, medians and
their ratio printed:

- end to end (the issue's census row, its target): a whole job as a user runs it -- a NEW estimator in a new
  model_dir trains one pass over the rows, timed from the constructor to ``train`` returning (for TF: graph
  building, session, vocabulary tables; for both: the steps and the final checkpoint). Rows / seconds.
- steady: examples/s over the steps after ``--warmup`` of an already-built, already-checkpointed estimator
  (the per-step speed alone).

Usage::

    .venv/bin/python scripts/bench_census.py [--rows 100000] [--threads 0] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from typing import Any

import torch

warnings.filterwarnings("ignore", message="Sparse invariant checks")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench_tf as bt  # noqa: E402
from _bench_cases import CENSUS_BATCH, CENSUS_HIDDEN, census_columns, make_census  # noqa: E402
from bench_premade import batches_fn, ours_runner, quiet_config, save_npz  # noqa: E402

from torchestimator import feature_column as fc  # noqa: E402
from torchestimator.premade import DNNLinearCombinedClassifier  # noqa: E402


def build(threads: int) -> DNNLinearCombinedClassifier:
    """A new census wide & deep estimator in a new model_dir."""
    wide, deep = census_columns(fc)
    return DNNLinearCombinedClassifier(
        linear_feature_columns=wide,
        dnn_feature_columns=deep,
        dnn_hidden_units=CENSUS_HIDDEN,
        model_dir=tempfile.mkdtemp(prefix="census-"),
        config=quiet_config(threads),
    )


def end_to_end_runner(threads: int, input_fn: Any, n_batches: int) -> Any:
    """runner() -> rows/s of a whole job: a new estimator trains ``n_batches`` steps, constructor to return."""

    def run() -> float:
        start = time.perf_counter()
        est = build(threads)
        est.train(input_fn, steps=n_batches)
        seconds = time.perf_counter() - start
        shutil.rmtree(est.model_dir, ignore_errors=True)
        return n_batches * CENSUS_BATCH / seconds

    return run


def prepare(rows: int, threads: int, warmup: int, tf_side: bt.TFWorker) -> dict[str, Any]:
    """Both sides built and warmed up: {"ours" | "tf" (steady), "ours e2e" | "tf e2e": runner() -> ex/s}."""
    if threads:
        torch.set_num_threads(threads)
    feats, labels = make_census(rows, seed=0)
    n_batches = rows // CENSUS_BATCH
    input_fn = batches_fn(feats, labels, n_batches, CENSUS_BATCH)
    torch.manual_seed(0)
    est = build(threads)
    est.train(input_fn, steps=10)  # first checkpoint, optimizer slots
    tf_side.call(op="setup", case="census", data=save_npz(feats, labels), threads=threads, batch=CENSUS_BATCH)

    def tf_train() -> float:
        return tf_side.call(op="train", case="census", steps=n_batches, warmup=warmup)["rate"]

    def tf_end_to_end() -> float:
        return tf_side.call(op="end_to_end", case="census", steps=n_batches)["rate"]

    return {
        "ours e2e": end_to_end_runner(threads, input_fn, n_batches),
        "tf e2e": tf_end_to_end,
        "ours": ours_runner(est, input_fn, n_batches, warmup, CENSUS_BATCH),
        "tf": tf_train,
    }


def run(rows: int, threads: int, repeats: int, warmup: int, tf_side: bt.TFWorker) -> dict[str, list[float]]:
    """{side: [examples/s per repeat]} for the census case, interleaved."""
    return bt.interleave(prepare(rows, threads, warmup, tf_side), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=0, help="0: each side's default threading")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with bt.TFWorker() as tf_side:
        rates = run(args.rows, args.threads, args.repeats, args.warmup, tf_side)
    print(f"{bt.machine()}; {args.rows:,} rows, batch {CENSUS_BATCH}, threads {args.threads or 'default'}")
    report(rates)


def report(rates: dict[str, list[float]]) -> None:
    """Print the end-to-end and steady figures, each with its ratio (ours / TF)."""
    bt.print_rates(
        f"census wide & deep {CENSUS_HIDDEN}, end to end (new estimator -> trained), rows/s",
        {"ours": rates["ours e2e"], "tf": rates["tf e2e"]},
        "ours",
        "tf",
    )
    print("  target (issue 18): >= 2x TF")
    bt.print_rates(
        f"census wide & deep {CENSUS_HIDDEN}, steady (after warm-up), examples/s",
        {"ours": rates["ours"], "tf": rates["tf"]},
        "ours",
        "tf",
    )


if __name__ == "__main__":
    main()
