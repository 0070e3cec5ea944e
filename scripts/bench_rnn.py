"""RNNClassifier training throughput vs TF 2.15 in the same run (prints numbers; asserts nothing).

Both sides train ``RNNClassifier(units=64, cell_type='lstm')`` (binary, Adagrad at TF's 0.05 with
clipnorm 5) on the same in-memory data: sequences of 20 steps of ``x`` (``sequence_numeric_column``)
and ``tok`` (``embedding_column(sequence_categorical_column_with_identity('tok', 1000), 16)``),
batch 256, with the same number of threads. TF runs in a persistent subprocess of the TF venv
(``TORCHESTIMATOR_TF_PYTHON``, default ``/work/main/.tfvenv/bin/python``), fed by
``Dataset.from_tensor_slices(...).batch(256)`` with the sequences as ``SparseTensor`` s (what
``parse_example`` gives); ours by an input_fn of the same numpy batches. Each side's examples/s is
measured by a hook over the steps after ``--warmup`` steps of each ``train`` call (graph building,
first checkpoint and optimizer slots excluded on both sides); the two are timed interleaved
``--repeats`` times and the best and median of each are printed with their ratio.

Usage::

    .venv/bin/python scripts/bench_rnn.py --batches 40 --threads 1 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

warnings.filterwarnings("ignore", message="Sparse invariant checks")

import torchestimator as te  # noqa: E402
from torchestimator import feature_column as fc  # noqa: E402
from torchestimator.hooks import Hook  # noqa: E402

BATCH, STEPS, UNITS, VOCAB, EMB = 256, 20, 64, 1000, 16

TF_WORKER = r"""
import json, os, sys, tempfile, time
import numpy as np
import tensorflow as tf
tf.get_logger().setLevel("ERROR")
threads, warmup = int(sys.argv[2]), int(sys.argv[3])
tf.config.threading.set_intra_op_parallelism_threads(threads)
tf.config.threading.set_inter_op_parallelism_threads(threads)
data = np.load(sys.argv[1])
x, tok, y = data["x"], data["tok"], data["y"]
fc = tf.feature_column
columns = [
    fc.sequence_numeric_column("x"),
    fc.embedding_column(fc.sequence_categorical_column_with_identity("tok", int(sys.argv[4])), int(sys.argv[5])),
]
session = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads)
config = tf.estimator.RunConfig(session_config=session, save_checkpoints_steps=10**9, save_summary_steps=10**9,
                                log_step_count_steps=10**9)
est = tf.estimator.experimental.RNNClassifier(columns, units=int(sys.argv[6]), cell_type="lstm",
                                              model_dir=tempfile.mkdtemp(), config=config)

def input_fn():
    ds = tf.data.Dataset.from_tensor_slices(({"x": x, "tok": tok}, y)).batch(int(sys.argv[7]))
    def sparse(f, label):
        return {k: tf.RaggedTensor.from_tensor(v).to_sparse() for k, v in f.items()}, label
    return ds.map(sparse).prefetch(2)

class Timer(tf.estimator.SessionRunHook):
    def begin(self):
        self.steps, self.t0, self.t1 = 0, None, None
    def after_run(self, run_context, run_values):
        self.steps += 1
        if self.steps == warmup:
            self.t0 = time.perf_counter()
        self.t1 = time.perf_counter()

for line in sys.stdin:
    n = int(line)
    timer = Timer()
    est.train(input_fn, steps=n, hooks=[timer])
    rate = (timer.steps - warmup) * int(sys.argv[7]) / (timer.t1 - timer.t0)
    print(json.dumps({"examples_per_sec": rate}), flush=True)
"""


class Timer(Hook):
    """Examples/s over the steps after ``warmup`` of one train call."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.steps = warmup, 0
        self.t0 = self.t1 = 0.0

    def after_step(self, ctx: Any) -> None:
        self.steps += 1
        if self.steps == self.warmup:
            self.t0 = time.perf_counter()
        self.t1 = time.perf_counter()

    def rate(self) -> float:
        return (self.steps - self.warmup) * BATCH / (self.t1 - self.t0)


