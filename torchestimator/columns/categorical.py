"""Categorical columns over raw features: hash bucket, identity, weighted.

The vocabulary columns live in :mod:`torchestimator.columns.vocabulary` and are re-exported here, so
every ``categorical_column_with_*`` name stays importable from this module.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from torchestimator.batch_checks import refuse_nan
from torchestimator.columns.base import CategoricalColumn, CategoricalIds, KeyedColumn, TransformCache
from torchestimator.columns.categorical_input import normalize_categorical_dtype, raw_sparse
from torchestimator.columns.hashing import hash_bucket
from torchestimator.columns.inputs import dtype_name, is_numeric_kind
from torchestimator.columns.vocabulary import (
    VocabularyFileCategoricalColumn,
    VocabularyListCategoricalColumn,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
    load_vocabulary_file,
)
from torchestimator.errors import FeatureError, InvalidArgumentError
from torchestimator.parsing import Ragged, VarLenFeature

__all__ = [
    "HashedCategoricalColumn",
    "IdentityCategoricalColumn",
    "VocabularyFileCategoricalColumn",
    "VocabularyListCategoricalColumn",
    "WeightedCategoricalColumn",
    "categorical_column_with_hash_bucket",
    "categorical_column_with_identity",
    "categorical_column_with_vocabulary_file",
    "categorical_column_with_vocabulary_list",
    "check_identity_ids",
    "load_vocabulary_file",
    "weighted_categorical_column",
]


@dataclasses.dataclass(frozen=True, eq=False)
class HashedCategoricalColumn(KeyedColumn, CategoricalColumn):
    """``Fingerprint64(value) mod hash_bucket_size``; ints hashed as their decimal text."""

    key: str
    hash_bucket_size: int
    dtype: str = "string"

    @property
    def num_buckets(self) -> int:
        return self.hash_bucket_size

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return {self.key: VarLenFeature(self.dtype)}

    def transform(self, cache: TransformCache) -> CategoricalIds:
        sparse = raw_sparse(cache, self.key, self.name, self.dtype)
        return CategoricalIds(hash_bucket(sparse.values, self.hash_bucket_size), sparse.row_splits)


def categorical_column_with_hash_bucket(
    key: str, hash_bucket_size: int, dtype: Any = "string"
) -> HashedCategoricalColumn:
    """Hash a string or integer feature into buckets (TF ``categorical_column_with_hash_bucket``).

    Example:
        >>> categorical_column_with_hash_bucket("s", 3).num_buckets
        3

    Raises:
        InvalidArgumentError: ``hash_bucket_size`` < 1 or a non string/int dtype.
    """
    if int(hash_bucket_size) < 1:
        raise InvalidArgumentError(
            f"categorical_column_with_hash_bucket {key!r}: hash_bucket_size must be >= 1; received {hash_bucket_size!r}."
        )
    return HashedCategoricalColumn(key, int(hash_bucket_size), normalize_categorical_dtype(dtype, key))


@dataclasses.dataclass(frozen=True, eq=False)
class IdentityCategoricalColumn(KeyedColumn, CategoricalColumn):
    """Id = the integer value; out of range -> ``default_value`` or an error.

    ``-1`` in a dense input is the missing marker and is dropped, as TF does. Any other id outside
    ``[0, num_buckets)`` (a negative id, or ``-1`` inside variable-length input) becomes
    ``default_value`` when one is set (TF's rule) and otherwise raises: TF 2.15 would silently drop a
    negative id in its embedding lookup (and zero it in an indicator column), and fails on ids
    ``>= num_buckets`` only in some consumers.
    """

    key: str
    number_buckets: int
    default_value: int | None = None

    @property
    def num_buckets(self) -> int:
        return self.number_buckets

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return {self.key: VarLenFeature("int64")}

    def transform(self, cache: TransformCache) -> CategoricalIds:
        sparse = raw_sparse(cache, self.key, self.name, "int64")
        ids = sparse.values.astype(np.int64, copy=False)
        if ids.size == 0 or (ids.min() >= 0 and ids.max() < self.number_buckets):
            return CategoricalIds(ids, sparse.row_splits)
        if self.default_value is None:
            check_identity_ids(ids, self.key, self.number_buckets)
            return CategoricalIds(ids, sparse.row_splits)  # not reached: the check raised
        bad = (ids < 0) | (ids >= self.number_buckets)
        return CategoricalIds(np.where(bad, np.int64(self.default_value), ids), sparse.row_splits)


def check_identity_ids(ids: np.ndarray, key: str, num_buckets: int) -> None:
    """Raise unless every id is in ``[0, num_buckets)`` (an identity column without ``default_value``).

    Shared by training (:class:`IdentityCategoricalColumn`) and the export's serving host step, so
    both refuse the same ids with the same message.

    Args:
        ids: the present ids (dense input's ``-1`` missing markers already dropped).
        key: the feature (and column) name.
        num_buckets: the column's ``num_buckets``.

    Raises:
        FeatureError: naming the column, how many ids are out of range and a few of them.
    """
    bad = (ids < 0) | (ids >= num_buckets)
    if not bad.any():
        return
    examples = sorted({int(v) for v in ids[bad][:8]})
    raise FeatureError(
        f"categorical_column_with_identity {key!r}: feature {key!r} has {int(np.count_nonzero(bad))} id(s) "
        f"outside [0, {num_buckets}) (e.g. {examples}). -1 in a dense input means 'missing' and is dropped; "
        "every other negative id (and -1 in variable-length input) is out of range. Fix the ids, raise "
        "num_buckets, or set default_value."
    )


def categorical_column_with_identity(
    key: str, num_buckets: int, default_value: int | None = None
) -> IdentityCategoricalColumn:
    """Use an integer feature as its own id (TF ``categorical_column_with_identity``).

    Raises:
        InvalidArgumentError: ``num_buckets`` < 1 or a default outside ``[0, num_buckets)``.
    """
    if int(num_buckets) < 1:
        raise InvalidArgumentError(
            f"categorical_column_with_identity {key!r}: num_buckets must be >= 1; received {num_buckets}."
        )
    if default_value is not None and not 0 <= int(default_value) < int(num_buckets):
        raise InvalidArgumentError(
            f"categorical_column_with_identity {key!r}: default_value must be in [0, {num_buckets}); "
            f"received {default_value}."
        )
    return IdentityCategoricalColumn(
        key, int(num_buckets), None if default_value is None else int(default_value)
    )


@dataclasses.dataclass(frozen=True, eq=False)
class WeightedCategoricalColumn(CategoricalColumn):
    """A categorical column whose ids carry weights from another feature."""

    categorical_column: CategoricalColumn
    weight_feature_key: str
    dtype: str = "float32"

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_weighted_by_{self.weight_feature_key}"

    @property
    def parents(self) -> tuple[Any, ...]:
        return (self.categorical_column, self.weight_feature_key)

    @property
    def num_buckets(self) -> int:
        return self.categorical_column.num_buckets

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return {
            **self.categorical_column.parse_example_spec,
            self.weight_feature_key: VarLenFeature(self.dtype),
        }

    def transform(self, cache: TransformCache) -> CategoricalIds:
        ids = self.categorical_column.ids(cache)
        raw = cache.raw(self.weight_feature_key, self.name)
        if isinstance(raw, Ragged):
            weights = raw
        else:
            rows = raw.reshape(raw.shape[0], -1)
            keep = rows != 0
            splits = np.zeros(rows.shape[0] + 1, dtype=np.int64)
            np.cumsum(keep.sum(axis=1), out=splits[1:])
            weights = Ragged(rows[keep], splits)
        if weights.values.size and not is_numeric_kind(weights.values):
            raise FeatureError(
                f"weighted_categorical_column {self.name!r}: weight feature {self.weight_feature_key!r} must be "
                f"numeric; received dtype {weights.values.dtype}."
            )
        refuse_nan(
            weights.values,
            f"weighted_categorical_column {self.name!r}: weight feature {self.weight_feature_key!r}",
        )
        if not np.array_equal(weights.row_splits, ids.row_splits):
            raise FeatureError(
                f"weighted_categorical_column {self.name!r}: the weights in {self.weight_feature_key!r} do not line "
                f"up with the ids of {self.categorical_column.name!r} (row lengths {np.diff(weights.row_splits)[:8].tolist()} "
                f"vs {np.diff(ids.row_splits)[:8].tolist()}); give one weight per id."
            )
        return CategoricalIds(ids.values, ids.row_splits, weights.values.astype(np.float32))


def weighted_categorical_column(
    categorical_column: CategoricalColumn, weight_feature_key: str, dtype: Any = "float32"
) -> WeightedCategoricalColumn:
    """Attach per-id weights (TF ``weighted_categorical_column``); name ``<cat>_weighted_by_<key>``.

    Raises:
        InvalidArgumentError: a non-categorical input or a non-float dtype.
    """
    if not isinstance(categorical_column, CategoricalColumn):
        raise InvalidArgumentError(
            f"weighted_categorical_column: categorical_column must be categorical; received {categorical_column!r}."
        )
    d = dtype_name(dtype)
    if d not in ("float32", "float64"):
        raise InvalidArgumentError(
            f"weighted_categorical_column: dtype must be float32 or float64; received {dtype!r}."
        )
    return WeightedCategoricalColumn(categorical_column, weight_feature_key, d)
