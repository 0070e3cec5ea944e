"""te.data behaviour the TF fixtures do not pin: inputs of every kind, caching to files (no pickle),
parallel map, vectorised vs per-element paths agreeing, errors that name the fix."""

from __future__ import annotations

import gzip
import json
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import torchestimator as te
from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.parsing import Ragged

D = te.data.Dataset


def _ints(ds: te.data.Dataset) -> list[int]:
    return [int(x) for x in ds]


# ---- sources ---------------------------------------------------------------------------------------------


def test_from_tensor_slices_takes_pandas_torch_and_lists() -> None:
    df = pd.DataFrame({"a": [1.5, 2.5, 3.5], "s": ["x", "y", "z"]})
    ds = D.from_tensor_slices((dict(df), torch.tensor([0, 1, 0])))
    (features, label), *_ = list(ds)
    assert features["a"] == np.float64(1.5) and features["s"] == "x" and label == 0
    batch = next(iter(ds.batch(3)))
    assert batch[0]["s"].dtype == object and batch[0]["s"].tolist() == ["x", "y", "z"]
    assert batch[1].dtype == np.int64
    assert next(iter(D.from_tensor_slices([[1, 2], [3, 4]]))).tolist() == [1, 2]


def test_from_tensor_slices_rejects_mismatched_lengths_and_scalars() -> None:
    with pytest.raises(InvalidArgumentError, match="same first dimension"):
        D.from_tensor_slices({"a": np.arange(3), "b": np.arange(4)})
    with pytest.raises(InvalidArgumentError, match="from_tensors"):
        D.from_tensor_slices(np.float32(1.0))


def test_from_generator_is_called_per_iteration_and_converts_dtypes() -> None:
    calls = []

    def gen():
        calls.append(1)
        yield from ([1.0, 2.0], [3.0, 4.0])

    ds = D.from_generator(gen, output_signature=te.data.TensorSpec(shape=(2,), dtype="float32"))
    first = list(ds)
    assert [x.dtype for x in first] == [np.float32, np.float32]
    assert list(map(list, ds)) == [[1.0, 2.0], [3.0, 4.0]] and len(calls) == 2
    assert int(ds.cardinality()) == te.data.UNKNOWN_CARDINALITY


def test_list_files_shuffles_per_iteration_and_covers_all(tmp_path: Path) -> None:
    for i in range(6):
        (tmp_path / f"part-{i}.txt").write_text(f"{i}\n")
    ds = D.list_files(str(tmp_path / "part-*.txt"), seed=4)
    orders = [list(ds) for _ in range(4)]
    assert all(sorted(o) == sorted(str(p) for p in tmp_path.glob("part-*.txt")) for o in orders)
    assert len({tuple(o) for o in orders}) > 1
    with pytest.raises(InvalidArgumentError, match="No files match"):
        D.list_files(str(tmp_path / "nothing-*.csv"))


def test_text_and_tfrecord_compression_and_parallel_reads(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "a.txt.gz", "wt") as f:
        f.write("x\ny\n")
    assert list(te.data.TextLineDataset(str(tmp_path / "a.txt.gz"), compression_type="GZIP")) == ["x", "y"]
    paths = []
    for name, n in (("a", 3), ("b", 1)):
        with te.io.TFRecordWriter(str(tmp_path / f"{name}.tfrecord"), "GZIP") as w:
            for i in range(n):
                w.write(f"{name}{i}".encode())
        paths.append(str(tmp_path / f"{name}.tfrecord"))
    records = te.data.TFRecordDataset(paths, compression_type="GZIP", num_parallel_reads=2)
    assert list(records) == [b"a0", b"b0", b"a1", b"a2"]  # TF: interleave files, one record each


# ---- transformations ---------------------------------------------------------------------------------------


def test_vectorised_and_per_element_paths_agree() -> None:
    columns = {"x": np.arange(50), "s": np.array([f"r{i}" for i in range(50)], dtype=object)}
    fast = D.from_tensor_slices(columns)
    slow = D.from_generator(lambda: ({"x": np.int64(i), "s": f"r{i}"} for i in range(50)))
    assert fast._vectorized() and not slow._vectorized()
    for chain in (
        lambda d: d.skip(3).take(40).shard(3, 1).batch(4),
        lambda d: d.repeat(2).batch(7, drop_remainder=True),
        lambda d: d.enumerate(2).batch(9),
        lambda d: d.concatenate(d.take(5)).batch(11),
        lambda d: d.batch(6).unbatch().batch(8),
        lambda d: D.zip((d, D.range(100).skip(7), d.skip(45))).batch(3),
    ):
        a = [json.dumps(_jsonable(b)) for b in chain(fast)]
        b = [json.dumps(_jsonable(b)) for b in chain(slow)]
        assert a == b


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, tuple):
        return [_jsonable(v) for v in x]
    return np.asarray(x).tolist()


