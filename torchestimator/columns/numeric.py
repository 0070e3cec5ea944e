"""``numeric_column`` and ``bucketized_column``."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from torchestimator.batch_checks import refuse_nan
from torchestimator.columns.base import (
    CategoricalColumn,
    CategoricalIds,
    DenseColumn,
    KeyedColumn,
    TransformCache,
)
from torchestimator.columns.inputs import dtype_name, is_numeric_kind
from torchestimator.errors import FeatureError, InvalidArgumentError
from torchestimator.parsing import FixedLenFeature, Ragged

__all__ = ["BucketizedColumn", "NumericColumn", "bucketized_column", "numeric_column"]

_NUMERIC_DTYPES = ("float32", "float64", "int32", "int64")


def numeric_shape_and_dtype(
    function: str, key: str, shape: int | Sequence[int], dtype: Any
) -> tuple[tuple[int, ...], str]:
    """Validate the ``shape`` and ``dtype`` arguments of a numeric column factory.

    Args:
        function: the factory's name (for the error message), e.g. ``"numeric_column"``.
        key: the feature name.
        shape: an int or a sequence of ints, all >= 1.
        dtype: float32, float64, int32 or int64 (any str / numpy / torch / tf spelling).

    Returns:
        ``(shape as a tuple of ints, dtype name)``.

    Raises:
        InvalidArgumentError: an empty or non-positive shape, or a non-numeric dtype.
    """
    shape_t = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
    if not shape_t or any(s < 1 for s in shape_t):
        raise InvalidArgumentError(f"{function} {key!r}: shape must be positive ints; received {shape!r}.")
    dtype_s = dtype_name(dtype)
    if dtype_s not in _NUMERIC_DTYPES:
        raise InvalidArgumentError(
            f"{function} {key!r}: dtype must be one of {list(_NUMERIC_DTYPES)}; received {dtype!r}."
        )
    return shape_t, dtype_s


@dataclasses.dataclass(frozen=True, eq=False)
class NumericColumn(KeyedColumn, DenseColumn):
    """A dense real-valued feature (tf.feature_column.numeric_column). Output: float32 ``(B, prod(shape))``."""

    key: str
    shape: tuple[int, ...] = (1,)
    default_value: tuple[float, ...] | None = None
    dtype: str = "float32"
    normalizer_fn: Callable[[torch.Tensor], torch.Tensor] | None = None

    @property
    def variable_shape(self) -> tuple[int, ...]:
        return self.shape

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        default = None if self.default_value is None else list(self.default_value)
        return {self.key: FixedLenFeature(self.shape, self.dtype, default)}

    def transform(self, cache: TransformCache) -> torch.Tensor:
        """float32 ``(B, prod(shape))`` after ``normalizer_fn``.

        Raises:
            FeatureError: strings, sparse input, or a shape that does not match ``shape``.
        """
        values = torch.from_numpy(self._rows(cache))  # (B, D)
        if self.normalizer_fn is None:
            return values.to(torch.float32)  # NaN in raw input: refused by the host stage (batch_checks)
        values = torch.as_tensor(self.normalizer_fn(values)).to(torch.float32)
        refuse_nan(values, f"numeric_column {self.name!r}: normalizer_fn's output for feature {self.key!r}")
        return values

    def host_values(self, cache: TransformCache) -> np.ndarray:
        """:meth:`transform`'s values as numpy; without a ``normalizer_fn`` no torch op runs (a bucketized
        column's boundaries are searched in numpy: serving a single example, this is most of its cost)."""
        if self.normalizer_fn is not None:
            return cache.get(self).numpy()
        return self._rows(cache).astype(np.float32, copy=False)

    def _rows(self, cache: TransformCache) -> np.ndarray:
        """The raw feature as a contiguous ``(B, prod(shape))`` array of its own dtype, checked."""
        raw = cache.raw(self.key, self.name)
        if isinstance(raw, Ragged):
            raise FeatureError(
                f"numeric_column {self.name!r} received variable-length (sparse) input; it needs a dense "
                f"array of shape (B, {', '.join(map(str, self.shape))}). Use sequence_numeric_column for sequences."
            )
        if not is_numeric_kind(raw):
            sample = raw.ravel()[:3].tolist()
            raise FeatureError(
                f"numeric_column {self.name!r} needs numbers but feature {self.key!r} has dtype {raw.dtype} "
                f"(values {sample}); parse or cast it to {self.dtype}, or use a categorical column for strings."
            )
        width = self.dense_width
        if math.prod(raw.shape[1:]) != width:
            raise FeatureError(
                f"numeric_column {self.name!r} expects shape (B, {', '.join(map(str, self.shape))}) but feature "
                f"{self.key!r} has shape {tuple(raw.shape)}."
            )
        return np.ascontiguousarray(raw.reshape(raw.shape[0], width))


