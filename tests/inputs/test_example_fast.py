"""The vectorised Example decoder agrees with the protobuf runtime on random Examples, and declines
(returns None) on inputs outside its common shape so the protobuf path gives TF's answer or error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from torchestimator.inputs import example_fast
from torchestimator.inputs.example_parsing import parse_example_slow
from torchestimator.inputs.example_proto import Example, decode_example, encode_example
from torchestimator.parsing import FixedLenFeature, Ragged, VarLenFeature


def _join(records: list[bytes]) -> tuple[bytes, np.ndarray, np.ndarray]:
    lengths = np.array([len(r) for r in records], dtype=np.int64)
    return b"".join(records), np.cumsum(lengths) - lengths, lengths


def _random_examples(rng: np.random.Generator, n: int) -> list[bytes]:
    records = []
    for _ in range(n):
        features: dict[str, Any] = {
            "f": rng.standard_normal(3).astype(np.float32),
            "i": rng.integers(-(2**63), 2**63 - 1, size=1, dtype=np.int64),
            "small": rng.integers(0, 300, size=2),
            "unused_bytes": [b"x" * int(rng.integers(0, 200))],
            "s": [bytes(rng.integers(0, 256, size=int(rng.integers(0, 140)), dtype=np.uint8))],
        }
        if rng.random() < 0.7:
            features["opt"] = rng.integers(-5, 5, size=1)
        if rng.random() < 0.8:
            features["vf"] = rng.standard_normal(int(rng.integers(0, 5))).astype(np.float32)
        if rng.random() < 0.8:
            features["vi"] = rng.integers(-(10**12), 10**12, size=int(rng.integers(0, 6)))
        if rng.random() < 0.8:
            features["vs"] = np.array(
                [b"w" * int(k) for k in rng.integers(0, 3, size=int(rng.integers(0, 4)))], dtype=object
            )
            if not len(features["vs"]):
                features["vs"] = np.array([], dtype=object)
        if rng.random() < 0.3:
            features["a_very_long_key_name_that_no_spec_uses_" + "z" * 150] = [1]
        records.append(encode_example(features))
    return records


SPEC = {
    "f": FixedLenFeature([3], "float32"),
    "i": FixedLenFeature([], "int64"),
    "small": FixedLenFeature([2], "int32"),
    "opt": FixedLenFeature([], "int64", default_value=42),
    "vf": VarLenFeature("float32"),
    "vi": VarLenFeature("int64"),
    "absent": FixedLenFeature([2], "float64", default_value=[0.5, 1.5]),
    "s": FixedLenFeature([], "string"),
    "vs": VarLenFeature("string"),
    "absent_s": FixedLenFeature([], "string", default_value="dflt"),
}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_matches_protobuf_on_random_examples(seed: int) -> None:
    records = _random_examples(np.random.default_rng(seed), 300)
    fast = example_fast.parse_records(*_join(records), SPEC)
    assert fast is not None
    slow = parse_example_slow(records, SPEC)
    for key in SPEC:
        if isinstance(slow[key], Ragged):
            np.testing.assert_array_equal(fast[key].row_splits, slow[key].row_splits)
            np.testing.assert_array_equal(fast[key].values, slow[key].values)
            assert fast[key].values.dtype == slow[key].values.dtype
        else:
            assert fast[key].dtype == slow[key].dtype
            np.testing.assert_array_equal(fast[key], slow[key])


def test_int64_extremes_decode_exactly() -> None:
    values = [0, 1, -1, 127, 128, 2**31, -(2**31) - 1, 2**63 - 1, -(2**63)]
    records = [encode_example({"v": [v]}) for v in values]
    got = example_fast.parse_records(*_join(records), {"v": FixedLenFeature([], "int64")})
    assert got is not None
    assert got["v"].tolist() == values


def test_empty_records_and_empty_batch() -> None:
    spec = {"x": VarLenFeature("int64")}
    got = example_fast.parse_records(*_join([b"", encode_example({"x": [3, 4]}), b""]), spec)
    assert got is not None
    assert got["x"].row_splits.tolist() == [0, 0, 2, 2]
    assert got["x"].values.tolist() == [3, 4]
    empty = example_fast.parse_records(b"", np.zeros(0, np.int64), np.zeros(0, np.int64), spec)
    assert empty is not None and empty["x"].nrows == 0


def _unpacked_int_example() -> bytes:
    # Int64List with unpacked values (field 1, varint wire type: tag 0x08) is valid protobuf
    int64_list = b"\x08\x05\x08\x06"
    feature = b"\x1a" + bytes([len(int64_list)]) + int64_list
    entry = b"\x0a\x01x" + b"\x12" + bytes([len(feature)]) + feature
    features = b"\x0a" + bytes([len(entry)]) + entry
    return b"\x0a" + bytes([len(features)]) + features


def test_unpacked_values_fall_back_to_protobuf() -> None:
    record = _unpacked_int_example()
    msg = Example()
    msg.ParseFromString(record)
    assert list(msg.features.feature["x"].int64_list.value) == [5, 6]  # the oracle: protobuf itself
    spec = {"x": VarLenFeature("int64")}
    assert example_fast.parse_records(*_join([record]), spec) is None
    from torchestimator.inputs.example_parsing import parse_example

    assert parse_example([record], spec)["x"].values.tolist() == [5, 6]


@pytest.mark.parametrize(
    ("record", "spec"),
    [
        (encode_example({"x": [1.0]}), {"x": FixedLenFeature([], "int64")}),  # type mismatch
        (encode_example({"y": [1]}), {"x": FixedLenFeature([], "int64")}),  # required missing
        (encode_example({"x": [1, 2]}), {"x": FixedLenFeature([], "int64")}),  # count mismatch
        (encode_example({"x": ["s"]}), {"x": VarLenFeature("int64")}),  # bytes under a numeric key
    ],
)
def test_errors_are_left_to_the_protobuf_path(record: bytes, spec: dict[str, Any]) -> None:
    assert example_fast.parse_records(*_join([record]), spec) is None


def test_supports_fixed_and_varlen_only() -> None:
    from torchestimator.parsing import FixedLenSequenceFeature

    assert example_fast.supports({"a": FixedLenFeature([], "string"), "b": VarLenFeature("int64")})
    assert not example_fast.supports({"a": FixedLenSequenceFeature([], "int64", allow_missing=True)})


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _entry_keys(record: bytes) -> list[bytes] | None:
    """The feature keys of a well-formed ``Example -> Features -> map entry`` nesting, reading each
    entry's key but never its value (TF's fast parser's view); None if that outer nesting is broken."""
    try:
        tag, pos = _varint(record, 0)
        size, pos = _varint(record, pos)
        if tag != 0x0A or pos + size != len(record):
            return None
        keys = []
        while pos < len(record):
            tag, pos = _varint(record, pos)
            size, pos = _varint(record, pos)
            end = pos + size
            if tag != 0x0A or end > len(record):
                return None
            tag, pos = _varint(record, pos)
            klen, pos = _varint(record, pos)
            if tag != 0x0A or pos + klen > end:
                return None
            keys.append(record[pos : pos + klen])
            pos = end
        return keys
    except IndexError:
        return None