def test_shuffle_buffer_of_the_vectorised_path_has_tf_reach() -> None:
    # buffer 8 over 0..199: output p comes from input positions < p + 8, and the first 8 inputs fill it
    out = _ints(D.range(200).shuffle(8, seed=0))
    assert sorted(out) == list(range(200))
    assert all(v < p + 8 for p, v in enumerate(out))
    assert out != list(range(200))
    # the element path (a generator source) has the same reach
    slow = _ints(D.from_generator(lambda: iter(range(200))).shuffle(8, seed=0))
    assert sorted(slow) == list(range(200)) and all(v < p + 8 for p, v in enumerate(slow))


def test_shuffle_draws_uniformly_from_the_buffer() -> None:
    # TF's first output is uniform over the first buffer_size inputs
    firsts = np.bincount([int(next(iter(D.range(40).shuffle(4, seed=s)))) for s in range(4000)], minlength=40)
    assert firsts[4:].sum() == 0
    assert np.all(np.abs(firsts[:4] / 4000 - 0.25) < 0.03)


def test_parallel_map_keeps_order_and_unordered_map_keeps_elements() -> None:
    def slow_square(x):
        time.sleep(0.002 if x % 3 else 0.0)
        return x * x

    ordered = _ints(D.range(40).map(slow_square, num_parallel_calls=4))
    assert ordered == [i * i for i in range(40)]
    loose = _ints(D.range(40).map(slow_square, num_parallel_calls=4, deterministic=False))
    assert sorted(loose) == [i * i for i in range(40)]
    names = set()
    list(D.range(8).map(lambda x: names.add(threading.current_thread().name) or x, num_parallel_calls=2))
    assert any(n.startswith("te-data-map") for n in names)


def test_map_converts_python_scalars_like_tf() -> None:
    x = next(iter(D.range(1).map(lambda x: (1, 2.5, "s", True))))
    assert [np.asarray(v).dtype.name for v in x[:2]] == ["int32", "float32"]
    assert x[2] == "s" and x[3] == np.True_


def test_filter_needs_a_scalar_bool() -> None:
    with pytest.raises(InputError, match="scalar bool"):
        list(D.range(3).batch(2).filter(lambda x: x > 0))


def test_batch_of_different_shapes_points_to_padded_batch() -> None:
    ds = D.range(1, 4).map(lambda n: np.zeros((n, 2))).batch(2)
    with pytest.raises(InputError, match="padded_batch"):
        list(ds)


def test_batch_of_variable_length_vectors_is_ragged_like_parse_example() -> None:
    values = [[b"a", b"b"][: i % 3] for i in range(5)]
    records = [
        te.inputs.encode_example({"t": v, "x": float(i)} if v else {"x": float(i)})
        for i, v in enumerate(values)
    ]
    spec = {"t": te.io.VarLenFeature("string"), "x": te.io.FixedLenFeature([], "float32")}
    per_record = D.from_tensor_slices(np.array(records, dtype=object)).map(
        lambda r: te.io.parse_single_example(r, spec)
    )
    batch = next(iter(per_record.batch(5)))
    whole = te.io.parse_example(records, spec)
    assert isinstance(batch["t"], Ragged)
    assert batch["t"].to_rows() == whole["t"].to_rows() == values
    assert batch["x"].tolist() == whole["x"].tolist()


def test_unbatch_of_ragged_parse_results(tmp_path: Path) -> None:
    values = [[b"a", b"b"][: i % 3] for i in range(5)]
    records = [te.inputs.encode_example({"t": v} if v else {}) for v in values]
    ds = D.from_tensor_slices(np.array(records, dtype=object)).batch(3)
    parsed = ds.map(lambda r: te.io.parse_example(r, {"t": te.io.VarLenFeature("string")}))
    assert isinstance(next(iter(parsed))["t"], Ragged)
    rows = [e["t"].tolist() for e in parsed.unbatch()]
    assert rows == [[], [b"a"], [b"a", b"b"], [], [b"a"]]


def test_zip_concatenate_and_take_while_infinite() -> None:
    ds = D.zip((D.range(3).repeat(), D.from_tensor_slices(["a", "b"])))
    assert [(int(a), b) for a, b in ds] == [(0, "a"), (1, "b")]
    assert _ints(D.range(2).concatenate(D.range(5, 7)).repeat(2)) == [0, 1, 5, 6, 0, 1, 5, 6]
    assert len(D.range(10).batch(3)) == 4
    with pytest.raises(TypeError, match="infinite"):
        len(D.range(3).repeat())