def numeric_column(
    key: str,
    shape: int | Sequence[int] = (1,),
    default_value: float | Sequence[float] | None = None,
    dtype: Any = "float32",
    normalizer_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> NumericColumn:
    """A real-valued column (TF ``numeric_column``).

    Args:
        key: the feature name.
        shape: the per-example shape.
        default_value: the parse default (None makes the feature required when parsing tf.Examples).
        dtype: float32, float64, int32 or int64 (the output is always float32).
        normalizer_fn: applied on the host to the float ``(B, D)`` torch tensor; it is stored by
            qualified name in JSON, so it must be importable (or re-supplied) when deserialising.

    Returns:
        A :class:`NumericColumn`.

    Raises:
        InvalidArgumentError: a bad shape, dtype, default or normalizer.

    Example:
        >>> numeric_column("age").name
        'age'
    """
    shape_t, dtype_s = numeric_shape_and_dtype("numeric_column", key, shape, dtype)
    default_t: tuple[float, ...] | None = None
    if default_value is not None:
        flat = np.asarray(default_value, dtype=np.float64).ravel()
        size = int(np.prod(shape_t))
        if flat.size == 1:
            flat = np.repeat(flat, size)
        if flat.size != size:
            raise InvalidArgumentError(
                f"numeric_column {key!r}: default_value must have {size} values for shape {shape_t}; "
                f"received {default_value!r}."
            )
        default_t = tuple(float(v) for v in flat)
    if normalizer_fn is not None and not callable(normalizer_fn):
        raise InvalidArgumentError(
            f"numeric_column {key!r}: normalizer_fn must be callable; received {normalizer_fn!r}."
        )
    if not isinstance(key, str) or not key:
        raise InvalidArgumentError(f"numeric_column: key must be a non-empty string; received {key!r}.")
    return NumericColumn(key, shape_t, default_t, dtype_s, normalizer_fn)


@dataclasses.dataclass(frozen=True, eq=False)
class BucketizedColumn(DenseColumn, CategoricalColumn):
    """Left-inclusive buckets of a numeric column: dense one-hot, or categorical ids."""

    source_column: NumericColumn
    boundaries: tuple[float, ...]

    @property
    def name(self) -> str:
        return f"{self.source_column.name}_bucketized"

    @property
    def parents(self) -> tuple[Any, ...]:
        return (self.source_column,)

    @property
    def buckets_per_element(self) -> int:
        return len(self.boundaries) + 1

    @property
    def float32_boundaries(self) -> np.ndarray:
        """The boundaries as TF's ``Bucketize`` compares them: float32 (its attribute is ``list(float)``), so
        a value equal to ``float32(b)`` is in ``b``'s bucket even where ``float32(b) < b`` (0.7, 2.675,
        16777217). The host and the exported graph both bucketize against these."""
        return np.asarray(self.boundaries, dtype=np.float32)

    @property
    def variable_shape(self) -> tuple[int, ...]:
        return (*self.source_column.shape, self.buckets_per_element)

    @property
    def num_buckets(self) -> int:
        return self.source_column.dense_width * self.buckets_per_element

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return self.source_column.parse_example_spec

    def bucket_indices(self, cache: TransformCache) -> np.ndarray:
        """int64 ``(B, prod(shape))`` bucket of every element (count of boundaries <= x).

        Raises:
            FeatureError: a NaN value (TF's Bucketize puts NaN in the last bucket, silently).
        """
        values = self.source_column.host_values(cache)  # (B, D) float32
        refuse_nan(values, f"bucketized_column {self.name!r}: feature {self.source_column.key!r}")
        return np.searchsorted(self.float32_boundaries, values, side="right").astype(np.int64)

    def transform(self, cache: TransformCache) -> CategoricalIds:
        """Categorical ids: element ``j`` of an example gets ``bucket + j * (len(boundaries) + 1)``."""
        buckets = self.bucket_indices(cache)  # (B, D)
        batch, width = buckets.shape
        ids = buckets + np.arange(width, dtype=np.int64) * self.buckets_per_element  # (B, D)
        splits = np.arange(batch + 1, dtype=np.int64) * width
        return CategoricalIds(ids.reshape(-1), splits)


def bucketized_column(source_column: NumericColumn, boundaries: Sequence[float]) -> BucketizedColumn:
    """Bucketize a numeric column (TF ``bucketized_column``): buckets ``(-inf, b0), [b0, b1), …, [bn, inf)``.

    Args:
        source_column: a :class:`NumericColumn`.
        boundaries: strictly increasing, non-empty.

    Returns:
        A :class:`BucketizedColumn` named ``<source>_bucketized``.

    Raises:
        InvalidArgumentError: the source is not numeric, or the boundaries are not sorted or hold NaN.

    Example:
        >>> bucketized_column(numeric_column("age"), [18, 25]).num_buckets
        3
    """
    if not isinstance(source_column, NumericColumn):
        raise InvalidArgumentError(
            f"bucketized_column: source_column must be a numeric_column; received {source_column!r}."
        )
    bounds = tuple(float(b) for b in boundaries)
    if any(math.isnan(b) for b in bounds):
        raise InvalidArgumentError(
            f"bucketized_column {source_column.name!r}: boundaries must not contain NaN; received "
            f"{list(boundaries)!r} (TF accepts them and buckets every value against a NaN wrongly)."
        )
    if not bounds or any(b >= a for b, a in itertools.pairwise(bounds)):
        raise InvalidArgumentError(
            f"bucketized_column {source_column.name!r}: boundaries must be a sorted, non-empty list with no "
            f"duplicates; received {list(boundaries)!r}."
        )
    return BucketizedColumn(source_column, bounds)
