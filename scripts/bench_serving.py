"""Serving latency of the exported Titanic full-feature LinearClassifier through ``serving.load`` (ONNX Runtime).

Trains briefly, exports with the parsing receiver, then times the ``predict`` signature on one serialized
tf.Example and on a batch of 264. No ratio to TF is printed: a TF figure from another day is no comparison;
timing TF's SavedModel in the same invocation is issue 18 (``scripts/bench_serve.py`` already does so for the
model server).

    .venv/bin/python scripts/bench_serving.py [--repeats 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "export"))


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    from export_cases import input_fn, titanic, titanic_columns, to_examples

    from torchestimator import serving
    from torchestimator.columns import make_parse_example_spec
    from torchestimator.export import build_parsing_serving_input_receiver_fn
    from torchestimator.premade import LinearClassifier

    feats, labels = titanic()
    seed, extra = titanic_columns(feats)
    columns = seed + extra
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = LinearClassifier(columns, model_dir=tmp)
        est.train(input_fn(feats, labels), steps=20)
        path = est.export_saved_model(
            os.path.join(tmp, "export"),
            build_parsing_serving_input_receiver_fn(make_parse_example_spec(columns)),
        )
        predictor = serving.load(path)
        predict = predictor.signatures["predict"]
        examples = to_examples(feats, 264)
        one = examples[:1]
        single = _median_ms(lambda: predict(examples=one), args.repeats)
        batch = _median_ms(lambda: predict(examples=examples), max(args.repeats // 3, 20))
        parse = _median_ms(lambda: predictor.parse(examples), 50)
        parsed = predictor.parse(examples)
        host = _median_ms(lambda: predictor.host_step(parsed), 50)
    per_example_us = batch / 264 * 1e3
    print(
        "titanic full-feature LinearClassifier, serving.load(onnxruntime), predict signature, median of runs"
    )
    print(f"  one example : {single:.3f} ms")
    print(f"  batch of 264: {batch:.3f} ms = {per_example_us:.1f} us/example")
    print(
        f"  (batch 264 breakdown: parse {parse:.3f} ms, host step {host:.3f} ms, rest = ONNX Runtime + outputs)"
    )


if __name__ == "__main__":
    main()
