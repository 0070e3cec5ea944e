"""``crossed_column``: TF's hashed cartesian product (``SparseCross`` with ``hashed_output=True``).

Per example, every combination of one value per input (last input fastest, an "odometer") is hashed
with the ``FingerprintCat64`` chain seeded by ``hash_key`` (see :mod:`.hashing`). TF feeds all sparse
inputs first, then all dense ones, each group in key order: categorical columns always feed sparse
ids; a raw string key is sparse when it arrives as a :class:`Ragged` / nested list and dense when it
arrives as an array (dense inputs are not filtered for '' / -1, as in TF).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from torchestimator.columns.base import CategoricalColumn, CategoricalIds, TransformCache
from torchestimator.columns.categorical import HashedCategoricalColumn, WeightedCategoricalColumn
from torchestimator.columns.hashing import DEFAULT_HASH_KEY, fingerprint64, fingerprint_cat64
from torchestimator.columns.inputs import is_string_kind
from torchestimator.errors import FeatureError, InvalidArgumentError
from torchestimator.parsing import Ragged, VarLenFeature

__all__ = ["CrossedColumn", "crossed_column"]


def _leaf_fingerprints(values: np.ndarray) -> np.ndarray:
    """Fingerprint64 of strings; the raw integer (as uint64) of ints.

    Non-string inputs are cast to int64 first, as TF's SparseCross does: a float 22.5 crosses as 22
    (truncation toward zero, like ``tf.cast``), so float and int features of the same value collide.
    """
    if values.size and is_string_kind(values):
        return fingerprint64(values)
    if values.dtype.kind not in "iubf" and values.size:
        raise FeatureError(
            f"crossed_column inputs must be strings or numbers; received dtype {values.dtype}."
        )
    return values.astype(np.int64, copy=False).view(np.uint64)


@dataclasses.dataclass(frozen=True, eq=False)
class CrossedColumn(CategoricalColumn):
    """Hashed cross of raw keys and categorical columns, name ``'_X_'.join(sorted(leaf names))``."""

    keys: tuple[Any, ...]
    hash_bucket_size: int
    hash_key: int | None = None

    @property
    def leaf_keys(self) -> tuple[Any, ...]:
        """Nested crosses flattened, user order kept."""
        out: list[Any] = []
        for key in self.keys:
            out.extend(key.leaf_keys if isinstance(key, CrossedColumn) else (key,))
        return tuple(out)

    @property
    def name(self) -> str:
        return "_X_".join(sorted(k if isinstance(k, str) else k.name for k in self.leaf_keys))

    @property
    def parents(self) -> tuple[Any, ...]:
        return self.leaf_keys

    @property
    def num_buckets(self) -> int:
        return self.hash_bucket_size

    @property
    def parse_example_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {}
        for key in self.leaf_keys:
            spec.update({key: VarLenFeature("string")} if isinstance(key, str) else key.parse_example_spec)
        return spec

    def transform(self, cache: TransformCache) -> CategoricalIds:
        sparse_inputs: list[tuple[np.ndarray, np.ndarray]] = []  # (fingerprints, row_splits)
        dense_inputs: list[tuple[np.ndarray, np.ndarray]] = []
        for key in self.leaf_keys:
            if isinstance(key, str):
                raw = cache.raw(key, self.name)
                if isinstance(raw, Ragged):
                    sparse_inputs.append((_leaf_fingerprints(raw.values), raw.row_splits))
                else:
                    rows = raw.reshape(raw.shape[0], -1)
                    splits = np.arange(rows.shape[0] + 1, dtype=np.int64) * rows.shape[1]
                    dense_inputs.append((_leaf_fingerprints(rows.reshape(-1)), splits))
            else:
                ids = key.ids(cache)
                sparse_inputs.append((ids.values.view(np.uint64), ids.row_splits))
        inputs = sparse_inputs + dense_inputs
        batch = len(inputs[0][1]) - 1
        for _fps, splits in inputs:
            if len(splits) - 1 != batch:
                raise FeatureError(f"crossed_column {self.name!r}: inputs have different batch sizes.")
        seed = DEFAULT_HASH_KEY if self.hash_key is None else self.hash_key
        hashes = np.full(batch, seed, dtype=np.uint64)  # partial crosses, row-major
        splits = np.arange(batch + 1, dtype=np.int64)
        for fps, in_splits in inputs:
            hashes, splits = _cross_step(hashes, splits, fps, in_splits)
        ids = (hashes % np.uint64(self.hash_bucket_size)).astype(np.int64)
        return CategoricalIds(ids, splits)


def _cross_step(
    partial: np.ndarray, splits: np.ndarray, values: np.ndarray, in_splits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Extend every partial cross of each row by every value of that row (value index fastest)."""
    n_partial = splits[1:] - splits[:-1]  # (B,), np.diff without its per-call overhead (hot in serving)
    n_values = in_splits[1:] - in_splits[:-1]  # (B,)
    if n_partial.shape == n_values.shape and (n_values == 1).all() and (n_partial == 1).all():
        return fingerprint_cat64(partial, values), splits
    counts = n_partial * n_values  # (B,)
    out_splits = np.zeros_like(splits)
    np.cumsum(counts, out=out_splits[1:])
    total = int(out_splits[-1])
    row = np.repeat(np.arange(len(counts), dtype=np.int64), counts)  # (T,)
    local = np.arange(total, dtype=np.int64) - out_splits[row]
    nv = n_values[row]
    p_idx = splits[row] + local // nv
    v_idx = in_splits[row] + local % nv
    return fingerprint_cat64(partial[p_idx], values[v_idx]), out_splits


def crossed_column(keys: Sequence[Any], hash_bucket_size: int, hash_key: int | None = None) -> CrossedColumn:
    """Cross features (TF ``crossed_column``), bit-exact with TF's ids.

    Args:
        keys: at least two raw feature names or categorical columns (not hashed columns; nested
            crosses are flattened).
        hash_bucket_size: the number of buckets.
        hash_key: the chain seed; None means TF's ``0xDECAFCAFFE``.

    Returns:
        A :class:`CrossedColumn`.

    Raises:
        InvalidArgumentError: fewer than two keys, a hashed or weighted key, a bad bucket size.

    Example:
        >>> crossed_column(["b", "a"], 10).name
        'a_X_b'
    """
    keys_t = tuple(keys)
    if len(keys_t) < 2:
        raise InvalidArgumentError(
            f"crossed_column: keys must have at least 2 elements; received {list(keys_t)!r}."
        )
    if int(hash_bucket_size) < 1:
        raise InvalidArgumentError(
            f"crossed_column: hash_bucket_size must be >= 1; received {hash_bucket_size!r}."
        )
    for key in keys_t:
        if isinstance(key, HashedCategoricalColumn):
            raise InvalidArgumentError(
                f"crossed_column does not support hashed columns ({key.name!r}); pass the raw key {key.key!r} instead."
            )
        if isinstance(key, WeightedCategoricalColumn):
            raise InvalidArgumentError(f"crossed_column does not support weighted columns ({key.name!r}).")
        if not isinstance(key, (str, CategoricalColumn)):
            raise InvalidArgumentError(
                f"crossed_column: each key must be a feature name or a categorical column; received {key!r}."
            )
    return CrossedColumn(keys_t, int(hash_bucket_size), None if hash_key is None else int(hash_key))
