"""Categorical columns over raw features: hash bucket, vocabulary list / file, identity, weighted."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from torchestimator.columns.base import CategoricalColumn, CategoricalIds, TransformCache
from torchestimator.columns.hashing import fingerprint64, hash_bucket
from torchestimator.columns.inputs import dense_to_sparse, is_string_kind
from torchestimator.columns.numeric import _dtype_name
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
    "load_vocabulary_file",
    "weighted_categorical_column",
]

_MAX_LOOKUP_CACHE = 1 << 20


def _norm_cat_dtype(dtype: Any, name: str) -> str:
    d = _dtype_name(dtype)
    if d in ("string", "str", "object", "bytes"):
        return "string"
    if d in ("int64", "int32", "int16", "int8", "uint8", "int"):
        return "int64"
    raise InvalidArgumentError(
        f"column {name!r}: dtype must be string or an integer type; received {dtype!r}."
    )


def raw_sparse(cache: TransformCache, key: str, column_name: str, dtype: str) -> Ragged:
    """The raw feature as sparse values (missing dropped), dtype-checked against the column."""
    raw = cache.raw(key, column_name)
    sparse = raw if isinstance(raw, Ragged) else dense_to_sparse(raw, key)
    values = sparse.values
    if values.size:
        is_str = is_string_kind(values)
        if dtype == "string" and not is_str:
            raise FeatureError(
                f"column {column_name!r} has dtype string but feature {key!r} holds {values.dtype} values "
                f"({values[:3].tolist()}); pass strings, or build the column with dtype=int64."
            )
        if dtype == "int64" and (is_str or values.dtype.kind not in "iub"):
            raise FeatureError(
                f"column {column_name!r} has dtype int64 but feature {key!r} holds {values.dtype} values "
                f"({values[:3].tolist()}); pass integers, or build the column with dtype=string."
            )
    return sparse


class _LookupCache(dict):
    """value -> id, computed by ``fn`` on first sight (vocabulary + OOV logic)."""

    def __init__(self, fn: Any) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, key: Any) -> int:
        value = self.fn(key)
        self[key] = value
        return int(value)


def _lookup(column: Any, values: np.ndarray) -> np.ndarray:
    cache: _LookupCache | None = column.__dict__.get("_lookup_cache")
    if cache is None or len(cache) > _MAX_LOOKUP_CACHE:
        cache = _LookupCache(column._lookup_one)
        object.__setattr__(column, "_lookup_cache", cache)
    seq = values.tolist() if values.dtype.kind in "iu" else values
    return np.fromiter(map(cache.__getitem__, seq), dtype=np.int64, count=values.size)


@dataclasses.dataclass(frozen=True, eq=False)
class HashedCategoricalColumn(CategoricalColumn):
    """``Fingerprint64(value) mod hash_bucket_size``; ints hashed as their decimal text."""

    key: str
    hash_bucket_size: int
    dtype: str = "string"

    @property
    def name(self) -> str:
        return self.key

    @property
    def parents(self) -> tuple[Any, ...]:
        return (self.key,)

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
    return HashedCategoricalColumn(key, int(hash_bucket_size), _norm_cat_dtype(dtype, key))


class _VocabularyMixin:
    """Shared lookup: index in the vocabulary, else OOV bucket, else ``default_value``."""

    key: str
    dtype: str
    default_value: int
    num_oov_buckets: int

    def _table(self) -> dict[Any, int]:
        raise NotImplementedError

    @property
    def vocabulary_size_(self) -> int:
        return len(self._table())

    def _lookup_one(self, value: Any) -> int:
        table = self._table()
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        found = table.get(value)
        if found is not None:
            return found
        if self.num_oov_buckets:
            return len(table) + int(fingerprint64([value], 1)[0] % np.uint64(self.num_oov_buckets))
        return self.default_value

    @property
    def num_buckets(self) -> int:
        return self.vocabulary_size_ + self.num_oov_buckets

    @property
    def parents(self) -> tuple[Any, ...]:
        return (self.key,)

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return {self.key: VarLenFeature(self.dtype)}

    def transform(self, cache: TransformCache) -> CategoricalIds:
        sparse = raw_sparse(cache, self.key, self.key, self.dtype)
        return CategoricalIds(_lookup(self, sparse.values), sparse.row_splits)


def _check_oov(name: str, default_value: int | None, num_oov_buckets: int) -> int:
    if num_oov_buckets < 0:
        raise InvalidArgumentError(
            f"column {name!r}: num_oov_buckets must be >= 0; received {num_oov_buckets}."
        )
    if num_oov_buckets and default_value not in (None, -1):
        raise InvalidArgumentError(
            f"column {name!r}: default_value ({default_value}) and num_oov_buckets ({num_oov_buckets}) "
            "cannot both be set; pick one OOV policy."
        )
    return -1 if default_value is None else int(default_value)


@dataclasses.dataclass(frozen=True, eq=False)
class VocabularyListCategoricalColumn(_VocabularyMixin, CategoricalColumn):
    """Id = index in an in-memory vocabulary; OOV -> ``default_value`` or a hash bucket."""

    key: str
    vocabulary_list: tuple[Any, ...]
    dtype: str
    default_value: int = -1
    num_oov_buckets: int = 0

    @property
    def name(self) -> str:
        return self.key

    def _table(self) -> dict[Any, int]:
        table = self.__dict__.get("_table_cache")
        if table is None:
            table = {v: i for i, v in enumerate(self.vocabulary_list)}
            object.__setattr__(self, "_table_cache", table)
        return table


def categorical_column_with_vocabulary_list(
    key: str,
    vocabulary_list: Sequence[Any],
    dtype: Any = None,
    default_value: int = -1,
    num_oov_buckets: int = 0,
) -> VocabularyListCategoricalColumn:
    """Look a feature up in an in-memory vocabulary (TF ``categorical_column_with_vocabulary_list``).

    Example:
        >>> categorical_column_with_vocabulary_list("w", ["a", "b"], num_oov_buckets=2).num_buckets
        4

    Raises:
        InvalidArgumentError: empty or duplicated vocabulary, conflicting OOV settings.
    """
    vocab = tuple(v.decode("utf-8") if isinstance(v, bytes) else v for v in vocabulary_list)
    if not vocab:
        raise InvalidArgumentError(
            f"categorical_column_with_vocabulary_list {key!r}: vocabulary_list is empty."
        )
    if dtype is None:
        dtype = "string" if isinstance(vocab[0], str) else "int64"
    dtype_s = _norm_cat_dtype(dtype, key)
    if dtype_s == "int64":
        vocab = tuple(int(v) for v in vocab)
    elif not all(isinstance(v, str) for v in vocab):
        raise InvalidArgumentError(
            f"categorical_column_with_vocabulary_list {key!r}: dtype string needs str values."
        )
    if len(set(vocab)) != len(vocab):
        dupes = sorted({v for v in vocab if vocab.count(v) > 1}, key=str)[:5]
        raise InvalidArgumentError(
            f"categorical_column_with_vocabulary_list {key!r}: duplicate keys in vocabulary_list: {dupes}."
        )
    default = _check_oov(key, default_value, int(num_oov_buckets))
    return VocabularyListCategoricalColumn(key, vocab, dtype_s, default, int(num_oov_buckets))


_FILE_CACHE: dict[tuple[str, int | None, str, float], tuple[dict[Any, int], str]] = {}


def load_vocabulary_file(path: str, vocabulary_size: int | None, dtype: str) -> tuple[dict[Any, int], str]:
    """Read a vocabulary file (one key per line, line number = id) -> ``(table, sha256 of the used lines)``.

    Raises:
        InvalidArgumentError: the file is missing, has duplicate keys, or fewer lines than ``vocabulary_size``.
    """
    if not os.path.isfile(path):
        raise InvalidArgumentError(
            f"vocabulary_file {path!r} does not exist; pass the path of a text file, one key per line."
        )
    cache_key = (path, vocabulary_size, dtype, os.path.getmtime(path))
    hit = _FILE_CACHE.get(cache_key)
    if hit is not None:
        return hit
    with open(path, encoding="utf-8") as fh:
        lines = [line.rstrip("\n").rstrip("\r") for line in fh]
    if vocabulary_size is not None:
        if vocabulary_size > len(lines):
            raise InvalidArgumentError(
                f"vocabulary_file {path!r} has {len(lines)} lines but vocabulary_size={vocabulary_size}."
            )
        lines = lines[:vocabulary_size]
    keys: list[Any] = [int(v) for v in lines] if dtype == "int64" else lines
    table: dict[Any, int] = {}
    for i, k in enumerate(keys):
        if k in table:
            raise InvalidArgumentError(
                f"vocabulary_file {path!r} has a duplicate key {k!r} on lines {table[k] + 1} and {i + 1}; "
                "every line must be unique."
            )
        table[k] = i
    digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    _FILE_CACHE[cache_key] = (table, digest)
    return table, digest


@dataclasses.dataclass(frozen=True, eq=False)
class VocabularyFileCategoricalColumn(_VocabularyMixin, CategoricalColumn):
    """Id = line number in a vocabulary file; OOV -> ``default_value`` or a hash bucket."""

    key: str
    vocabulary_file: str
    vocabulary_size: int | None
    dtype: str = "string"
    default_value: int = -1
    num_oov_buckets: int = 0
    file_format: str | None = None

    @property
    def name(self) -> str:
        return self.key

    def _table(self) -> dict[Any, int]:
        return load_vocabulary_file(self.vocabulary_file, self.vocabulary_size, self.dtype)[0]

    def content_hash(self) -> str:
        """sha256 of the vocabulary lines in use (checked when a checkpoint is restored)."""
        return load_vocabulary_file(self.vocabulary_file, self.vocabulary_size, self.dtype)[1]


def categorical_column_with_vocabulary_file(
    key: str,
    vocabulary_file: str,
    vocabulary_size: int | None = None,
    dtype: Any = "string",
    default_value: int | None = None,
    num_oov_buckets: int = 0,
    file_format: str | None = None,
) -> VocabularyFileCategoricalColumn:
    """Look a feature up in a vocabulary file (TF v2 ``categorical_column_with_vocabulary_file``).

    The whole line is the key and the line number the id. The file is read eagerly (so a missing or
    duplicated file fails here) and its content hash travels with the column state.

    Raises:
        InvalidArgumentError: missing file, duplicate keys, unsupported ``file_format``.
    """
    if file_format not in (None, "text"):
        raise InvalidArgumentError(
            f"categorical_column_with_vocabulary_file {key!r}: file_format {file_format!r} is not supported; "
            "use a text file (one key per line)."
        )
    dtype_s = _norm_cat_dtype(dtype, key)
    default = _check_oov(key, default_value, int(num_oov_buckets))
    size = None if vocabulary_size is None else int(vocabulary_size)
    load_vocabulary_file(vocabulary_file, size, dtype_s)
    return VocabularyFileCategoricalColumn(
        key, vocabulary_file, size, dtype_s, default, int(num_oov_buckets), file_format
    )


@dataclasses.dataclass(frozen=True, eq=False)
class IdentityCategoricalColumn(CategoricalColumn):
    """Id = the integer value; out of range -> ``default_value`` or an error."""

    key: str
    number_buckets: int
    default_value: int | None = None

    @property
    def name(self) -> str:
        return self.key

    @property
    def parents(self) -> tuple[Any, ...]:
        return (self.key,)

    @property
    def num_buckets(self) -> int:
        return self.number_buckets

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        return {self.key: VarLenFeature("int64")}

    def transform(self, cache: TransformCache) -> CategoricalIds:
        sparse = raw_sparse(cache, self.key, self.name, "int64")
        ids = sparse.values.astype(np.int64, copy=False)
        bad = (ids < 0) | (ids >= self.number_buckets)
        if bad.any():
            if self.default_value is not None:
                ids = np.where(bad, np.int64(self.default_value), ids)
            elif (ids >= self.number_buckets).any():
                value = int(ids[ids >= self.number_buckets][0])
                raise FeatureError(
                    f"categorical_column_with_identity {self.name!r}: id {value} is out of range "
                    f"[0, {self.number_buckets}); raise num_buckets or set default_value."
                )
        return CategoricalIds(ids, sparse.row_splits)


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
        if weights.values.size and (
            is_string_kind(weights.values) or weights.values.dtype.kind not in "fiub"
        ):
            raise FeatureError(
                f"weighted_categorical_column {self.name!r}: weight feature {self.weight_feature_key!r} must be "
                f"numeric; received dtype {weights.values.dtype}."
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
    d = _dtype_name(dtype)
    if d not in ("float32", "float64"):
        raise InvalidArgumentError(
            f"weighted_categorical_column: dtype must be float32 or float64; received {dtype!r}."
        )
    return WeightedCategoricalColumn(categorical_column, weight_feature_key, d)