def make_data(n_batches: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = n_batches * BATCH
    return {
        "x": rng.normal(size=(n, STEPS)).astype(np.float32),
        "tok": rng.integers(0, VOCAB, size=(n, STEPS)).astype(np.int64),
        "y": rng.integers(0, 2, size=(n, 1)).astype(np.int64),
    }


def ours(data: dict[str, np.ndarray], threads: int) -> te.Estimator:
    torch.set_num_threads(threads)
    columns = [
        fc.sequence_numeric_column("x"),
        fc.embedding_column(fc.sequence_categorical_column_with_identity("tok", VOCAB), EMB),
    ]
    config = te.RunConfig(
        progress_bar=False, save_checkpoints_steps=10**9, save_summary_steps=0, log_step_count_steps=None
    )
    return te.RNNClassifier(
        columns, units=UNITS, cell_type="lstm", model_dir=tempfile.mkdtemp(), config=config
    )


def input_fn(data: dict[str, np.ndarray], n_batches: int) -> Any:
    def fn() -> Iterator[Any]:
        for i in range(n_batches):
            s = slice(i * BATCH, (i + 1) * BATCH)
            yield {"x": data["x"][s], "tok": data["tok"][s]}, data["y"][s]

    return fn


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=40, help="steps per train call")
    parser.add_argument("--warmup", type=int, default=5, help="steps of each call not timed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    data = make_data(args.batches)
    tmp = tempfile.mkdtemp()
    np.savez(os.path.join(tmp, "data.npz"), **data)
    worker_path = os.path.join(tmp, "tf_worker.py")
    with open(worker_path, "w", encoding="utf-8") as fh:
        fh.write(TF_WORKER)
    python = os.environ.get("TORCHESTIMATOR_TF_PYTHON", "/work/main/.tfvenv/bin/python")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    settings = [args.threads, args.warmup, VOCAB, EMB, UNITS, BATCH]
    worker = subprocess.Popen(
        [python, worker_path, os.path.join(tmp, "data.npz"), *map(str, settings)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert worker.stdin is not None and worker.stdout is not None
    est = ours(data, args.threads)
    est.train(input_fn(data, args.batches), steps=args.warmup)  # first checkpoint, optimizer slots
    rates: dict[str, list[float]] = {"torchestimator": [], "tf": []}
    for _ in range(args.repeats):  # interleaved
        timer = Timer(args.warmup)
        est.train(input_fn(data, args.batches), steps=args.batches, hooks=[timer])
        rates["torchestimator"].append(timer.rate())
        worker.stdin.write(f"{args.batches}\n")
        worker.stdin.flush()
        line = worker.stdout.readline()
        if not line:
            sys.exit("the TF worker exited; run it by hand to see why: " + " ".join(worker.args))  # type: ignore[arg-type]
        rates["tf"].append(json.loads(line)["examples_per_sec"])
    worker.stdin.close()
    worker.wait(timeout=60)
    print(
        f"[rnn] RNNClassifier LSTM {UNITS} units, {STEPS} steps, batch {BATCH}, x + tok embedding {EMB}, "
        f"{args.threads} thread(s), {args.batches - args.warmup} timed steps x {args.repeats} interleaved repeats"
    )
    for name, values in rates.items():
        print(
            f"  {name:<15} best {max(values):>9,.0f}  median {statistics.median(values):>9,.0f} examples/s  "
            f"(all: {', '.join(f'{v:,.0f}' for v in values)})"
        )
    best = max(rates["torchestimator"]) / max(rates["tf"])
    median = statistics.median(rates["torchestimator"]) / statistics.median(rates["tf"])
    print(f"  torchestimator / TF 2.15: best {best:.2f}x, median {median:.2f}x")


if __name__ == "__main__":
    main()
