"""The TensorFlow-free checkpoint reader against TF's own reading of the same files (fixture sums)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from tf_checkpoint_cases import CASES, FIXTURES, fixture

from torchestimator.compat import TFBundle, find_tf_checkpoint, is_tf_checkpoint
from torchestimator.compat._bundle_format import decode_slice_key, read_ordered_signed
from torchestimator.errors import CheckpointNotFoundError, CorruptCheckpointError


@pytest.mark.parametrize("case", [*CASES, "partitioned_v1"])
def test_names_shapes_and_values_are_tfs(case: str) -> None:
    record = fixture()[case]
    bundle = TFBundle(FIXTURES / case)
    assert {n: list(s) for n, s in bundle.shapes().items()} == record["tf_variables"]
    for name, total in record["tf_sums"].items():
        assert float(np.sum(bundle.read(name), dtype=np.float64)) == pytest.approx(
            total, rel=1e-6, abs=1e-9
        ), name


def test_partitioned_variable_is_reassembled_from_its_slices() -> None:
    bundle = TFBundle(FIXTURES / "partitioned_v1")
    name = "dnn/input_from_feature_columns/input_layer/h_embedding/embedding_weights"
    table = bundle.read(name)
    assert table.shape == (7, 2) and bundle.covered_rows(name).all()
    assert np.count_nonzero(table) == 14  # both partitions (rows 0-3 and 4-6) were filled
    # TF 1 keeps one slot per partition, each holding only its own rows
    assert bundle.covered_rows(name + "/t_0/Adagrad").tolist() == [True] * 4 + [False] * 3
    assert bundle.covered_rows(name + "/t_1/Adagrad").tolist() == [False] * 4 + [True] * 3


def test_ordered_code_slice_keys() -> None:
    # OrderedCode(0) + "w" + rank 2 + (start 4, length 3) + (start 0, length -1 = full)
    key = b"\x00" + b"w\x00\x01" + b"\x01\x02" + bytes([0x84, 0x83, 0x80, 0x7F])
    assert decode_slice_key(key) == ("w", ((4, 3), (0, -1)))
    assert read_ordered_signed(bytes([0xC0, 0x80]), 0) == (128, 2)  # two-byte positive: 10xxxxxx xxxxxxxx
    assert read_ordered_signed(bytes([0x3F, 0x7F]), 0) == (-129, 2)


def test_locating_checkpoints(tmp_path: Path) -> None:
    prefix = find_tf_checkpoint(FIXTURES / "baseline")
    assert prefix.name == "model.ckpt-30"
    assert find_tf_checkpoint(f"{prefix}.index") == prefix == find_tf_checkpoint(prefix)
    assert (
        find_tf_checkpoint(FIXTURES / "saved_model") == FIXTURES / "saved_model" / "variables" / "variables"
    )
    assert is_tf_checkpoint(FIXTURES / "saved_model") and not is_tf_checkpoint(tmp_path)
    with pytest.raises(CheckpointNotFoundError, match="no TF checkpoint"):
        TFBundle(tmp_path)


def _copy(case: str, tmp_path: Path) -> Path:
    dest = tmp_path / case
    shutil.copytree(FIXTURES / case, dest)
    return dest


def test_corrupt_tensor_bytes_fail_the_crc(tmp_path: Path) -> None:
    model_dir = _copy("baseline", tmp_path)
    data = model_dir / "model.ckpt-30.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    bundle = TFBundle(model_dir)  # the index is intact
    with pytest.raises(CorruptCheckpointError, match="checksum mismatch"):
        for name in bundle.names():
            bundle.read(name)


def test_corrupt_index_fails_the_block_crc(tmp_path: Path) -> None:
    model_dir = _copy("baseline", tmp_path)
    index = model_dir / "model.ckpt-30.index"
    raw = bytearray(index.read_bytes())
    raw[10] ^= 0x01  # inside the first data block
    index.write_bytes(bytes(raw))
    with pytest.raises(CorruptCheckpointError, match="checksum mismatch"):
        TFBundle(model_dir)


def test_missing_data_shard_is_named(tmp_path: Path) -> None:
    model_dir = _copy("baseline", tmp_path)
    (model_dir / "model.ckpt-30.data-00000-of-00001").unlink()
    with pytest.raises(CorruptCheckpointError, match="data-00000-of-00001 is missing"):
        TFBundle(model_dir).read("baseline/bias")


def test_the_state_file_is_read_by_file_name_inside_the_model_dir(tmp_path: Path) -> None:
    model_dir = _copy("baseline", tmp_path)
    (model_dir / "checkpoint").write_text('model_checkpoint_path: "/old/host/training/model.ckpt-30"\n')
    assert find_tf_checkpoint(model_dir).name == "model.ckpt-30"  # a model_dir moved from another machine
    outside = tmp_path / "elsewhere.index"
    outside.write_bytes(b"")
    (model_dir / "checkpoint").write_text('model_checkpoint_path: "../elsewhere"\n')
    # never followed outside the folder: the newest model.ckpt-*.index inside it is used instead
    assert find_tf_checkpoint(model_dir) == model_dir / "model.ckpt-30"