def test_corrupted_records_never_give_a_silently_different_answer() -> None:
    """Flip one random byte: whenever the fast decoder answers, it is TF's answer.

    Where protobuf decodes the record, the values must be equal. Where protobuf rejects it, the fast
    decoder may answer only as TF's parser does (checked against TF 2.15 for a recorded case): the
    damage lies inside the value of a feature whose key the spec does not name, whose bytes TF skips
    without parsing; the protobuf runtime parses every value.
    """
    from torchestimator.errors import InputError

    rng = np.random.default_rng(5)
    base = []
    for record in _random_examples(rng, 40):
        decoded = decode_example(record)
        base.append(
            encode_example(
                {
                    k: np.asarray(v[1], dtype=_KIND_DTYPE[v[0]])
                    for k, v in sorted(decoded.items())
                    if k in SPEC
                }
            )
        )
    answered = rejected_by_both = skipped_like_tf = 0
    for _ in range(400):
        records = list(base[:8])
        i = int(rng.integers(len(records)))
        record = bytearray(records[i])
        record[int(rng.integers(len(record)))] = int(rng.integers(256))
        records[i] = bytes(record)
        fast = example_fast.parse_records(*_join(records), SPEC)
        try:
            slow = parse_example_slow(records, SPEC)
        except InputError:
            if fast is None:
                rejected_by_both += 1
                continue
            keys = _entry_keys(records[i])
            assert keys is not None, f"fast path accepted a broken Example: {records[i].hex()}"
            unknown = [k for k in keys if k.decode("latin-1") not in SPEC]
            assert unknown, f"fast path accepted a record protobuf rejects: {records[i].hex()}"
            skipped_like_tf += 1
            continue
        if fast is None:
            continue
        answered += 1
        for key in SPEC:
            a, b = fast[key], slow[key]
            if isinstance(b, Ragged):
                assert a.row_splits.tolist() == b.row_splits.tolist(), key
                a, b = a.values, b.values
            np.testing.assert_array_equal(a, b, err_msg=key)
    assert answered > 20 and rejected_by_both > 5


