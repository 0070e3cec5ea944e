"""Column base classes, the categorical id format and the per-batch transform cache.

Every column is a frozen dataclass (hashable by value, hash memoised) with a TF-derived ``name``.
Its host half is ``transform(cache)``; the :class:`TransformCache` memoises it per batch, so a
column shared by several consumers (a bucketized column in a cross and in the DNN) runs once.

Categorical columns produce :class:`CategoricalIds`::

    rows:        [[3, 1], [], [7]]
    values:      [3, 1, 7]          int64 (N,)
    row_splits:  [0, 2, 2, 3]       int64 (B + 1,)
    weights:     None or float32 (N,)   (weighted_categorical_column)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from torchestimator.columns.inputs import RawInput, get_raw, normalize_raw
from torchestimator.errors import FeatureError

__all__ = [
    "CategoricalColumn",
    "CategoricalColumnView",
    "CategoricalIds",
    "DenseColumn",
    "FeatureColumn",
    "KeyedColumn",
    "SequenceCategoricalColumn",
    "SequenceDenseColumn",
    "TransformCache",
]


@dataclasses.dataclass(frozen=True)
class CategoricalIds:
    """Ids of a batch as values + row_splits (+ optional weights); see the module docstring."""

    values: np.ndarray
    row_splits: np.ndarray
    weights: np.ndarray | None = None

    @property
    def nrows(self) -> int:
        return len(self.row_splits) - 1

    def row_ids(self) -> np.ndarray:
        """The row of every id, int64 (N,)."""
        return np.repeat(np.arange(self.nrows, dtype=np.int64), np.diff(self.row_splits))

    def filtered(self, *, drop_nonpositive_weights: bool) -> CategoricalIds:
        """Drop ids < 0 (and weights <= 0 when asked), as ``safe_embedding_lookup_sparse`` does."""
        keep = self.values >= 0
        if drop_nonpositive_weights and self.weights is not None:
            keep &= self.weights > 0
        if keep.all():
            return self
        counts = np.bincount(self.row_ids()[keep], minlength=self.nrows)
        splits = np.zeros_like(self.row_splits)
        np.cumsum(counts, out=splits[1:])
        weights = None if self.weights is None else self.weights[keep]
        return CategoricalIds(self.values[keep], splits, weights)


class FeatureColumn:
    """Base of every column: value equality, memoised hash, and the host ``transform``."""

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def parents(self) -> tuple[Any, ...]:
        """Columns (or raw keys) this column reads."""
        return ()

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        """The ``{key: FixedLenFeature | VarLenFeature}`` this column needs from a tf.Example."""
        raise NotImplementedError

    def transform(self, cache: TransformCache) -> Any:
        """The host transform (called once per batch by :meth:`TransformCache.get`)."""
        raise NotImplementedError

    def raw_keys(self) -> set[str]:
        """Every raw feature key this column (and its parents) read."""
        keys: set[str] = set()
        for parent in self.parents:
            keys |= {parent} if isinstance(parent, str) else parent.raw_keys()
        return keys

    def _identity(self) -> tuple[Any, ...]:
        return (type(self).__name__, *(getattr(self, f.name) for f in dataclasses.fields(self)))  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        return type(self) is type(other) and self._identity() == other._identity()

    def __hash__(self) -> int:
        cached = self.__dict__.get("_cached_hash")
        if cached is None:
            cached = hash(self._identity())
            object.__setattr__(self, "_cached_hash", cached)
        return cached

    def __lt__(self, other: FeatureColumn) -> bool:
        return self.name < other.name


class KeyedColumn(FeatureColumn):
    """A column that reads one raw feature and is named after it (``name == key``)."""

    key: str

    @property
    def name(self) -> str:
        return self.key

    @property
    def parents(self) -> tuple[Any, ...]:
        return (self.key,)


class DenseColumn(FeatureColumn):
    """A column with a dense ``(B, variable_shape)`` representation (DenseFeatures input)."""

    @property
    def variable_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def dense_width(self) -> int:
        return int(math.prod(self.variable_shape))  # math.prod: np.prod's dispatch costs µs per call

    def host_dense(self, cache: TransformCache) -> np.ndarray:
        """float32 ``(B, dense_width)`` for DenseFeatures: by default the column's own ``transform`` output.

        A new dense column type needs only ``variable_shape``, ``parse_example_spec`` and ``transform``
        (override this when its transform returns something else than the dense values).
        """
        value = cache.get(self)
        array = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
        if array.ndim == 0 or array.size != array.shape[0] * self.dense_width:
            raise FeatureError(
                f"column {self.name!r}: transform returned shape {tuple(array.shape)}; DenseFeatures expects "
                f"(batch, {self.dense_width}) values (variable_shape {self.variable_shape})."
            )
        return np.asarray(array, dtype=np.float32).reshape(array.shape[0], self.dense_width)


class CategoricalColumn(FeatureColumn):
    """A column producing :class:`CategoricalIds` in ``[0, num_buckets)`` (ids < 0 mean missing)."""

    @property
    def num_buckets(self) -> int:
        raise NotImplementedError

    def ids(self, cache: TransformCache) -> CategoricalIds:
        """The ids of this batch (memoised through the cache)."""
        out = cache.get(self)
        assert isinstance(out, CategoricalIds)  # internal invariant, not user input
        return out


class CategoricalColumnView(FeatureColumn):
    """A column over ``categorical_column`` whose host transform is that column's ids (indicator, embedding)."""

    categorical_column: CategoricalColumn

    @property
    def parents(self) -> tuple[Any, ...]:
        return (self.categorical_column,)

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return self.categorical_column.parse_example_spec

    def transform(self, cache: TransformCache) -> CategoricalIds:
        return self.categorical_column.ids(cache)


class SequenceCategoricalColumn(CategoricalColumn):
    """A categorical column read as a sequence (one id per step) by ``SequenceFeatures``."""


class SequenceDenseColumn(FeatureColumn):
    """A column producing a padded ``(B, T, D)`` sequence for ``SequenceFeatures``."""


class TransformCache:
    """Per-batch memo of raw-feature normalisation and column transforms.

    Args:
        features: the raw features of one batch.
    """

    def __init__(self, features: Mapping[str, Any]) -> None:
        self.features = features
        self._raw: dict[str, RawInput] = {}
        self._done: dict[Any, Any] = {}

    def raw(self, key: str, column_name: str) -> RawInput:
        """The raw feature ``key`` as dense ``(B, ...)`` numpy or :class:`Ragged` (memoised)."""
        out = self._raw.get(key)
        if out is None:
            out = normalize_raw(get_raw(self.features, key, column_name), key)
            self._raw[key] = out
        return out

    def get(self, column: FeatureColumn) -> Any:
        """``column.transform(self)``, computed once per batch."""
        out = self._done.get(column)
        if out is None:
            out = column.transform(self)
            self._done[column] = out
        return out

    def put(self, column: FeatureColumn, value: Any) -> None:
        """Record ``column``'s transform for this batch, computed elsewhere (a batched fast path)."""
        self._done.setdefault(column, value)

    def batch_size(self, key: str, column_name: str) -> int:
        raw = self.raw(key, column_name)
        return raw.nrows if not isinstance(raw, np.ndarray) else int(raw.shape[0])


def check_batch(name: str, got: int, expected: int | None) -> None:
    """Raise when a column's batch size disagrees with the others."""
    if expected is not None and got != expected:
        raise FeatureError(f"column {name!r} has batch size {got} but other features have {expected}.")
