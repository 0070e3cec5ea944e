"""Vocabulary columns: id = index in an in-memory list or line number in a file; OOV -> default or hash bucket.

Lookup (TF ``categorical_column_with_vocabulary_list`` / ``_file``)::

    vocabulary:  ["a", "b", "c"]      num_oov_buckets=2
    values:      ["b", "zz", "a"]
    ids:         [1, 3 + Fingerprint64("zz") % 2, 0]

Each column memoises value -> id in a bounded per-column dict, so a batch costs one dict hit per value.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from torchestimator.columns.base import CategoricalColumn, CategoricalIds, KeyedColumn, TransformCache
from torchestimator.columns.categorical_input import normalize_categorical_dtype, raw_sparse
from torchestimator.columns.hashing import fingerprint64
from torchestimator.errors import InvalidArgumentError
from torchestimator.parsing import VarLenFeature

__all__ = [
    "VocabularyFileCategoricalColumn",
    "VocabularyListCategoricalColumn",
    "categorical_column_with_vocabulary_file",
    "categorical_column_with_vocabulary_list",
    "load_vocabulary_file",
]

_MAX_LOOKUP_CACHE = 1 << 20


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


class _VocabularyMixin:
    """Shared lookup: index in the vocabulary, else OOV bucket, else ``default_value``."""

    key: str
    dtype: str
    default_value: int
    num_oov_buckets: int

    def _table(self) -> dict[Any, int]:
        raise NotImplementedError

    def vocabulary_table(self) -> dict[Any, int]:
        """The vocabulary: each entry -> its id (OOV buckets follow the last id)."""
        return self._table()

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
class VocabularyListCategoricalColumn(_VocabularyMixin, KeyedColumn, CategoricalColumn):
    """Id = index in an in-memory vocabulary; OOV -> ``default_value`` or a hash bucket."""

    key: str
    vocabulary_list: tuple[Any, ...]
    dtype: str
    default_value: int = -1
    num_oov_buckets: int = 0

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
    dtype_s = normalize_categorical_dtype(dtype, key)
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
class VocabularyFileCategoricalColumn(_VocabularyMixin, KeyedColumn, CategoricalColumn):
    """Id = line number in a vocabulary file; OOV -> ``default_value`` or a hash bucket."""

    key: str
    vocabulary_file: str
    vocabulary_size: int | None
    dtype: str = "string"
    default_value: int = -1
    num_oov_buckets: int = 0
    file_format: str | None = None

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
    dtype_s = normalize_categorical_dtype(dtype, key)
    default = _check_oov(key, default_value, int(num_oov_buckets))
    size = None if vocabulary_size is None else int(vocabulary_size)
    load_vocabulary_file(vocabulary_file, size, dtype_s)
    return VocabularyFileCategoricalColumn(
        key, vocabulary_file, size, dtype_s, default, int(num_oov_buckets), file_format
    )