def test_damage_inside_an_unnamed_feature_is_skipped_as_tf_does() -> None:
    """TF 2.15's ``tf.io.parse_example`` returns these values for this record (a flipped key length
    turned ``vf`` into ``vf\x12\x10``, whose value is a broken Feature); protobuf rejects the record."""
    record = bytes.fromhex(
        "0a88010a130a0169120e1a0c0a0ad5ba8fd5a6cff385bb010a150a01661210120e0a0c8f2dbbbf633ff93fe9e38b3f"
        "0a080a02767312020a000a160a0476661210120e0a0c22da81be98b38dbeb808c2be0a0c0a036f707412051a030a"
        "01000a110a05736d616c6c12081a060a049a02d9010a170a017312120a100a0eef934e81d625c45d7e25b0b97bc9"
    )
    fast = example_fast.parse_records(*_join([record]), SPEC)
    assert fast is not None
    np.testing.assert_array_equal(fast["f"], np.array([[-1.4623278, 1.9472469, 1.0928928]], np.float32))
    assert fast["i"].tolist() == [-4968650738702754475]
    assert fast["vf"].values.size == 0 and fast["vf"].row_splits.tolist() == [0, 0]
    assert fast["s"].tolist() == [b"\xef\x93N\x81\xd6%\xc4]~%\xb0\xb9{\xc9"]


_KIND_DTYPE = {"float": np.float32, "int64": np.int64, "bytes": object}


SCALAR_SPEC = {
    "a": FixedLenFeature([], "int64"),
    "b": FixedLenFeature([1], "int64", default_value=[-7]),
    "x": FixedLenFeature([], "float32"),
    "v": VarLenFeature("int64"),
}


def _scalar_int_examples(rng: np.random.Generator, n: int, bits: int) -> list[bytes]:
    records = []
    for r in range(n):
        features: dict[str, Any] = {"a": [int(rng.integers(0, 2**bits))], "x": [float(r)]}
        if r % 3:
            features["b"] = [int(rng.integers(0, 2**31))]
        if r % 4 == 0:
            features["v"] = [int(rng.integers(0, 2**bits))]
        records.append(encode_example(features))
    return records


@pytest.mark.parametrize("bits", [7, 14, 21, 35, 56, 57, 63])
def test_scalar_int_fast_path_matches_protobuf(bits: int) -> None:
    """Payloads of one varint (up to 8 bytes, values below 2**56) are decoded as words; longer ones and
    lists of several values take the byte-wise decoder: both equal protobuf's values."""
    records = _scalar_int_examples(np.random.default_rng(bits), 200, bits)
    if bits == 57:
        records.append(encode_example({"a": [3], "x": [0.5], "v": [1, 2**40, 5]}))  # a list of several
    fast = example_fast.parse_records(*_join(records), SCALAR_SPEC)
    assert fast is not None
    slow = parse_example_slow(records, SCALAR_SPEC)
    for key in ("a", "b", "x"):
        assert fast[key].dtype == slow[key].dtype
        np.testing.assert_array_equal(fast[key], slow[key])
    assert fast["v"].row_splits.tolist() == slow["v"].row_splits.tolist()
    assert fast["v"].values.tolist() == slow["v"].values.tolist()


