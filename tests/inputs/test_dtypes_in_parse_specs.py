"""Parse specs take a dtype the way columns do: a string, a numpy dtype, a torch dtype, or str for strings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchestimator.errors import InvalidArgumentError
from torchestimator.inputs import encode_example, parse_example
from torchestimator.parsing import FixedLenFeature, FixedLenSequenceFeature, VarLenFeature


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("float32", "float32"),
        ("tf.int64", "int64"),
        (np.float32, "float32"),
        (np.dtype("float64"), "float64"),
        (np.int64, "int64"),
        (torch.float32, "float32"),
        (torch.int64, "int64"),
        (torch.int32, "int32"),
        ("string", "string"),
        (str, "string"),
        (bytes, "string"),
        (np.str_, "string"),
        (object, "string"),
    ],
)
def test_dtype_spellings(given, expected):
    assert FixedLenFeature((1,), given).dtype == expected
    assert VarLenFeature(given).dtype == expected
    assert FixedLenSequenceFeature((), given, allow_missing=True).dtype == expected


@pytest.mark.parametrize("bad", [torch.complex64, np.complex64, "float16x", 3])
def test_unsupported_dtype_named(bad):
    with pytest.raises(InvalidArgumentError, match=r"dtype must be one of .*received"):
        FixedLenFeature((1,), bad)


def test_parsing_with_numpy_and_torch_dtypes_matches_string_dtypes():
    serialized = [encode_example({"a": [1.5, 2.5], "b": [7]}), encode_example({"a": [3.0, 4.0], "b": [9]})]
    by_name = parse_example(
        serialized, {"a": FixedLenFeature((2,), "float32"), "b": FixedLenFeature((1,), "int64")}
    )
    by_type = parse_example(
        serialized, {"a": FixedLenFeature((2,), np.float32), "b": FixedLenFeature((1,), torch.int64)}
    )
    for key in ("a", "b"):
        np.testing.assert_array_equal(np.asarray(by_name[key]), np.asarray(by_type[key]))
    np.testing.assert_array_equal(np.asarray(by_type["a"]), [[1.5, 2.5], [3.0, 4.0]])
