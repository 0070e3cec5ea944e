"""ExampleParser (one spec worked out once, the serving path) gives parse_example's outputs and errors:
on random batches of every size around the small-batch limit, on corrupted records, and on inputs that
are not lists of bytes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.inputs import encode_example, parse_example
from torchestimator.inputs.example_parser import ExampleParser
from torchestimator.parsing import FixedLenFeature, FixedLenSequenceFeature, Ragged, VarLenFeature

SPEC: dict[str, Any] = {
    "age": FixedLenFeature([1], "float32"),
    "fare": FixedLenFeature([], "float64", default_value=-1.0),
    "n_siblings_spouses": VarLenFeature("int64"),
    "parch": VarLenFeature("int32"),
    "sex": VarLenFeature("string"),
    "deck": FixedLenFeature([], "string", default_value="unknown"),
}


def _records(rng: np.random.Generator, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        features: dict[str, Any] = {
            "age": [float(rng.integers(0, 80))],
            "n_siblings_spouses": rng.integers(0, 5, size=int(rng.integers(0, 3))),
            "parch": rng.integers(0, 3, size=1),
            "sex": np.array([rng.choice([b"male", b"female"])], dtype=object),
        }
        if rng.random() < 0.7:
            features["fare"] = [float(rng.random() * 100)]
        if rng.random() < 0.5:
            features["deck"] = [rng.choice([b"A", b"B", b"C"])]
        if rng.random() < 0.2:
            features["not_in_the_spec"] = [b"x" * int(rng.integers(0, 300))]
        out.append(encode_example(features))
    return out


def _outcome(fn: Any, batch: Any) -> Any:
    try:
        return fn(batch)
    except (InputError, InvalidArgumentError, TypeError) as err:
        return err


def _assert_same(got: Any, want: Any) -> None:
    if isinstance(want, Exception):
        assert type(got) is type(want) and str(got) == str(want)
        return
    assert not isinstance(got, Exception), got
    assert list(got) == list(want)
    for key, value in want.items():
        other = got[key]
        if isinstance(value, Ragged):
            np.testing.assert_array_equal(other.row_splits, value.row_splits)
            other, value = other.values, value.values
        assert other.dtype == value.dtype and other.shape == value.shape, key
        assert other.tolist() == value.tolist(), key


@pytest.mark.parametrize("n", [0, 1, 2, 16, 17, 40, 264])
def test_parser_matches_parse_example(n: int) -> None:
    rng = np.random.default_rng(n)
    parser = ExampleParser(SPEC)
    for _ in range(3):
        records = _records(rng, n)
        _assert_same(_outcome(parser, records), _outcome(lambda b: parse_example(b, SPEC), records))
        as_array = np.array(records, dtype=object)
        _assert_same(_outcome(parser, as_array), _outcome(lambda b: parse_example(b, SPEC), as_array))


@pytest.mark.parametrize("n", [3, 40])
def test_corrupted_records_give_parse_examples_answer_or_error(n: int) -> None:
    rng = np.random.default_rng(100 + n)
    parser = ExampleParser(SPEC)
    errors = 0
    for _ in range(150):
        records = _records(rng, n)
        i = int(rng.integers(0, n))
        damaged = bytearray(records[i])
        for _ in range(int(rng.integers(1, 3))):
            damaged[int(rng.integers(0, len(damaged)))] = int(rng.integers(0, 256))
        if rng.random() < 0.3:
            damaged = damaged[: int(rng.integers(0, len(damaged)))]
        records[i] = bytes(damaged)
        want = _outcome(lambda b: parse_example(b, SPEC), records)
        errors += isinstance(want, Exception)
        _assert_same(_outcome(parser, records), want)
    assert errors  # some damage was reported, the same way


@pytest.mark.parametrize(
    "batch",
    [
        b"one record",
        ["not bytes"] * 20,
        [memoryview(np.arange(6, dtype=np.int32))] * 20,
    ],
)
def test_inputs_that_are_not_lists_of_bytes_are_parse_examples_business(batch: Any) -> None:
    parser = ExampleParser(SPEC)
    _assert_same(_outcome(parser, batch), _outcome(lambda b: parse_example(b, SPEC), batch))


def test_specs_the_parser_does_not_plan_behave_as_parse_example() -> None:
    records = [encode_example({"q": [1.0, 2.0]})] * 20
    for spec in (
        {"q": FixedLenSequenceFeature([], "float32", allow_missing=True)},
        {"q": FixedLenSequenceFeature([], "float32")},  # parse_example refuses it
        {},
    ):
        parser = ExampleParser(spec)
        _assert_same(_outcome(parser, records), _outcome(lambda b, s=spec: parse_example(b, s), records))
