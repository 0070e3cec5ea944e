"""Input-pipeline throughput on the synthetic benchmark (prints figures, asserts nothing).

Writes ``--rows`` rows of the synthetic click-through data (10 float + 10 int64 features + label) to a
temporary CSV file and a TFRecord file of ``tf.train.Example``, then measures rows/s to produce numpy
training batches of 512:

* CSV: ``make_csv_dataset`` (pyarrow reader + TF type rules), no shuffle / with shuffle;
* TFRecord: ``make_tfrecord_dataset`` (framing + CRC + vectorised Example decoding), no shuffle / with
  shuffle, the decoder alone on in-memory records, and the protobuf-runtime path for comparison.

Worker processes: none. Measured on this 2-core machine (shared), two forked reader processes sharding the
files by ``InputContext`` gave no reliable gain over one process, so the readers stay single-process
with one background prefetch thread; shard with ``input_context`` to scale out across processes.

Usage::

    .venv/bin/python scripts/bench_inputs.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synthetic_data import BATCH_SIZE, CATEGORICAL_KEYS, NUMERIC_KEYS, make_synthetic

from torchestimator.inputs import TFRecordWriter, make_csv_dataset, make_tfrecord_dataset
from torchestimator.inputs.example_fast import parse_records
from torchestimator.inputs.example_parsing import parse_example_slow
from torchestimator.inputs.tfrecord import read_record_chunks
from torchestimator.parsing import FixedLenFeature


def _write_csv(path: str, features: dict[str, np.ndarray], labels: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.table({**features, "label": labels})
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))


def _write_tfrecord(path: str, features: dict[str, np.ndarray], labels: np.ndarray) -> None:
    # Example bytes built by protobuf once per row (writing speed is not what we measure)
    from torchestimator.inputs.example_proto import Example

    columns = {k: v.tolist() for k, v in features.items()}
    label_list = labels.tolist()
    with TFRecordWriter(path) as writer:
        for i in range(len(labels)):
            msg = Example()
            feature_map = msg.features.feature  # type: ignore[attr-defined]
            for key in NUMERIC_KEYS:
                feature_map[key].float_list.value.append(columns[key][i])
            for key in CATEGORICAL_KEYS:
                feature_map[key].int64_list.value.append(columns[key][i])
            feature_map["label"].int64_list.value.append(label_list[i])
            writer.write(msg.SerializeToString())


def _rate(name: str, make: Callable[[], Iterable[Any]], expected_rows: int, repeats: int = 2) -> float:
    """Print rows/s by wall clock and by process CPU time (= rows/s per busy core, less sensitive to
    other processes sharing the machine); return the wall-clock rate."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        rows = 0
        for batch in make():
            label = batch[1] if isinstance(batch, tuple) else batch["label"]
            rows += len(label)
        best_wall = min(best_wall, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - cpu_start)
        if rows != expected_rows:
            raise SystemExit(f"{name}: expected {expected_rows} rows, got {rows}")
    print(
        f"{name:<60s} {expected_rows / best_wall / 1e3:8.1f} k rows/s wall  "
        f"{expected_rows / best_cpu / 1e3:8.1f} k rows/s per CPU-second"
    )
    return expected_rows / best_wall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    n = args.rows
    features, labels = make_synthetic(n, seed=0)
    spec = {k: FixedLenFeature([], "float32") for k in NUMERIC_KEYS}
    spec.update({k: FixedLenFeature([], "int64") for k in CATEGORICAL_KEYS})
    spec["label"] = FixedLenFeature([], "int64")
    print(f"synthetic benchmark: {n} rows, 10 float + 10 int64 features + label, batch {BATCH_SIZE}")
    print(f"cpu cores visible: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}; single process")
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = os.path.join(tmp, "synthetic.csv")
        tfr_path = os.path.join(tmp, "synthetic.tfrecord")
        t0 = time.perf_counter()
        _write_csv(csv_path, features, labels)
        _write_tfrecord(tfr_path, features, labels)
        print(
            f"wrote CSV {os.path.getsize(csv_path) / 1e6:.1f} MB and TFRecord {os.path.getsize(tfr_path) / 1e6:.1f} MB "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        common: dict[str, Any] = dict(num_epochs=1, prefetch_buffer_size=0)
        _rate(
            "CSV make_csv_dataset, shuffle=False",
            lambda: make_csv_dataset(csv_path, BATCH_SIZE, label_name="label", shuffle=False, **common),
            n,
        )
        _rate(
            "CSV make_csv_dataset, shuffle=True (buffer 10000)",
            lambda: make_csv_dataset(csv_path, BATCH_SIZE, label_name="label", shuffle_seed=0, **common),
            n,
        )
        _rate(
            "CSV make_csv_dataset, shuffle=True + prefetch thread",
            lambda: make_csv_dataset(csv_path, BATCH_SIZE, label_name="label", shuffle_seed=0, num_epochs=1),
            n,
        )
        _rate(
            "TFRecord make_tfrecord_dataset, shuffle=False",
            lambda: make_tfrecord_dataset(
                tfr_path, BATCH_SIZE, spec, label_key="label", shuffle=False, **common
            ),
            n,
        )
        _rate(
            "TFRecord make_tfrecord_dataset, shuffle=True (buffer 10000)",
            lambda: make_tfrecord_dataset(
                tfr_path, BATCH_SIZE, spec, label_key="label", shuffle_seed=0, **common
            ),
            n,
        )
        _rate(
            "TFRecord make_tfrecord_dataset, shuffle=True + prefetch",
            lambda: make_tfrecord_dataset(
                tfr_path, BATCH_SIZE, spec, label_key="label", shuffle_seed=0, num_epochs=1
            ),
            n,
        )
        chunks = list(read_record_chunks(tfr_path))

        def framing_only() -> Iterable[Any]:
            for chunk in read_record_chunks(tfr_path):
                yield {"label": chunk.starts}

        _rate("TFRecord framing + CRC32C only (read_record_chunks)", framing_only, n)

        def decode_only() -> Iterable[Any]:
            for chunk in chunks:
                for s in range(0, len(chunk), BATCH_SIZE):
                    parsed = parse_records(
                        chunk.buffer,
                        chunk.starts[s : s + BATCH_SIZE],
                        chunk.lengths[s : s + BATCH_SIZE],
                        spec,
                    )
                    assert parsed is not None
                    yield parsed

        _rate("Example decoding only (vectorised, in-memory, batch 512)", decode_only, n)
        slow_n = min(n, 20_000)
        records = [r for chunk in chunks for r in chunk.records()][:slow_n]

        def protobuf_path() -> Iterable[Any]:
            for s in range(0, slow_n, BATCH_SIZE):
                yield parse_example_slow(records[s : s + BATCH_SIZE], spec)

        _rate(
            f"Example decoding via protobuf runtime ({slow_n} rows, reference)",
            protobuf_path,
            slow_n,
            repeats=1,
        )


if __name__ == "__main__":
    main()
