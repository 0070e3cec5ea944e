"""Parse-spec types (TF's ``FixedLenFeature`` / ``VarLenFeature`` / ``FixedLenSequenceFeature``) and
the host-side ragged batch format shared by the input readers and the feature columns.

A multivalent feature (a ``VarLenFeature``, or a list-of-lists in a batch) travels on the host as a
:class:`Ragged`: a flat ``values`` array plus ``row_splits`` (TF's name; torchrec calls them
offsets), so row ``i`` is ``values[row_splits[i]:row_splits[i + 1]]``::

    rows:        [["a", "b"], [], ["c"]]
    values:      ["a", "b", "c"]
    row_splits:  [0, 2, 2, 3]          (len = batch + 1, int64, non-decreasing)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from torchestimator.errors import InvalidArgumentError

__all__ = ["FixedLenFeature", "FixedLenSequenceFeature", "Ragged", "VarLenFeature"]

_DTYPES = ("float32", "float64", "int64", "int32", "string")


_STRING_TYPES = (str, bytes, object, np.str_, np.bytes_, np.object_)


def _dtype_name(dtype: Any) -> str | None:
    """``'float32'`` for 'float32' / 'tf.float32' / tf.float32 / np.float32 / np.dtype / torch.float32;
    ``'string'`` for 'string' / tf.string / str / bytes / object / numpy string dtypes; None when unknown."""
    if isinstance(dtype, torch.dtype):
        return str(dtype).replace("torch.", "")
    if isinstance(dtype, str):
        name = dtype.replace("tf.", "")
        return "string" if name in ("str", "bytes", "object") else name
    if any(dtype is t for t in _STRING_TYPES):
        return "string"
    tf_name = getattr(dtype, "name", None)  # a tf.DType, without importing TensorFlow
    if type(dtype).__module__.startswith("tensorflow") and isinstance(tf_name, str):
        return tf_name
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        return None
    return "string" if np_dtype.kind in "USO" else np_dtype.name


def _check_dtype(dtype: Any) -> str:
    name = _dtype_name(dtype)
    if name not in _DTYPES:
        raise InvalidArgumentError(
            f"dtype must be one of {list(_DTYPES)} (as a string, a numpy or torch dtype, or str for strings); "
            f"received {dtype!r}."
        )
    return name


@dataclasses.dataclass(frozen=True)
class FixedLenFeature:
    """A fixed-shape feature (tf.io.FixedLenFeature). ``default_value=None`` makes it required."""

    shape: tuple[int, ...]
    dtype: str
    default_value: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "dtype", _check_dtype(self.dtype))


@dataclasses.dataclass(frozen=True)
class VarLenFeature:
    """A variable-length feature (tf.io.VarLenFeature), parsed into a :class:`Ragged`."""

    dtype: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", _check_dtype(self.dtype))


@dataclasses.dataclass(frozen=True)
class FixedLenSequenceFeature:
    """A sequence of fixed-shape steps (tf.io.FixedLenSequenceFeature)."""

    shape: tuple[int, ...]
    dtype: str
    allow_missing: bool = False
    default_value: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "dtype", _check_dtype(self.dtype))


@dataclasses.dataclass(frozen=True)
class Ragged:
    """A batch of variable-length rows: flat ``values`` + ``row_splits`` (see the module docstring)."""

    values: np.ndarray
    row_splits: np.ndarray

    def __post_init__(self) -> None:
        splits = np.asarray(self.row_splits, dtype=np.int64)
        if splits.ndim != 1 or splits.size == 0 or splits[0] != 0 or (splits[1:] < splits[:-1]).any():
            raise InvalidArgumentError(
                "Ragged.row_splits must be a non-empty, non-decreasing 1-D array starting at 0; received "
                f"{splits[:10].tolist()}{'...' if splits.size > 10 else ''}."
            )
        if int(splits[-1]) != len(self.values):
            raise InvalidArgumentError(
                f"Ragged.row_splits ends at {int(splits[-1])} but there are {len(self.values)} values."
            )
        object.__setattr__(self, "row_splits", splits)

    @classmethod
    def from_valid(cls, values: np.ndarray, row_splits: np.ndarray) -> Ragged:
        """A Ragged from parts its builder guarantees (int64 ``row_splits`` from a cumulative sum of
        lengths, ending at ``len(values)``): no validation, for per-request hot paths. Anything built from
        user input goes through the validating constructor."""
        out = object.__new__(cls)
        object.__setattr__(out, "values", values)
        object.__setattr__(out, "row_splits", row_splits)
        return out

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]], dtype: Any = None) -> Ragged:
        """Build from a list of lists (``dtype=None`` infers; strings become an object array)."""
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        splits = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=splits[1:])
        flat = [v for r in rows for v in r]
        values = np.asarray(flat, dtype=dtype) if flat else np.asarray([], dtype=dtype or np.float32)
        if values.dtype.kind == "U":
            values = values.astype(object)
        return cls(values, splits)

    @property
    def nrows(self) -> int:
        return len(self.row_splits) - 1

    def row_lengths(self) -> np.ndarray:
        splits = self.row_splits
        return splits[1:] - splits[:-1]  # np.diff's result, without its per-call overhead (hot in serving)

    def row_ids(self) -> np.ndarray:
        """The row index of every value (``[0, 0, 2]`` for the docstring example)."""
        return np.repeat(np.arange(self.nrows, dtype=np.int64), self.row_lengths())

    def to_rows(self) -> list[list[Any]]:
        return [self.values[a:b].tolist() for a, b in zip(self.row_splits[:-1], self.row_splits[1:])]

    def __len__(self) -> int:
        return self.nrows
