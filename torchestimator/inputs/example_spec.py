"""What a parse spec means for the bytes on the wire: each dtype's wire kind and output dtype, and defaults.

Shared by the protobuf path (:mod:`torchestimator.inputs.example_parsing`) and the vectorised decoder
(:mod:`torchestimator.inputs.example_fast`), so neither imports the other's internals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.parsing import FixedLenFeature, FixedLenSequenceFeature

__all__ = ["INT32_RANGE", "WIRE", "default_array", "out_of_int32_error", "size_of"]

# spec dtype -> (wire kind, numpy dtype of the output)
WIRE: dict[str, tuple[str, Any]] = {
    "float32": ("float", np.float32),
    "float64": ("float", np.float64),
    "int64": ("int64", np.int64),
    "int32": ("int64", np.int32),
    "string": ("bytes", object),
}


INT32_RANGE = (-(2**31), 2**31 - 1)


def out_of_int32_error(key: str, values: Sequence[int]) -> InputError:
    """A value of an ``int32`` feature that int32 cannot hold (TF's parser has no int32: never wrap it)."""
    bad = next(int(v) for v in values if not INT32_RANGE[0] <= int(v) <= INT32_RANGE[1])
    return InputError(
        f"Feature {key!r}: value {bad} does not fit the parse spec's int32 "
        f"(range {INT32_RANGE[0]}..{INT32_RANGE[1]}); declare the feature int64."
    )


def size_of(shape: Sequence[int]) -> int:
    """Number of values in one example of a feature of this ``shape``."""
    return int(math.prod(shape))


def default_array(key: str, feature: FixedLenFeature | FixedLenSequenceFeature) -> np.ndarray | None:
    """The spec's default as an array of the feature's shape (``None`` when there is no default).

    Raises:
        InvalidArgumentError: the default does not have the feature's number of values.
    """
    if feature.default_value is None:
        return None
    _, np_dtype = WIRE[feature.dtype]
    value = feature.default_value
    if np_dtype is object:
        flat = np.asarray(value, dtype=object).reshape(-1)
        arr = np.array([v.encode() if isinstance(v, str) else bytes(v) for v in flat], dtype=object)
    else:
        arr = np.asarray(value, dtype=np_dtype).reshape(-1)
    if isinstance(feature, FixedLenSequenceFeature):
        return arr.reshape(()) if arr.size == 1 else arr.reshape(feature.shape)
    if arr.size != size_of(feature.shape):
        raise InvalidArgumentError(
            f"features[{key!r}].default_value has {arr.size} values but shape {list(feature.shape)} needs "
            f"{size_of(feature.shape)}; give a default of that shape."
        )
    return arr.reshape(feature.shape)