def test_repeat_of_an_empty_dataset_ends() -> None:
    assert list(D.range(0).repeat()) == []
    assert list(D.range(5).filter(lambda x: x > 9).repeat().take(3)) == []


def test_options_are_accepted() -> None:
    options = te.data.Options()
    options.experimental_distribute.auto_shard_policy = te.data.experimental.AutoShardPolicy.DATA
    options.deterministic = False
    ds = D.range(4).with_options(options)
    assert _ints(ds) == [0, 1, 2, 3]
    assert ds.options().deterministic is False


def test_apply_must_return_a_dataset() -> None:
    with pytest.raises(InvalidArgumentError, match="must return a Dataset"):
        D.range(3).apply(lambda d: list(d))


def test_shard_index_is_checked() -> None:
    with pytest.raises(InvalidArgumentError, match=r"shard index must be in \[0, num_shards=2\)"):
        D.range(3).shard(2, 2)


# ---- cache ------------------------------------------------------------------------------------------------


def test_memory_cache_runs_the_input_once() -> None:
    calls = []
    ds = D.range(5).map(lambda x: calls.append(1) or x).cache()
    assert _ints(ds) == _ints(ds) == [0, 1, 2, 3, 4]
    assert len(calls) == 5
    partial = D.range(5).map(lambda x: calls.append(1) or x).cache()
    calls.clear()
    assert _ints(partial.take(2)) == [0, 1]
    assert _ints(partial) == [0, 1, 2, 3, 4] and len(calls) == 7  # an incomplete pass is not kept


def test_file_cache_is_plain_npz_and_reused_by_a_new_dataset(tmp_path: Path) -> None:
    calls = []

    def build():
        records = D.from_tensor_slices(
            (
                {"x": np.arange(4.0), "s": np.array(["a", "b", "c", "d"], dtype=object)},
                np.array([b"\x00", b"1", b"", b"z\x00"], dtype=object),
            )
        )
        return records.map(lambda f, b: (calls.append(1) or f, b)).cache(str(tmp_path / "c"))

    first = [(f["x"].item(), f["s"], b) for f, b in build()]
    assert len(calls) == 4 and (tmp_path / "c.npz").exists()
    with zipfile.ZipFile(tmp_path / "c.npz") as z:
        for name in z.namelist():  # every entry loads without pickle
            with z.open(name) as f:
                np.lib.format.read_array(f, allow_pickle=False)
    again = [(f["x"].item(), f["s"], b) for f, b in build()]
    assert again == first == [(0.0, "a", b"\x00"), (1.0, "b", b"1"), (2.0, "c", b""), (3.0, "d", b"z\x00")]
    assert len(calls) == 4  # the second dataset read the file


def test_file_cache_rejects_a_foreign_file(tmp_path: Path) -> None:
    np.savez(tmp_path / "c.npz", meta=np.frombuffer(b'{"format": "other"}', dtype=np.uint8))
    with pytest.raises(InputError, match="cache format"):
        list(D.range(3).cache(str(tmp_path / "c")))


# ---- text helpers -----------------------------------------------------------------------------------------


def test_decode_csv_errors_name_the_fix() -> None:
    with pytest.raises(InputError, match="expected 3"):
        te.data.decode_csv(["1,2"], [[0], [0], [0]])
    with pytest.raises(InputError, match="required"):
        te.data.decode_csv(["1,"], [[0], "int32"])
    with pytest.raises(InputError, match="not a valid int32"):
        te.data.decode_csv(["1,x"], [[0], [0]])
    a, b = te.data.decode_csv(np.array([["1,a"], ["2,"]], dtype=object), [[0], ["?"]])
    assert a.shape == (2, 1) and b.tolist() == [["a"], ["?"]]


def test_string_split_bytes_and_maxsplit() -> None:
    assert te.data.string_split(b"a b  c").tolist() == [b"a", b"b", b"c"]
    assert te.data.string_split("a,b,c", sep=",", maxsplit=1).tolist() == ["a", "b,c"]


def test_a_dataset_of_file_names_is_read_lazily_and_reshuffled(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text(f"line {i}\n")
    lines = te.data.TextLineDataset(D.list_files(str(tmp_path / "f*.txt"), seed=1))
    epochs = [list(lines) for _ in range(4)]
    assert all(sorted(e) == [f"line {i}" for i in range(5)] for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1  # list_files reshuffles per iteration, as in TF
    forever = te.data.TextLineDataset(D.list_files(str(tmp_path / "f*.txt"), shuffle=False).repeat())
    assert list(forever.take(7)) == [f"line {i % 5}" for i in range(7)]
