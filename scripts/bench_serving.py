"""Serving latency of the Titanic full-feature export, ours (``serving.load``, ONNX Runtime) vs TF 2.15's SavedModel.

Both sides train the same LinearClassifier (scripts/_bench_cases.py ``titanic_columns``: 7 vocabulary lists, 2
numbers, bucketized age, a cross) 20 steps, export it with the parsing receiver, load the export and call its
``predict`` signature on the SAME serialized tf.Examples (built here, sent to TF's worker): one example, and a
batch of 264. TF: ``tf.saved_model.load(path).signatures['predict'](examples=tf.constant(list))`` in a worker
subprocess of the TF venv (scripts/_bench_tf.py); both sides include turning the outputs into numpy. Medians
of ``--repeats`` calls; the two sides are measured interleaved ``--rounds`` times and the median of the
medians is reported with the ratio (target: <= 0.5x TF's latency).

    .venv/bin/python scripts/bench_serving.py [--repeats 60] [--rounds 9]
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _bench_tf as bt
from _bench_cases import titanic, titanic_columns
from bench_premade import save_npz

BATCH = 264


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def examples_of(feats: dict[str, np.ndarray], n: int) -> list[bytes]:
    from torchestimator.inputs import encode_example

    return [encode_example({k: [v[i].item()] for k, v in feats.items()}) for i in range(n)]


def our_predictor(feats: dict[str, np.ndarray], labels: np.ndarray, tmp: str) -> Any:
    from torchestimator import feature_column as fc
    from torchestimator import serving
    from torchestimator.columns import make_parse_example_spec
    from torchestimator.export import build_parsing_serving_input_receiver_fn
    from torchestimator.premade import LinearClassifier

    columns = titanic_columns(fc, feats)
    est = LinearClassifier(columns, model_dir=tmp)

    def input_fn() -> Any:
        for i in range(0, 20 * 64, 64):
            j = i % (len(labels) - 64)
            yield {k: v[j : j + 64] for k, v in feats.items()}, labels[j : j + 64]

    est.train(input_fn, steps=20)
    path = est.export_saved_model(
        os.path.join(tmp, "export"), build_parsing_serving_input_receiver_fn(make_parse_example_spec(columns))
    )
    return serving.load(path)


def run(repeats: int, rounds: int, tf_side: bt.TFWorker) -> dict[str, dict[str, list[float]]]:
    """{"one": {side: [ms]}, "batch": {side: [ms]}}, interleaved rounds."""
    feats, labels = titanic()
    examples = examples_of(feats, BATCH)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predictor = our_predictor(feats, labels, tempfile.mkdtemp(prefix="serving-"))
    predict = predictor.signatures["predict"]
    tf_side.call(
        op="serve_setup",
        data=save_npz(feats, labels),
        threads=0,
        examples=[base64.b64encode(e).decode() for e in examples],
    )
    out: dict[str, dict[str, list[float]]] = {}
    for name, n, reps in (("one", 1, repeats), ("batch", BATCH, max(repeats // 3, 20))):
        batch = examples[:n]
        out[name] = bt.interleave(
            {
                "ours": lambda batch=batch, reps=reps: median_ms(lambda: predict(examples=batch), reps),
                "tf": lambda n=n, reps=reps: tf_side.call(op="serve", n=n, repeats=reps)["ms"],
            },
            rounds,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=60, help="calls per round (a third of them at 264)")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds; the median is reported")
    args = parser.parse_args()
    with bt.TFWorker() as tf_side:
        out = run(args.repeats, args.rounds, tf_side)
    print(f"{bt.machine()}; titanic full-feature LinearClassifier export, predict signature, latency in ms")
    bt.print_rates("one example, ms", out["one"], "ours", "tf", higher_is_better=False)
    bt.print_rates(f"batch of {BATCH}, ms", out["batch"], "ours", "tf", higher_is_better=False)
    per = {k: bt.median(v) / BATCH * 1e3 for k, v in out["batch"].items()}
    print(f"  per example at batch {BATCH}: ours {per['ours']:.1f} us, TF {per['tf']:.1f} us")
    print("  target (issue 18): <= 0.5x TF's latency for both")


if __name__ == "__main__":
    main()