def test_corrupted_scalar_int_records_never_give_a_silently_different_answer() -> None:
    from torchestimator.errors import InputError

    rng = np.random.default_rng(11)
    base = _scalar_int_examples(rng, 8, 35)
    answered = 0
    for _ in range(300):
        records = list(base)
        i = int(rng.integers(len(records)))
        record = bytearray(records[i])
        record[int(rng.integers(len(record)))] = int(rng.integers(256))
        records[i] = bytes(record)
        fast = example_fast.parse_records(*_join(records), SCALAR_SPEC)
        try:
            slow = parse_example_slow(records, SCALAR_SPEC)
        except InputError:
            keys = _entry_keys(records[i])
            assert fast is None or (
                keys is not None and any(k.decode("latin-1") not in SCALAR_SPEC for k in keys)
            )
            continue
        if fast is None:
            continue
        answered += 1
        for key in ("a", "b", "x"):
            np.testing.assert_array_equal(fast[key], slow[key], err_msg=key)
        assert fast["v"].row_splits.tolist() == slow["v"].row_splits.tolist()
        assert fast["v"].values.tolist() == slow["v"].values.tolist()
    assert answered > 20


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 2**40])
def test_int32_feature_out_of_range_is_an_error_on_both_paths(value: int) -> None:
    """TF's parser has no int32; ours narrows int64 wire values and must never wrap one silently."""
    from torchestimator.errors import InputError
    from torchestimator.io import parse_example

    spec = {"n": FixedLenFeature([], "int32"), "v": VarLenFeature("int32")}
    records = [encode_example({"n": [1], "v": [2, 3]}), encode_example({"n": [value], "v": [4]})]
    assert example_fast.parse_records(*_join(records), spec) is None  # declined: the protobuf path decides
    with pytest.raises(InputError, match=rf"'n'.*{value}.*int32"):
        parse_example_slow(records, spec)
    with pytest.raises(InputError, match="int32"):
        parse_example(records, spec)
    records[1] = encode_example({"n": [5], "v": [value]})
    with pytest.raises(InputError, match=rf"'v'.*{value}.*int32"):
        parse_example_slow(records, spec)
    ok = parse_example([encode_example({"n": [2**31 - 1], "v": [-(2**31)]})], spec)
    assert ok["n"].tolist() == [2**31 - 1] and ok["n"].dtype == np.int32


@pytest.mark.parametrize("slot_bits", [14, 3, 1])
def test_shared_short_strings_match_protobuf_with_and_without_slot_collisions(
    slot_bits: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # categorical strings of at most 16 bytes are sliced once per distinct value; with few hash slots the
    # distinct values collide and the decoder groups them by sorting instead: the same values either way
    from torchestimator.inputs import example_values

    monkeypatch.setattr(example_values, "_SLOT_BITS", slot_bits)
    rng = np.random.default_rng(slot_bits)
    words = [bytes(rng.integers(97, 123, size=int(k), dtype=np.uint8)) for k in rng.integers(0, 17, size=40)]
    words += [b"same-prefix-" + bytes([c]) for c in b"abcd"] + [b"", b"\xff\xfe"]
    records = [
        encode_example({"c": [words[int(i)]], "v": [words[int(j)] for j in rng.integers(0, len(words), 2)]})
        for i in rng.integers(0, len(words), size=200)
    ]
    spec = {"c": FixedLenFeature([], "string"), "v": VarLenFeature("string")}
    fast = example_fast.parse_records(*_join(records), spec)
    assert fast is not None
    slow = parse_example_slow(records, spec)
    assert fast["c"].tolist() == slow["c"].tolist()
    assert fast["v"].values.tolist() == slow["v"].values.tolist()
    np.testing.assert_array_equal(fast["v"].row_splits, slow["v"].row_splits)
