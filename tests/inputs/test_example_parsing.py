"""parse_example & co. against what TF 2.15 parsed from the same serialized records."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from inputs_fixtures import load, tf_array

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.inputs import example_fast
from torchestimator.inputs.example_parsing import (
    parse_example,
    parse_example_slow,
    parse_sequence_example,
    parse_single_example,
    parse_single_sequence_example,
)
from torchestimator.inputs.example_proto import encode_example
from torchestimator.parsing import FixedLenFeature, FixedLenSequenceFeature, Ragged, VarLenFeature

EXAMPLES = load("examples.json")
SEQUENCES = load("sequence.json")
RECORDS = [bytes.fromhex(h) for h in EXAMPLES["serialized_hex"]]


def spec_from_json(spec_json: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    for key, d in spec_json.items():
        default = d.get("default_value")
        if d["type"] == "VarLenFeature":
            spec[key] = VarLenFeature(d["dtype"])
        elif d["type"] == "FixedLenSequenceFeature":
            spec[key] = FixedLenSequenceFeature(d["shape"], d["dtype"], d["allow_missing"], default)
        else:
            spec[key] = FixedLenFeature(d["shape"], d["dtype"], default)
    return spec


def assert_matches_tf(got: Any, want: dict[str, Any]) -> None:
    if want.get("sparse"):
        assert isinstance(got, Ragged)
        np.testing.assert_array_equal(got.row_splits, want["row_splits"])
        expected = tf_array(want["values"])
        assert got.values.dtype == expected.dtype
        assert got.values.tolist() == expected.tolist()
    else:
        expected = tf_array(want)
        assert got.dtype == expected.dtype
        assert got.shape == expected.shape
        assert got.tolist() == expected.tolist()


def test_parse_example_matches_tf_every_feature() -> None:
    spec = spec_from_json(EXAMPLES["spec"])
    got = parse_example(RECORDS, spec)
    assert sorted(got) == sorted(EXAMPLES["parse_example"])
    for key, want in EXAMPLES["parse_example"].items():
        assert_matches_tf(got[key], want)


@pytest.mark.parametrize("path", ["fast", "slow"])
def test_fixed_and_varlen_spec_both_paths_match_tf(path: str) -> None:
    keys = [
        "f_float",
        "f_vec",
        "i_int",
        "v_float",
        "v_int",
        "opt_int",
        "absent_vec",
        "s_str",
        "v_str",
        "absent_str",
    ]
    spec = {k: v for k, v in spec_from_json(EXAMPLES["spec"]).items() if k in keys}
    assert example_fast.supports(spec)
    if path == "fast":
        buf = b"".join(RECORDS)
        lengths = np.array([len(r) for r in RECORDS])
        got = example_fast.parse_records(buf, np.cumsum(lengths) - lengths, lengths, spec)
        assert got is not None
    else:
        got = parse_example_slow(RECORDS, spec)
    for key in keys:
        assert_matches_tf(got[key], EXAMPLES["parse_example"][key])


def test_fixed_len_sequence_feature_in_parse_example_pads_with_default() -> None:
    spec = {"v_int": FixedLenSequenceFeature([], "int64", allow_missing=True, default_value=-7)}
    assert_matches_tf(parse_example(RECORDS, spec)["v_int"], EXAMPLES["seq_v_int"])


def test_parse_single_example_matches_tf() -> None:
    spec = {k: v for k, v in spec_from_json(EXAMPLES["spec"]).items() if k != "v_int_as_seq"}
    got = parse_single_example(RECORDS[1], spec)
    for key, want in EXAMPLES["parse_single_example_1"].items():
        if want.get("sparse"):
            expected = tf_array(want["values"])
            assert got[key].dtype == expected.dtype
            assert got[key].tolist() == expected.tolist()
        else:
            assert_matches_tf(got[key], want)


def test_missing_required_feature_names_it() -> None:
    assert "missing" in EXAMPLES["errors"]["missing_required"]  # TF also fails here
    with pytest.raises(InputError, match=r"'missing'.*required but missing from example 0"):
        parse_example(RECORDS, {"missing": FixedLenFeature([], "float32")})


def test_type_mismatch_names_feature_and_both_types() -> None:
    assert "Data type: int64 but expected type: float" in EXAMPLES["errors"]["type_mismatch"]
    with pytest.raises(InputError, match=r"'i_int' of example 0: data type int64 .* float32"):
        parse_example(RECORDS, {"i_int": FixedLenFeature([], "float32")})


def test_wrong_value_count_is_an_error() -> None:
    assert "Values size: 3 but output shape: [2]" in EXAMPLES["errors"]["wrong_count"]
    with pytest.raises(InputError, match=r"'f_vec' of example 0: 3 float values .* \[2\]"):
        parse_example(RECORDS, {"f_vec": FixedLenFeature([2], "float32")})


EDGE_SPECS = {
    "fixed_default": FixedLenFeature([], "float32", default_value=9.0),
    "fixed_required": FixedLenFeature([], "float32"),
    "varlen": VarLenFeature("float32"),
    "varlen_int": VarLenFeature("int64"),
}


@pytest.mark.parametrize("case", sorted(EXAMPLES["edge"]))
def test_empty_list_and_kindless_feature_like_tf(case: str) -> None:
    from torchestimator.inputs.example_proto import Example

    feature_kind, spec_name = case.split("/")
    msg = Example()
    feature = msg.features.feature["x"]
    if feature_kind == "empty_float_list":
        feature.float_list.SetInParent()
    else:
        feature.SetInParent()
    record = msg.SerializeToString()
    want = EXAMPLES["edge"][case]
    if "error" in want:
        with pytest.raises(InputError):
            parse_example([record], {"x": EDGE_SPECS[spec_name]})
    else:
        assert_matches_tf(parse_example([record], {"x": EDGE_SPECS[spec_name]})["x"], want)


def test_default_of_wrong_size_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match=r"'absent'.*2 values but shape \[3\]"):
        parse_example(RECORDS, {"absent": FixedLenFeature([3], "float32", default_value=[1.0, 2.0])})


def test_fixed_len_sequence_needs_allow_missing() -> None:
    with pytest.raises(InvalidArgumentError, match="allow_missing=True"):
        parse_example(RECORDS, {"v_int": FixedLenSequenceFeature([], "int64")})


def test_single_record_instead_of_batch_is_explained() -> None:
    with pytest.raises(InvalidArgumentError, match="parse_single_example"):
        parse_example(RECORDS[0], {"i_int": FixedLenFeature([], "int64")})


def _seq_specs() -> tuple[dict[str, Any], dict[str, Any]]:
    return spec_from_json(SEQUENCES["context_spec"]), spec_from_json(SEQUENCES["sequence_spec"])


def test_parse_sequence_example_matches_tf() -> None:
    records = [bytes.fromhex(h) for h in SEQUENCES["serialized_hex"]]
    context_spec, sequence_spec = _seq_specs()
    context, sequences, lengths = parse_sequence_example(records, context_spec, sequence_spec)
    for key, want in SEQUENCES["context"].items():
        assert_matches_tf(context[key], want)
    for key, want in SEQUENCES["sequence"].items():
        assert_matches_tf(sequences[key], want)
    for key, want in SEQUENCES["lengths"].items():
        assert_matches_tf(lengths[key], want)
    # VarLen sequence feature: TF's SparseTensor [example, step, position] vs our ragged of ragged
    words = sequences["words"]
    steps = words.values
    indices = []
    for example in range(words.nrows):
        for step in range(int(words.row_splits[example + 1] - words.row_splits[example])):
            flat_step = int(words.row_splits[example]) + step
            count = int(steps.row_splits[flat_step + 1] - steps.row_splits[flat_step])
            indices.extend([example, step, pos] for pos in range(count))
    assert indices == SEQUENCES["words"]["indices"]
    assert steps.values.tolist() == tf_array(SEQUENCES["words"]["values"]).tolist()


def test_parse_single_sequence_example_matches_tf() -> None:
    record = bytes.fromhex(SEQUENCES["serialized_hex"][0])
    context, sequences = parse_single_sequence_example(record, *_seq_specs())
    for key, want in SEQUENCES["single_context_0"].items():
        assert_matches_tf(context[key], want)
    for key, want in SEQUENCES["single_sequence_0"].items():
        assert_matches_tf(sequences[key], want)


def test_missing_feature_list_without_allow_missing() -> None:
    record = bytes.fromhex(SEQUENCES["serialized_hex"][0])
    with pytest.raises(InputError, match=r"'absent_list' is required but missing"):
        parse_sequence_example(
            [record], sequence_features={"absent_list": FixedLenSequenceFeature([], "int64")}
        )


def test_string_fixed_len_defaults_are_bytes() -> None:
    got = parse_example(
        [encode_example({"a": 1})], {"s": FixedLenFeature([], "string", default_value="none")}
    )
    assert got["s"].tolist() == [b"none"]


def test_fixed_len_sequence_fast_padding_equals_protobuf_path() -> None:
    rng = np.random.default_rng(0)
    records = [
        encode_example({"seq": rng.standard_normal(2 * int(rng.integers(0, 4))).astype(np.float32), "id": i})
        for i in range(30)
    ]
    spec = {"seq": FixedLenSequenceFeature([2], "float32", allow_missing=True, default_value=-1.0)}
    fast = parse_example(records, spec)["seq"]
    slow = parse_example_slow(records, spec)["seq"]
    assert fast.shape == slow.shape and fast.shape[2] == 2
    np.testing.assert_array_equal(fast, slow)
    with pytest.raises(
        InputError, match=r"'seq' of example 0: 3 values do not split into steps of shape \[2\]"
    ):
        parse_example([encode_example({"seq": [1.0, 2.0, 3.0]})], spec)
