"""The parse spec of ``parse_example``: feature kinds, their wire types and defaults (shared by both decoders).

:mod:`torchestimator.inputs.example_parsing` (the protobuf path) and :mod:`torchestimator.inputs.example_fast`
(the vectorised decoder) both read this; neither imports the other's internals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Union

import numpy as np

from torchestimator.errors import InvalidArgumentError
from torchestimator.parsing import FixedLenFeature, FixedLenSequenceFeature, VarLenFeature

__all__ = ["WIRE_DTYPES", "FeatureSpec", "ParseSpec", "default_array", "shape_size"]

FeatureSpec = Union[FixedLenFeature, VarLenFeature, FixedLenSequenceFeature]  # noqa: UP007 - a runtime alias
ParseSpec = Mapping[str, FeatureSpec]

# spec dtype -> (wire kind, numpy dtype of the output)
WIRE_DTYPES = {
    "float32": ("float", np.float32),
    "float64": ("float", np.float64),
    "int64": ("int64", np.int64),
    "int32": ("int64", np.int32),
    "string": ("bytes", object),
}


def shape_size(shape: Sequence[int]) -> int:
    """The number of values in an array of ``shape`` (1 for a scalar)."""
    return int(math.prod(shape))


def default_array(key: str, feature: FixedLenFeature | FixedLenSequenceFeature) -> np.ndarray | None:
    """The spec's default as an array of the feature's shape (``None`` when there is no default)."""
    if feature.default_value is None:
        return None
    _, np_dtype = WIRE_DTYPES[feature.dtype]
    value = feature.default_value
    if np_dtype is object:
        flat = np.asarray(value, dtype=object).reshape(-1)
        arr = np.array([v.encode() if isinstance(v, str) else bytes(v) for v in flat], dtype=object)
    else:
        arr = np.asarray(value, dtype=np_dtype).reshape(-1)
    if isinstance(feature, FixedLenSequenceFeature):
        return arr.reshape(()) if arr.size == 1 else arr.reshape(feature.shape)
    if arr.size != shape_size(feature.shape):
        raise InvalidArgumentError(
            f"features[{key!r}].default_value has {arr.size} values but shape {list(feature.shape)} needs "
            f"{shape_size(feature.shape)}; give a default of that shape."
        )
    return arr.reshape(feature.shape)
