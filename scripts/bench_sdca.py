"""LinearClassifier + LinearSDCA throughput vs TF 2.15 in the same run (prints numbers; asserts nothing).

Same data for both (numeric x (8,), hash_bucket(h, 1000), vocabulary_list(c, 20 values), string
example ids; batches cut in file order), same batch size and steps, checkpoints off. TF runs in a
subprocess of its venv (``TORCHESTIMATOR_TF_PYTHON``); the two are timed interleaved ``--repeats``
times and the best of each is printed with the ratio. Both first train 2 warm-up steps.

SDCA visits a batch's examples one after another (each sees the previous ones' updates), so its
inner loop is per example in both implementations; here it is a numpy loop over the batch.

Usage::

    TORCHESTIMATOR_TF_PYTHON=.tfvenv/bin/python .venv/bin/python scripts/bench_sdca.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

CHILD = r"""
import json, sys, tempfile, time
import numpy as np
import tensorflow as tf
args = json.loads(sys.argv[1])
tf.config.threading.set_intra_op_parallelism_threads(args["threads"])
tf.config.threading.set_inter_op_parallelism_threads(args["threads"])
data = {k: np.asarray(v) for k, v in np.load(args["data"]).items()}
features = {k: data[k] for k in ("x", "h", "c", "example_id")}
fc = tf.feature_column
cols = [fc.numeric_column("x", shape=(8,)), fc.categorical_column_with_hash_bucket("h", 1000),
        fc.categorical_column_with_vocabulary_list("c", [f"c{i}" for i in range(20)])]
est = tf.estimator.LinearClassifier(
    cols, optimizer=tf.estimator.experimental.LinearSDCA("example_id", symmetric_l2_regularization=2.0),
    model_dir=tempfile.mkdtemp(),
    config=tf.estimator.RunConfig(save_checkpoints_steps=None, save_checkpoints_secs=None,
                                  save_summary_steps=10**9, log_step_count_steps=10**9))
fn = lambda: tf.data.Dataset.from_tensor_slices((features, data["y"])).repeat().batch(args["batch"])
est.train(fn, steps=2)
start = time.perf_counter()
est.train(fn, steps=args["steps"])
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def make_data(rows: int) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(0)
    x = rng.normal(size=(rows, 8)).astype(np.float32)
    return {
        "x": x,
        "h": np.array([f"h{v}" for v in rng.randint(0, 5000, size=rows)]),
        "c": np.array([f"c{v}" for v in rng.randint(0, 20, size=rows)]),
        "y": (x[:, 0] - x[:, 1] + rng.normal(size=rows) > 0).astype(np.int64),
        "example_id": np.array([f"ex{i}" for i in range(rows)]),
    }


def run_torchestimator(data: dict[str, np.ndarray], batch: int, steps: int) -> float:
    import torchestimator as te
    from torchestimator import feature_column as fc

    cols = [
        fc.numeric_column("x", shape=(8,)),
        fc.categorical_column_with_hash_bucket("h", 1000),
        fc.categorical_column_with_vocabulary_list("c", [f"c{i}" for i in range(20)]),
    ]
    quiet = dict(save_checkpoints_steps=None, save_checkpoints_secs=None, save_summary_steps=None)
    est = te.LinearClassifier(
        cols,
        optimizer=te.LinearSDCA("example_id", symmetric_l2_regularization=2.0),
        model_dir=tempfile.mkdtemp(),
        config=te.RunConfig(log_step_count_steps=None, **quiet),
    )
    rows = len(data["y"])

    def input_fn() -> Any:
        while True:
            for start in range(0, rows - batch + 1, batch):
                yield (
                    {k: data[k][start : start + batch] for k in ("x", "h", "c", "example_id")},
                    data["y"][start : start + batch],
                )

    est.train(input_fn, steps=2)
    start = time.perf_counter()
    est.train(input_fn, steps=steps)
    return time.perf_counter() - start


def run_tf(tf_python: str, data_path: str, batch: int, steps: int, threads: int) -> float:
    args = json.dumps({"data": data_path, "batch": batch, "steps": steps, "threads": threads})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([tf_python, "-c", CHILD, args], capture_output=True, text=True, env=env, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    tf_python = os.environ.get("TORCHESTIMATOR_TF_PYTHON", "")
    if not os.path.exists(tf_python):
        sys.exit("set TORCHESTIMATOR_TF_PYTHON to the TF 2.15 venv's python (scripts/setup_tf_venv.sh)")
    data = make_data(args.rows)
    data_path = os.path.join(tempfile.mkdtemp(), "data.npz")
    np.savez(data_path, **data)
    ours, theirs = [], []
    for _ in range(args.repeats):  # interleaved, best of each
        ours.append(run_torchestimator(data, args.batch, args.steps))
        theirs.append(run_tf(tf_python, data_path, args.batch, args.steps, args.threads))
    examples = args.batch * args.steps
    te_rate, tf_rate = examples / min(ours), examples / min(theirs)
    print(
        f"torchestimator LinearSDCA: {te_rate:,.0f} examples/s (runs {[round(examples / s) for s in ours]})"
    )
    print(
        f"TF 2.15 LinearSDCA:        {tf_rate:,.0f} examples/s (runs {[round(examples / s) for s in theirs]})"
    )
    print(f"ratio torchestimator / TF: {te_rate / tf_rate:.2f}x")


if __name__ == "__main__":
    main()
