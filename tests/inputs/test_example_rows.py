"""The planned builder (``example_rows``) gives exactly what the per-key reference builder gives, and on any
batch the reference rejects it declines, so the error (class and message) is the reference's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.inputs.example_parsing import _build_feature, parse_example_slow
from torchestimator.inputs.example_proto import decode_example, encode_example
from torchestimator.inputs.example_rows import build_outputs, rows_plan
from torchestimator.parsing import FixedLenFeature, FixedLenSequenceFeature, Ragged, VarLenFeature

SPEC: dict[str, Any] = {
    "f": FixedLenFeature([2], "float32"),
    "d": FixedLenFeature([], "float64", default_value=0.25),
    "i": FixedLenFeature([1], "int64", default_value=[7]),
    "i32": FixedLenFeature([], "int32", default_value=-1),
    "s": FixedLenFeature([], "string", default_value="dflt"),
    "vf": VarLenFeature("float32"),
    "vi": VarLenFeature("int64"),
    "vi32": VarLenFeature("int32"),
    "vs": VarLenFeature("string"),
}


def _values(rng: np.random.Generator, kind: str, n: int) -> Any:
    if kind == "float":
        return rng.standard_normal(n).astype(np.float32)
    if kind == "int64":
        return rng.integers(-(2**40), 2**40, size=n, dtype=np.int64)
    if kind == "small":
        return rng.integers(-300, 300, size=n, dtype=np.int64)
    return np.array(
        [bytes(rng.integers(0, 256, size=int(rng.integers(0, 6)), dtype=np.uint8)) for _ in range(n)], object
    )


# key -> the kind it is written with when well-formed, and its value count (None: any)
_WELL_FORMED = {
    "f": ("float", 2),
    "d": ("float", 1),
    "i": ("int64", 1),
    "i32": ("small", 1),
    "s": ("bytes", 1),
    "vf": ("float", None),
    "vi": ("int64", None),
    "vi32": ("small", None),
    "vs": ("bytes", None),
}


def _random_records(rng: np.random.Generator, n: int, damage: float) -> list[bytes]:
    """Examples of SPEC's keys, some missing, and with probability ``damage`` per key a wrong kind, a
    wrong count or an int32 overflow."""
    records = []
    for _ in range(n):
        features: dict[str, Any] = {}
        for key, (kind, count) in _WELL_FORMED.items():
            if rng.random() < 0.15:
                continue  # missing
            size = int(rng.integers(0, 4)) if count is None else count
            if rng.random() < damage:
                choice = int(rng.integers(0, 3))
                if choice == 0:  # another kind
                    kind = {"float": "int64", "int64": "bytes", "small": "float", "bytes": "float"}[kind]
                elif choice == 1:  # another count
                    size = size + 1
                elif kind == "small":  # beyond int32
                    features[key] = np.array([2**33] * max(size, 1), dtype=np.int64)
                    continue
            features[key] = _values(rng, kind, size)
        features["unused"] = [b"x"]
        records.append(encode_example(features))
    return records


def _reference(records: list[bytes], spec: dict[str, Any]) -> Any:
    decoded = [decode_example(r) for r in records]
    try:
        return {k: _build_feature(k, f, [d.get(k) for d in decoded]) for k, f in spec.items()}
    except (InputError, InvalidArgumentError) as err:
        return err


def _planned(records: list[bytes], spec: dict[str, Any]) -> Any:
    try:
        return parse_example_slow(records, spec, rows_plan(spec))
    except (InputError, InvalidArgumentError) as err:
        return err


def _assert_same(got: Any, want: Any) -> None:
    if isinstance(want, Exception):
        assert type(got) is type(want) and str(got) == str(want)
        return
    assert list(got) == list(want)
    for key, value in want.items():
        if isinstance(value, Ragged):
            assert isinstance(got[key], Ragged)
            np.testing.assert_array_equal(got[key].row_splits, value.row_splits)
            assert got[key].row_splits.dtype == value.row_splits.dtype
            value, other = value.values, got[key].values
        else:
            other = got[key]
        assert other.dtype == value.dtype and other.shape == value.shape, key
        assert other.tolist() == value.tolist(), key


@pytest.mark.parametrize("n", [0, 1, 2, 5, 16])
@pytest.mark.parametrize("damage", [0.0, 0.05])
def test_planned_builder_matches_reference(n: int, damage: float) -> None:
    rng = np.random.default_rng(1000 * n + int(damage * 100))
    errors = 0
    for _ in range(60):
        records = _random_records(rng, n, damage)
        want = _reference(records, SPEC)
        errors += isinstance(want, Exception)
        _assert_same(_planned(records, SPEC), want)
    if damage and n:
        assert errors  # the damaged batches did reach the reference's errors


def test_build_outputs_declines_what_the_reference_rejects() -> None:
    spec = {"x": FixedLenFeature([], "int64"), "y": VarLenFeature("int32")}
    plan = rows_plan(spec)
    assert plan is not None
    good = decode_example(encode_example({"x": [3], "y": [1, 2]}))
    assert build_outputs(plan, [good]) is not None
    for record in (
        encode_example({"y": [1]}),  # x required but missing
        encode_example({"x": [1.5], "y": [1]}),  # x of the wrong kind
        encode_example({"x": [1, 2], "y": [1]}),  # x with two values
        encode_example({"x": [1], "y": [2**40]}),  # y beyond int32
        encode_example({"x": [1], "y": [b"a"]}),  # y of the wrong kind
    ):
        assert build_outputs(plan, [good, decode_example(record)]) is None
        assert isinstance(_reference([encode_example({"x": [3]}), record], spec), InputError)


def test_specs_outside_the_plan_go_to_the_reference() -> None:
    assert rows_plan({"q": FixedLenSequenceFeature([], "float32", allow_missing=True)}) is None
    assert rows_plan({"q": FixedLenFeature([2], "float32", default_value=[1.0, 2.0, 3.0])}) is None
    records = [encode_example({"q": [1.0, 2.0]})]
    spec = {"q": FixedLenFeature([2], "float32", default_value=[1.0, 2.0, 3.0])}
    _assert_same(_planned(records, spec), _reference(records, spec))
