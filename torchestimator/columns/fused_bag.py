"""Host packing of several categorical columns into one fused ``EmbeddingBag`` call.

Columns ``c = 0..k-1`` with ids ``ids_c`` (values + row_splits) and row offsets ``o_c`` become one
bag per (column, example). Two bag orders:

* column-major (``LinearModel``, which sums the columns): the host only concatenates::

    ids:      [ids_0 + o_0 | ids_1 + o_1 | ...]                      int64 (N,)
    offsets:  [splits_0[:-1] | splits_1[:-1] + N_0 | ...]           int64 (k * B,)
    EmbeddingBag(mode='sum')(ids, offsets, weights).view(k, B, D)[c] is column c

* example-major (``DenseFeatures``, which concatenates them): bag ``b * k + c`` holds example
  ``b``'s ids of column ``c``, so the output is already the concatenated layout, a view, no copy::

    ids:      [ex 0: col 0 ids, col 1 ids, ... | ex 1: ... ]         int64 (N,)
    offsets:  exclusive cumsum of the (B, k) bag lengths, flattened  int64 (B * k,)
    EmbeddingBag(mode='sum')(ids, offsets, weights).view(B, k * D)  is [col 0 | col 1 | ...]

``weights``: per-sample weights with the combiner folded in, float32 (N,), or absent when all 1.
Combiners: ``sum`` = w, ``mean`` = w / Σw, ``sqrtn`` = w / sqrt(Σw²) per (column, example).
"""

from __future__ import annotations

import numpy as np

from torchestimator.columns.base import CategoricalIds
from torchestimator.errors import FeatureError

__all__ = ["PackedBags", "combiner_weights", "pack_bags"]


def combiner_weights(ids: CategoricalIds, combiner: str) -> np.ndarray | None:
    """Per-sample weights implementing ``combiner`` (None when they would all be 1)."""
    weights = ids.weights
    if weights is None:
        if combiner == "sum":
            return None
        lengths = np.diff(ids.row_splits)
        if (lengths <= 1).all():
            return None
        row_len = np.repeat(lengths, lengths).astype(np.float32)
        return 1.0 / (row_len if combiner == "mean" else np.sqrt(row_len))
    weights = weights.astype(np.float32, copy=False)
    if combiner == "sum":
        return weights
    rows = ids.row_ids()
    if combiner == "mean":
        norm = np.bincount(rows, weights=weights, minlength=ids.nrows)
    else:
        norm = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=ids.nrows))
    return (weights / np.where(norm == 0, 1.0, norm)[rows]).astype(np.float32)


class PackedBags:
    """Result of :func:`pack_bags`: flat ids, bag offsets, optional weights and bag index."""

    def __init__(
        self, ids: np.ndarray, offsets: np.ndarray, weights: np.ndarray | None, bags: np.ndarray | None
    ) -> None:
        self.ids = ids
        self.offsets = offsets
        self.weights = weights
        self.bags = bags


def pack_bags(
    columns: list[tuple[str, CategoricalIds, int, int, str]],
    *,
    drop_nonpositive_weights: bool = True,
    with_bag_index: bool = False,
    example_major: bool = False,
) -> PackedBags:
    """Pack columns ``(name, ids, row_offset, num_buckets, combiner)`` into one bag set.

    Args:
        columns: one entry per column, in slot order.
        drop_nonpositive_weights: drop ids whose weight is <= 0 (``safe_embedding_lookup_sparse``).
        with_bag_index: also return the bag of every id (for the max-norm gather + scatter path).
        example_major: bag ``b * k + c`` (DenseFeatures) instead of ``c * B + b`` (see module docstring).

    Returns:
        The packed ids, offsets, optional weights and optional bag index.

    Raises:
        FeatureError: a column with another batch size, or an id >= num_buckets (never a silent wrong row).
    """
    batch = columns[0][1].nrows
    slots: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
    for name, raw_ids, row_offset, num_buckets, combiner in columns:
        if raw_ids.nrows != batch:
            raise FeatureError(
                f"column {name!r} has batch size {raw_ids.nrows} but other columns have {batch}."
            )
        ids = raw_ids.filtered(drop_nonpositive_weights=drop_nonpositive_weights)
        if ids.values.size and int(ids.values.max()) >= num_buckets:
            raise FeatureError(
                f"column {name!r} produced id {int(ids.values.max())} >= num_buckets {num_buckets}; "
                "check default_value / vocabulary settings."
            )
        slots.append((ids.values + row_offset, ids.row_splits, combiner_weights(ids, combiner)))
    if example_major:
        return _pack_example_major(slots, batch, with_bag_index)
    ids_parts, off_parts, bag_parts = [], [], []
    base = 0
    for slot, (values, splits, _) in enumerate(slots):
        ids_parts.append(values)
        off_parts.append(splits[:-1] + base)
        if with_bag_index:
            bag_parts.append(_row_ids(splits) + slot * batch)
        base += len(values)
    bags = np.concatenate(bag_parts) if with_bag_index else None
    return PackedBags(np.concatenate(ids_parts), np.concatenate(off_parts), _flat_weights(slots), bags)


def _row_ids(splits: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(splits) - 1, dtype=np.int64), np.diff(splits))


def _flat_weights(slots: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]) -> np.ndarray | None:
    """Column-major weights (ones for columns without), or None when no column has any."""
    if all(w is None for _, _, w in slots):
        return None
    return np.concatenate([w if w is not None else np.ones(len(v), np.float32) for v, _, w in slots]).astype(
        np.float32, copy=False
    )


def _pack_example_major(
    slots: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]], batch: int, with_bag_index: bool
) -> PackedBags:
    k = len(slots)
    any_weights = any(w is not None for _, _, w in slots)
    if all(len(v) == batch for v, _, _ in slots) and all(
        np.array_equal(s, np.arange(batch + 1)) for _, s, _ in slots
    ):  # one id per (example, column): a (B, k) matrix, no scatter needed
        flat_ids = np.stack([v for v, _, _ in slots], axis=1).reshape(-1)  # (B*k,)
        offsets = np.arange(batch * k, dtype=np.int64)
        flat_w = None
        if any_weights:
            flat_w = (
                np.stack([w if w is not None else np.ones(batch, np.float32) for _, _, w in slots], axis=1)
                .reshape(-1)
                .astype(np.float32, copy=False)
            )
        return PackedBags(flat_ids, offsets, flat_w, offsets.copy() if with_bag_index else None)
    lengths = np.stack([np.diff(s) for _, s, _ in slots], axis=1).reshape(-1)  # (B*k,) bag b*k+c
    offsets = np.zeros(batch * k, dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    total = int(lengths.sum())
    flat_ids = np.empty(total, dtype=np.int64)
    flat_w = np.ones(total, dtype=np.float32) if any_weights else None
    bags = np.empty(total, dtype=np.int64) if with_bag_index else None
    for c, (values, splits, weights) in enumerate(slots):
        rows = _row_ids(splits)  # (n_c,)
        bag = rows * k + c
        dest = offsets[bag] + (np.arange(len(values), dtype=np.int64) - splits[rows])  # (n_c,)
        flat_ids[dest] = values
        if flat_w is not None and weights is not None:
            flat_w[dest] = weights
        if bags is not None:
            bags[dest] = bag
    return PackedBags(flat_ids, offsets, flat_w, bags)
