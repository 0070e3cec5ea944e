"""make_tfrecord_dataset / TFRecordDataset on TF-written files; sharding and seeds on files we write."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from inputs_fixtures import FIXTURES, load, tf_array

from torchestimator.errors import InvalidArgumentError
from torchestimator.inputs import TFRecordDataset, TFRecordWriter, encode_example, make_tfrecord_dataset
from torchestimator.parallel.input_context import InputContext
from torchestimator.parsing import FixedLenFeature, VarLenFeature

EXAMPLES = load("examples.json")
SPEC = {
    "f_float": FixedLenFeature([], "float32"),
    "i_int": FixedLenFeature([], "int64"),
    "s_str": FixedLenFeature([], "string"),
    "v_int": VarLenFeature("int64"),
}


def test_tfrecord_dataset_yields_tf_records_and_restarts() -> None:
    dataset = TFRecordDataset([str(FIXTURES / "examples.tfrecord.gz")], compression_type="GZIP")
    records = [bytes.fromhex(h) for h in EXAMPLES["serialized_hex"]]
    assert list(dataset) == records
    assert list(dataset) == records


@pytest.mark.parametrize(
    ("name", "compression"), [("examples.tfrecord", None), ("examples.tfrecord.gz", "GZIP")]
)
def test_batches_match_tf_parse(name: str, compression: str | None) -> None:
    batches = list(
        make_tfrecord_dataset(
            str(FIXTURES / name),
            2,
            SPEC,
            label_key="i_int",
            num_epochs=1,
            shuffle=False,
            compression_type=compression,
        )
    )
    assert [len(label) for _, label in batches] == [2, 2, 1]
    labels = np.concatenate([label for _, label in batches])
    assert labels.tolist() == tf_array(EXAMPLES["parse_example"]["i_int"]).tolist()
    strings = np.concatenate([f["s_str"] for f, _ in batches])
    assert strings.tolist() == tf_array(EXAMPLES["parse_example"]["s_str"]).tolist()
    v_int = [row for f, _ in batches for row in f["v_int"].to_rows()]
    want = EXAMPLES["parse_example"]["v_int"]
    splits = want["row_splits"]
    values = want["values"]["values"]
    assert v_int == [values[a:b] for a, b in itertools.pairwise(splits)]


def _write_files(tmp_path: Path, n_files: int, rows_per_file: int) -> list[str]:
    paths = []
    for f in range(n_files):
        path = tmp_path / f"part-{f}.tfrecord"
        with TFRecordWriter(path) as writer:
            for r in range(rows_per_file):
                writer.write(encode_example({"id": f * 1000 + r, "x": [float(r)] * 2}))
        paths.append(str(path))
    return paths


def _ids(dataset: Any) -> list[int]:
    return [i for features in dataset for i in features["id"].tolist()]


SIMPLE = {"id": FixedLenFeature([], "int64"), "x": FixedLenFeature([2], "float32")}


@pytest.mark.parametrize(("n_files", "num_shards"), [(4, 2), (5, 2), (1, 3), (2, 3)])
def test_shards_partition_exactly(tmp_path: Path, n_files: int, num_shards: int) -> None:
    files = _write_files(tmp_path, n_files, 7)
    pattern = str(tmp_path / "part-*.tfrecord")
    everything = _ids(make_tfrecord_dataset(pattern, 4, SIMPLE, num_epochs=1, shuffle=False))
    assert sorted(everything) == sorted(f * 1000 + r for f in range(n_files) for r in range(7))
    shards = [
        _ids(
            make_tfrecord_dataset(
                files,
                4,
                SIMPLE,
                num_epochs=1,
                shuffle=True,
                shuffle_seed=i,
                input_context=InputContext(num_shards, i),
            )
        )
        for i in range(num_shards)
    ]
    assert sorted(i for shard in shards for i in shard) == sorted(everything)
    assert all(shards)


def test_seeded_shuffle_is_reproducible(tmp_path: Path) -> None:
    files = _write_files(tmp_path, 3, 20)
    kwargs: dict[str, Any] = dict(batch_size=8, features=SIMPLE, num_epochs=2, shuffle_buffer_size=16)
    a = _ids(make_tfrecord_dataset(files, **kwargs, shuffle_seed=1))
    b = _ids(make_tfrecord_dataset(files, **kwargs, shuffle_seed=1))
    c = _ids(make_tfrecord_dataset(files, **kwargs, shuffle_seed=2))
    assert a == b != c
    assert sorted(a) == sorted(c) == sorted(2 * [f * 1000 + r for f in range(3) for r in range(20)])
    assert a[:60] != a[60:]  # epochs are reshuffled


def test_drop_final_batch_and_label_key_errors(tmp_path: Path) -> None:
    files = _write_files(tmp_path, 1, 10)
    batches = list(
        make_tfrecord_dataset(files, 4, SIMPLE, num_epochs=1, shuffle=False, drop_final_batch=True)
    )
    assert [len(b["id"]) for b in batches] == [4, 4]
    with pytest.raises(InvalidArgumentError, match="did you mean 'id'"):
        make_tfrecord_dataset(files, 4, SIMPLE, label_key="idd")


def test_varlen_rows_stay_with_their_example_through_shuffle_and_shards(tmp_path: Path) -> None:
    path = tmp_path / "varlen.tfrecord"
    with TFRecordWriter(path) as writer:
        for i in range(50):
            v = np.full(i % 4, i, dtype=np.int64)  # typed, so an empty list is an empty int64_list
            writer.write(encode_example({"id": i, "v": v, "f": np.full(i % 3, i, dtype=np.float32)}))
    spec = {"id": FixedLenFeature([], "int64"), "v": VarLenFeature("int64"), "f": VarLenFeature("float32")}
    seen = []
    for shard in range(2):
        dataset = make_tfrecord_dataset(
            str(path),
            6,
            spec,
            num_epochs=1,
            shuffle_seed=shard,
            shuffle_buffer_size=7,
            input_context=InputContext(2, shard),
        )
        for batch in dataset:
            for i, v, f in zip(batch["id"].tolist(), batch["v"].to_rows(), batch["f"].to_rows()):
                assert v == [i] * (i % 4)
                assert f == [float(i)] * (i % 3)
                seen.append(i)
    assert sorted(seen) == list(range(50))
