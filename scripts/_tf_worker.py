"""TF 2.15 side of the same-run benchmarks: run by ``scripts/_bench_tf.py`` in the TF venv, one JSON command a line.

Commands (each answered by one JSON line; ``{"error": ...}`` on failure):

- ``{"op": "setup", "case": "dnn" | "linear" | "census", "data": NPZ, "threads": N, "batch": B}`` builds the
  pre-made estimator on the case's columns (``scripts/_bench_cases.py``) and its input_fn
  (``from_tensor_slices(...).batch(B).prefetch(AUTOTUNE)`` over the npz arrays); ``threads`` 0 keeps TF's
  default session threads, else sets intra- and inter-op threads to N.
- ``{"op": "train", "case": ..., "steps": S, "warmup": W}`` -> ``{"rate": examples/s over steps W..S}``.
- ``{"op": "end_to_end", "case": ..., "steps": S}`` -> ``{"rate": examples/s of a whole job}``: a NEW estimator in
  a new model_dir trains S steps, timed from the constructor to ``train`` returning (graph building, session,
  table initialisation, the steps, the final checkpoint), as a user's ``train()`` call is.
- ``{"op": "serve_setup", "data": NPZ, "examples": [base64...], "threads": N}`` trains the Titanic full-feature
  LinearClassifier 20 steps, exports it with the parsing receiver and loads it with ``tf.saved_model.load``.
- ``{"op": "serve", "n": 1 | 264, "repeats": R}`` -> ``{"ms": median latency of the predict signature}``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import tempfile
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tensorflow as tf
from _bench_cases import (
    CENSUS_HIDDEN,
    census_columns,
    synthetic_columns,
    titanic_columns,
)

tf.get_logger().setLevel("ERROR")
fc = tf.feature_column
STATE: dict[str, dict] = {}


class Timer(tf.estimator.SessionRunHook):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.steps, self.t0, self.t1 = warmup, 0, 0.0, 0.0

    def after_run(self, run_context, run_values):
        self.steps += 1
        if self.steps == self.warmup:
            self.t0 = time.perf_counter()
        self.t1 = time.perf_counter()


def run_config(threads: int) -> tf.estimator.RunConfig:
    session = None
    if threads:
        session = tf.compat.v1.ConfigProto(
            intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads
        )
    return tf.estimator.RunConfig(
        session_config=session,
        save_checkpoints_steps=10**9,
        save_summary_steps=10**9,
        log_step_count_steps=10**9,
    )


def load(path: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    data = dict(np.load(path))
    labels = data.pop("__label__")
    return data, labels


def build(case: str, config: tf.estimator.RunConfig) -> tf.estimator.Estimator:
    model_dir = tempfile.mkdtemp(prefix=f"tf-{case}-")
    if case == "dnn":
        est = tf.estimator.DNNClassifier(
            [256, 128, 64], synthetic_columns(fc, tf.int64, embedded=True), model_dir=model_dir, config=config
        )
    elif case == "linear":
        est = tf.estimator.LinearClassifier(
            synthetic_columns(fc, tf.int64, embedded=False), model_dir=model_dir, config=config
        )
    elif case == "census":
        wide, deep = census_columns(fc)
        est = tf.estimator.DNNLinearCombinedClassifier(
            linear_feature_columns=wide,
            dnn_feature_columns=deep,
            dnn_hidden_units=CENSUS_HIDDEN,
            model_dir=model_dir,
            config=config,
        )
    else:
        raise ValueError(f"unknown case {case!r}")
    return est


def setup(case: str, data: str, threads: int, batch: int) -> dict:
    feats, labels = load(data)
    config = run_config(threads)
    est = build(case, config)

    def input_fn() -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices((feats, labels)).batch(batch)
        return ds.prefetch(tf.data.AUTOTUNE)

    STATE[case] = {"est": est, "input_fn": input_fn, "batch": batch, "config": config}
    est.train(input_fn, steps=10)  # graph, first checkpoint, slots: not timed (as on our side)
    return {}


def train(case: str, steps: int, warmup: int) -> dict:
    state = STATE[case]
    timer = Timer(warmup)
    state["est"].train(state["input_fn"], steps=steps, hooks=[timer])
    return {"rate": (timer.steps - warmup) * state["batch"] / (timer.t1 - timer.t0)}


def end_to_end(case: str, steps: int) -> dict:
    state = STATE[case]
    t0 = time.perf_counter()
    est = build(case, state["config"])
    est.train(state["input_fn"], steps=steps)
    seconds = time.perf_counter() - t0
    shutil.rmtree(est.model_dir, ignore_errors=True)
    return {"rate": steps * state["batch"] / seconds}


def serve_setup(data: str, examples: list[str], threads: int) -> dict:
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    feats, labels = load(data)
    columns = titanic_columns(fc, feats)
    tmp = tempfile.mkdtemp(prefix="tf-titanic-")
    est = tf.estimator.LinearClassifier(columns, model_dir=tmp, config=run_config(threads))

    def input_fn() -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices((feats, labels)).batch(64).repeat()

    est.train(input_fn, steps=20)
    receiver = tf.estimator.export.build_parsing_serving_input_receiver_fn(
        fc.make_parse_example_spec(columns)
    )
    path = est.export_saved_model(os.path.join(tmp, "export"), receiver).decode()
    predict = tf.saved_model.load(path).signatures["predict"]
    serialized = [base64.b64decode(e) for e in examples]
    STATE["serve"] = {"predict": predict, "examples": serialized}
    return {}


def serve(n: int, repeats: int) -> dict:
    state = STATE["serve"]
    batch = tf.constant(state["examples"][:n])
    predict = state["predict"]
    for _ in range(20):
        {k: v.numpy() for k, v in predict(examples=batch).items()}
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        batch = tf.constant(state["examples"][:n])  # the bytes -> tensor conversion is part of a request
        {k: v.numpy() for k, v in predict(examples=batch).items()}
        times.append(time.perf_counter() - t0)
    return {"ms": float(np.median(times) * 1e3)}


def main() -> None:
    ops = {
        "setup": setup,
        "train": train,
        "end_to_end": end_to_end,
        "serve_setup": serve_setup,
        "serve": serve,
    }
    for line in sys.stdin:
        command = json.loads(line)
        try:
            reply = ops[command.pop("op")](**command)
        except Exception:
            reply = {"error": traceback.format_exc()}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
