"""te.data against tf.data on the same data, in the same run: rows per second and the ratio.

Two pipelines, each one full pass per repeat, TF and torchestimator interleaved (TF runs in the TF 2.15
venv as a worker subprocess fed one command at a time, so its import is not timed):

* ``slices``: ``from_tensor_slices(dict of 20 numpy columns of --rows rows).shuffle(10000).batch(512)``
* ``tfrecord``: ``TFRecordDataset(file).batch(512).map(parse_example)`` over --records tf.Examples (default 100k)
  (8 float, 4 int64 and 1 string feature), the file written once by torchestimator's TFRecordWriter.
* ``textline``: ``TextLineDataset(csv).map(parse_line).batch(32)``, ``parse_line`` calling ``decode_csv`` per
  line (10 columns, --lines lines): the per-element ``map`` path.

Both sides run on one core (``--threads``, default 1: TF's inter / intra-op pools and the dataset's
private thread pool; torch / numpy single-threaded), so the ratio is per core. Each pass is timed in
wall-clock seconds and in CPU seconds of its process (``time.process_time``, all threads): on a shared,
loaded machine the wall-clock ratio swings with the load, the CPU-time ratio much less.

Run::

    python scripts/bench_data.py --repeats 3                 # all cases
    python scripts/bench_data.py --cases textline --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's torchestimator, not an installed one
TF_PYTHON = os.environ.get("TORCHESTIMATOR_TF_PYTHON", str(ROOT / ".tfvenv" / "bin" / "python"))
if not os.path.exists(TF_PYTHON):
    TF_PYTHON = "/work/main/.tfvenv/bin/python"

FLOATS, INTS = 8, 4


def make_columns(rows: int) -> dict[str, np.ndarray]:
    """20 columns: 12 float32, 8 int64 (the same in both processes: a fixed seed)."""
    rng = np.random.default_rng(0)
    cols: dict[str, np.ndarray] = {}
    for i in range(12):
        cols[f"f{i}"] = rng.standard_normal(rows, dtype=np.float32)
    for i in range(8):
        cols[f"i{i}"] = rng.integers(0, 1000, rows, dtype=np.int64)
    return cols


def write_records(path: str, records: int) -> None:
    from torchestimator.inputs import TFRecordWriter, encode_example

    rng = np.random.default_rng(1)
    floats = rng.standard_normal((records, FLOATS), dtype=np.float32)
    ints = rng.integers(0, 10**6, (records, INTS))
    with TFRecordWriter(path) as writer:
        for r in range(records):
            feature: dict[str, Any] = {f"x{j}": float(floats[r, j]) for j in range(FLOATS)}
            feature.update({f"n{j}": int(ints[r, j]) for j in range(INTS)})
            feature["s"] = b"token-%d" % (r % 97)
            writer.write(encode_example(feature))


_WORKER = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import tensorflow as tf
    threads = int(sys.argv[1])
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    FLOATS, INTS = 8, 4
    spec = {f"x{j}": tf.io.FixedLenFeature([], tf.float32) for j in range(FLOATS)}
    spec.update({f"n{j}": tf.io.FixedLenFeature([], tf.int64) for j in range(INTS)})
    spec["s"] = tf.io.FixedLenFeature([], tf.string)
    CSV_NAMES = [f"c{i}" for i in range(10)]
    CSV_DEFAULTS = [[0.0]] * 5 + [[0]] * 3 + [[""]] * 2
    columns = None
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["case"] == "slices":
            if columns is None:
                rng = np.random.default_rng(0)
                columns = {}
                for i in range(12):
                    columns[f"f{i}"] = rng.standard_normal(cmd["rows"], dtype=np.float32)
                for i in range(8):
                    columns[f"i{i}"] = rng.integers(0, 1000, cmd["rows"], dtype=np.int64)
            ds = tf.data.Dataset.from_tensor_slices(columns).shuffle(10000).batch(512).with_options(options)
            key = "f0"
        elif cmd["case"] == "tfrecord":
            ds = (tf.data.TFRecordDataset(cmd["path"]).batch(512)
                  .map(lambda r: tf.io.parse_example(r, spec)).with_options(options))
            key = "x0"
        else:
            def parse_line(line):
                fields = tf.io.decode_csv(line, CSV_DEFAULTS)
                return dict(zip(CSV_NAMES, fields))
            ds = tf.data.TextLineDataset(cmd["path"]).map(parse_line).batch(32).with_options(options)
            key = "c0"
        start, cpu_start = time.perf_counter(), time.process_time()
        rows = 0
        for batch in ds:
            rows += int(batch[key].shape[0])
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        print(json.dumps({"rows": rows, "seconds": seconds, "cpu": cpu}), flush=True)
    """
)


