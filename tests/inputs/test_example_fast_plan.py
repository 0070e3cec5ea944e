"""The vectorised decoder's per-spec plan against the protobuf reference: its key matching (length, first
and last 8 bytes, then the words between for keys over 16 bytes) finds exactly the spec's keys (keys that
share a prefix, a suffix, a length, or all three with one byte changed in the middle are told apart), and
its one-gather path for ``VarLenFeature`` s with one value per record gives the reference's arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from torchestimator.inputs import example_fast
from torchestimator.inputs.example_parsing import _build_feature
from torchestimator.inputs.example_proto import decode_example, encode_example
from torchestimator.inputs.example_wire import SpecKeys
from torchestimator.parsing import FixedLenFeature, Ragged, VarLenFeature


def _reference(records: list[bytes], spec: dict[str, Any]) -> dict[str, Any]:
    decoded = [decode_example(r) for r in records]
    return {k: _build_feature(k, f, [d.get(k) for d in decoded]) for k, f in spec.items()}


def _near_misses(key: str) -> list[str]:
    """Keys one edit away from ``key``: a byte changed at the start, middle and end, one byte more or
    fewer at either end."""
    out = [key + "x", "x" + key, key[1:], key[:-1]] if key else ["x"]
    for pos in {0, len(key) // 2, len(key) - 1, 8, 9, 15, 16, 17, 23, 24} & set(range(len(key))):
        out.append(key[:pos] + ("#" if key[pos] != "#" else "$") + key[pos + 1 :])
    return [k for k in out if k != key]


LENGTHS = [1, 7, 8, 9, 15, 16, 17, 18, 23, 24, 25, 31, 33, 40]


@pytest.mark.parametrize("seed", [0, 1])
def test_keys_of_every_length_and_their_near_misses(seed: int) -> None:
    rng = np.random.default_rng(seed)
    alphabet = np.array(list("abcdefghij_"))
    spec = {"".join(rng.choice(alphabet, size=n)): VarLenFeature("int64") for n in LENGTHS}
    spec["abcdefgh" + "Q" * 9 + "ijklmnop"] = VarLenFeature("int64")  # 25 bytes: only a middle word differs
    spec["abcdefgh" + "R" * 9 + "ijklmnop"] = VarLenFeature("int64")
    names = list(spec)
    decoys = sorted({m for k in names for m in _near_misses(k)} - set(names))
    records = []
    for _ in range(60):
        features = {}
        for key in rng.permutation(names + decoys)[: int(rng.integers(0, len(names) + len(decoys)))]:
            features[str(key)] = rng.integers(-9, 10**6, size=int(rng.integers(0, 3)))
        records.append(encode_example(features))
    fast = _fast(records, spec)
    assert fast is not None
    want = _reference(records, spec)
    for key in spec:
        np.testing.assert_array_equal(fast[key].row_splits, want[key].row_splits, err_msg=key)
        np.testing.assert_array_equal(fast[key].values, want[key].values, err_msg=key)
        assert want[key].values.size  # every spec key was present somewhere


def test_spec_key_codes_are_distinct() -> None:
    keys = SpecKeys(tuple(f"feature_{i:04d}_with_a_long_common_suffix" for i in range(500)))
    assert keys.unique and len(set(keys.codes.tolist())) == 500


def _fast(records: list[bytes], spec: dict[str, Any]) -> dict[str, Any] | None:
    lengths = np.array([len(r) for r in records], dtype=np.int64)
    return example_fast.parse_records(b"".join(records), np.cumsum(lengths) - lengths, lengths, spec)


SCALARS: dict[str, Any] = {
    "f32": VarLenFeature("float32"),
    "f64": VarLenFeature("float64"),
    "i64": VarLenFeature("int64"),
    "i32": VarLenFeature("int32"),
    "s": VarLenFeature("string"),
    "s2": VarLenFeature("string"),
    "fixed": FixedLenFeature([], "float32", default_value=1.5),
}


@pytest.mark.parametrize("variant", ["one_each", "one_missing", "one_has_two", "one_empty"])
def test_varlen_with_one_value_per_record_matches_reference(variant: str) -> None:
    rng = np.random.default_rng(len(variant))
    records = []
    for i in range(40):
        features: dict[str, Any] = {
            "f32": [float(rng.standard_normal())],
            "f64": [float(rng.standard_normal())],
            "i64": [int(rng.integers(-(2**62), 2**62))],
            "i32": [int(rng.integers(-(2**31), 2**31))],
            "s": [bytes(rng.integers(0, 256, size=int(rng.integers(0, 20)), dtype=np.uint8))],
            "s2": [str(rng.choice(["a", "bb", "ccc"])).encode()],
        }
        if i == 17 and variant == "one_missing":
            del features["i64"]
        if i == 17 and variant == "one_has_two":
            features["s"] = [b"x", b"y"]
        if i == 17 and variant == "one_empty":
            features["f32"] = np.array([], dtype=np.float32)
        records.append(encode_example(features))
    fast = _fast(records, SCALARS)
    assert fast is not None
    want = _reference(records, SCALARS)
    for key, value in want.items():
        if isinstance(value, Ragged):
            assert isinstance(fast[key], Ragged)
            np.testing.assert_array_equal(fast[key].row_splits, value.row_splits, err_msg=key)
            assert fast[key].row_splits.dtype == value.row_splits.dtype
            got, value = fast[key].values, value.values
            assert got.flags.c_contiguous
        else:
            got = fast[key]
        assert got.dtype == value.dtype and got.shape == value.shape, key
        assert got.tolist() == value.tolist(), key


NEAR = [b"", b"a", b"a\0", b"\0", b"abcdefgh", b"abcdefgh\0", b"abcdefghi", b"abcdefgi", b"0123456789abcdef"]
NEAR += [b"0123456789abcdeF", b"01234567X9abcdef", b"0123456789abcde", b"\xff" * 16, b"\xff" * 15 + b"\xfe"]


@pytest.mark.parametrize("longest", [16, 17])
def test_repeated_short_strings_are_exact(longest: int) -> None:
    """Distinct values are sliced once when all are <= 16 bytes; near-identical values stay apart, and a
    longer value anywhere in the batch takes the plain path."""
    rng = np.random.default_rng(longest)
    spec = {"s": VarLenFeature("string"), "t": FixedLenFeature([2], "string")}
    records = []
    for i in range(150):
        values = [NEAR[j] for j in rng.integers(0, len(NEAR), size=int(rng.integers(0, 4)))]
        if i == 99 and longest > 16:
            values.append(b"y" * longest)
        pair = [NEAR[j] for j in rng.integers(0, len(NEAR), size=2)]
        records.append(encode_example({"s": np.array(values, dtype=object), "t": pair}))
    fast = _fast(records, spec)
    assert fast is not None
    want = _reference(records, spec)
    np.testing.assert_array_equal(fast["s"].row_splits, want["s"].row_splits)
    assert fast["s"].values.tolist() == want["s"].values.tolist()
    assert fast["t"].tolist() == want["t"].tolist() and fast["t"].shape == want["t"].shape
    assert all(type(v) is bytes for v in fast["s"].values)


@pytest.mark.parametrize("sizes", [[5, 127, 128, 300], [127, 16383, 16384, 20000]])
def test_one_two_and_three_byte_lengths(sizes: list[int]) -> None:
    """Length varints of one, two and three bytes (records, entries, lists, values) decode as protobuf does."""
    spec = {"s": VarLenFeature("string"), "f": VarLenFeature("float32"), "k": FixedLenFeature([], "int64")}
    records = [
        encode_example({"s": [b"v" * n, b"w" * (n // 3)], "f": np.ones(n // 8, np.float32), "k": [n]})
        for n in sizes * 3
    ]
    fast = _fast(records, spec)
    assert fast is not None
    want = _reference(records, spec)
    assert fast["s"].values.tolist() == want["s"].values.tolist()
    np.testing.assert_array_equal(fast["f"].row_splits, want["f"].row_splits)
    np.testing.assert_array_equal(fast["f"].values, want["f"].values)
    np.testing.assert_array_equal(fast["k"], want["k"])


def test_one_byte_ints_and_their_corruptions_match_reference() -> None:
    """Payloads of one byte each (ints below 128) decode in one gather; a damaged byte (a continuation
    bit, a changed length) gives the reference's values or its error, never a different answer."""
    from torchestimator.errors import InputError

    spec = {"a": FixedLenFeature([], "int64"), "v": VarLenFeature("int64"), "w": VarLenFeature("int32")}
    rng = np.random.default_rng(7)
    base = [
        encode_example({"a": [int(rng.integers(0, 128))], "v": [int(rng.integers(0, 128))], "w": [i % 128]})
        for i in range(80)
    ]
    fast = _fast(base, spec)
    assert fast is not None
    want = _reference(base, spec)
    np.testing.assert_array_equal(fast["a"], want["a"])
    assert fast["v"].values.tolist() == want["v"].values.tolist()
    assert fast["w"].values.dtype == want["w"].values.dtype
    compared = 0
    for _ in range(200):
        records = list(base)
        i = int(rng.integers(len(records)))
        record = bytearray(records[i])
        record[int(rng.integers(len(record)))] = int(rng.integers(256))
        records[i] = bytes(record)
        got = _fast(records, spec)
        try:
            want = _reference(records, spec)
        except InputError:  # the fast path declines, unless the damage turned a key into one it skips
            assert got is None or not all(k.encode() in records[i] for k in spec)
            continue
        if got is None:
            continue
        compared += 1
        np.testing.assert_array_equal(got["a"], want["a"])
        for key in ("v", "w"):
            assert got[key].row_splits.tolist() == want[key].row_splits.tolist()
            assert got[key].values.tolist() == want[key].values.tolist()
    assert compared > 20
