"""The runtime-built tf.Example descriptor decodes TF's bytes and encodes what TF decodes."""

from __future__ import annotations

import numpy as np
import pytest
from inputs_fixtures import FIXTURES, load

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.inputs.example_proto import (
    decode_example,
    decode_sequence_example,
    encode_example,
    encode_sequence_example,
)
from torchestimator.inputs.tfrecord import read_records

EXAMPLES = load("examples.json")


def test_decodes_tf_serialized_example() -> None:
    record = bytes.fromhex(EXAMPLES["serialized_hex"][1])
    decoded = decode_example(record)
    assert decoded["i_int"] == ("int64", [-9_000_000_000])
    assert decoded["s_str"] == ("bytes", [b"\xff\x00bin"])
    assert decoded["f_vec"] == ("float", [4.0, 5.0, 6.0])
    assert decoded["v_float"] == ("float", [])  # an empty list is present, not missing
    assert "opt_int" not in decoded


def test_encode_decode_roundtrip_types() -> None:
    record = encode_example(
        {
            "f": np.array([[1.5, 2.5]], dtype=np.float64),
            "i": np.int32(7),
            "b": True,
            "s": ["a", b"\x00b"],
            "e": [],
        }
    )
    assert decode_example(record) == {
        "f": ("float", [1.5, 2.5]),
        "i": ("int64", [7]),
        "b": ("int64", [1]),
        "s": ("bytes", [b"a", b"\x00b"]),
        "e": ("float", []),
    }


def test_sequence_example_roundtrip_matches_tf_file() -> None:
    tf_record = next(read_records(str(FIXTURES / "sequence.tfrecord")))
    context, lists = decode_sequence_example(tf_record)
    ours = encode_sequence_example(
        {"length": 3, "sid": b"s0"},
        {
            "tokens": [[1], [2], [3]],
            "vecs": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
            "words": [["a"], [], ["b", "c"]],
        },
    )
    assert decode_sequence_example(ours) == (context, lists)
    assert lists["words"][1] == ("bytes", [])


def test_garbage_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"tf\.train\.Example"):
        decode_example(b"\xff\xff\xff")


def test_unencodable_value() -> None:
    with pytest.raises(InvalidArgumentError, match="'c'"):
        encode_example({"c": [1 + 2j]})