class TFWorker:
    """The TF venv's python, kept running; ``run(cmd)`` times one pass there."""

    def __init__(self, threads: int) -> None:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.proc = subprocess.Popen(
            [TF_PYTHON, "-c", _WORKER, str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the TF worker did not start")

    def run(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


CSV_NAMES = [f"c{i}" for i in range(10)]
CSV_DEFAULTS: list[Any] = [[0.0]] * 5 + [[0]] * 3 + [[""]] * 2


def _parse_line(line: Any) -> dict[str, Any]:
    import torchestimator as te

    return dict(zip(CSV_NAMES, te.io.decode_csv(line, CSV_DEFAULTS)))


def write_lines(path: str, lines: int) -> None:
    """A headerless CSV: 5 floats, 3 ints, 2 short strings per line."""
    rng = np.random.default_rng(2)
    floats = rng.standard_normal((lines, 5)).round(4)
    ints = rng.integers(0, 1000, (lines, 3))
    with open(path, "w") as f:
        for r in range(lines):
            f.write(",".join([*map(str, floats[r]), *map(str, ints[r]), f"a{r % 13}", f"b{r % 7}"]) + "\n")


def te_pass(case: str, columns: dict[str, np.ndarray] | None, path: str) -> dict[str, Any]:
    import torchestimator as te

    if case == "slices":
        ds = te.data.Dataset.from_tensor_slices(columns).shuffle(10000).batch(512)
        key = "f0"
    elif case == "textline":
        ds = te.data.TextLineDataset(path).map(_parse_line).batch(32)
        key = "c0"
    else:
        spec: dict[str, Any] = {f"x{j}": te.io.FixedLenFeature([], "float32") for j in range(FLOATS)}
        spec.update({f"n{j}": te.io.FixedLenFeature([], "int64") for j in range(INTS)})
        spec["s"] = te.io.FixedLenFeature([], "string")
        ds = te.data.TFRecordDataset(path).batch(512).map(lambda r: te.io.parse_example(r, spec))
        key = "x0"
    start, cpu_start = time.perf_counter(), time.process_time()
    rows = 0
    for batch in ds:
        rows += len(batch[key])
    return {"rows": rows, "seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu_start}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--cases", default="slices,tfrecord,textline", help="comma-separated subset")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    cases = [c.strip() for c in args.cases.split(",")]
    unknown = set(cases) - {"slices", "tfrecord", "textline"}
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; choose from slices, tfrecord, textline")
    columns = make_columns(args.rows) if "slices" in cases else None
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"tfrecord": os.path.join(tmp, "bench.tfrecord"), "textline": os.path.join(tmp, "bench.csv")}
        if "tfrecord" in cases:
            write_records(paths["tfrecord"], args.records)
        if "textline" in cases:
            write_lines(paths["textline"], args.lines)
        worker = TFWorker(args.threads)
        results: dict[str, dict[str, list[float]]] = {
            c: {"te": [], "tf": [], "te_cpu": [], "tf_cpu": []} for c in cases
        }
        try:
            for r in range(args.repeats):
                for case in cases:
                    path = paths.get(case, "")
                    order = ("te", "tf") if r % 2 == 0 else ("tf", "te")
                    for side in order:
                        if side == "tf":
                            out = worker.run({"case": case, "rows": args.rows, "path": path})
                        else:
                            out = te_pass(case, columns, path)
                        results[case][side].append(out["rows"] / out["seconds"])
                        results[case][side + "_cpu"].append(out["rows"] / out["cpu"])
        finally:
            worker.close()
    print(f"rows/s, {args.repeats} interleaved repeats, {args.threads} thread(s); median (min-max)")
    print("wall: rows per wall-clock second; cpu: rows per CPU-second of the process (all its threads),")
    print("the per-core figure, less disturbed by other load on a shared machine")
    labels = {
        "slices": f"from_tensor_slices(20 cols x {args.rows}).shuffle(10000).batch(512)",
        "tfrecord": f"TFRecordDataset({args.records} Examples).batch(512).map(parse_example)",
        "textline": f"TextLineDataset({args.lines} lines).map(decode_csv per line).batch(32)",
    }
    for case in cases:
        print(labels[case])
        for suffix, name in (("", "wall"), ("_cpu", "cpu")):
            te_r, tf_r = results[case]["te" + suffix], results[case]["tf" + suffix]
            ratios = [a / b for a, b in zip(te_r, tf_r)]
            print(
                f"  {name:4s} te.data {statistics.median(te_r):>12,.0f} ({min(te_r):,.0f}-{max(te_r):,.0f})"
                f"   tf.data {statistics.median(tf_r):>12,.0f} ({min(tf_r):,.0f}-{max(tf_r):,.0f})"
                f"   ratio te/tf {statistics.median(ratios):.2f}x "
                f"(per repeat: {', '.join(f'{x:.2f}' for x in ratios)})"
            )


if __name__ == "__main__":
    main()
