"""Host packing of several categorical columns into one fused ``EmbeddingBag`` call.

Columns ``c = 0..k-1`` with ids ``ids_c`` (values + row_splits) and row offsets ``o_c`` become one
bag per (column, example), column-major, so the host only concatenates::

    ids:      [ids_0 + o_0 | ids_1 + o_1 | ...]                      int64 (N,)
    offsets:  [splits_0[:-1] | splits_1[:-1] + N_0 | ...]           int64 (k * B,)
    weights:  per-sample weights with the combiner folded in        float32 (N,) or absent

and ``EmbeddingBag(mode='sum')(ids, offsets, weights).view(k, B, D)[c]`` is column ``c``'s output.
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
) -> PackedBags:
    """Pack columns ``(name, ids, row_offset, num_buckets, combiner)`` column-major.

    Raises:
        FeatureError: an id >= num_buckets (never a silent wrong row).
    """
    ids_parts, off_parts, w_parts, bag_parts = [], [], [], []
    any_weights = False
    base = 0
    batch = columns[0][1].nrows
    for slot, (name, raw_ids, row_offset, num_buckets, combiner) in enumerate(columns):
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
        weights = combiner_weights(ids, combiner)
        ids_parts.append(ids.values + row_offset)
        off_parts.append(ids.row_splits[:-1] + base)
        w_parts.append(weights)
        any_weights |= weights is not None
        if with_bag_index:
            bag_parts.append(ids.row_ids() + slot * batch)
        base += len(ids.values)
    flat_ids = np.concatenate(ids_parts)
    offsets = np.concatenate(off_parts)
    flat_w = None
    if any_weights:
        flat_w = np.concatenate(
            [w if w is not None else np.ones(len(i), np.float32) for w, i in zip(w_parts, ids_parts)]
        ).astype(np.float32, copy=False)
    bags = np.concatenate(bag_parts) if with_bag_index else None
    return PackedBags(flat_ids, offsets, flat_w, bags)
