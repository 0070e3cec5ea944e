"""Duplicate-free rows of a sparse (``EmbeddingBag(sparse=True)``) gradient without sorting.

A sparse row gradient holds one row per looked-up id, duplicates included::

    indices  [7, 3, 7, 9]          values  (4, D)
          -> rows {3, 7, 9} (in an unspecified order)   summed values (3, D): row 7 = values[0] + values[2]

``coalesce()`` gets there by sorting (O(n log n), ~0.7 ms for 5k ids on one core); this uses a scratch
array with one int64 slot per table row, written and read in O(n): ``slot[ids] = position``; every id then
reads back ONE position (whichever write won: a representative shared by all its duplicates), the
representatives in input order are the unique rows, and a cumulative sum numbers them. Each row's sum adds its
entries in input order, so the updates do not depend on which write won. The scratch needs no reset: every slot read was written
first in the same call. The sums are ``index_add_`` in input order; TF's ``_deduplicate_indexed_slices``
(``unsorted_segment_sum``) sums duplicates too, so only float rounding order can differ.
"""

from __future__ import annotations

import torch

__all__ = ["SlotScratch", "unique_rows"]


class SlotScratch:
    """One reusable int64 slot per table row (grown on demand), kept by the optimizer per parameter."""

    def __init__(self) -> None:
        self.slots = torch.empty(0, dtype=torch.int64)

    def get(self, num_rows: int, device: torch.device) -> torch.Tensor:
        if self.slots.numel() < num_rows or self.slots.device != device:
            self.slots = torch.empty(num_rows, dtype=torch.int64, device=device)
        return self.slots


def unique_rows(grad: torch.Tensor, scratch: SlotScratch | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows, summed_values)`` of a sparse COO row gradient: each touched row once, duplicates summed.

    Args:
        grad: a sparse COO tensor with one sparse dimension (rows) and dense row values.
        scratch: reusable slots (allocated per call when None).

    Returns:
        rows (U,) int64 (each touched row once, order unspecified), and values (U, *row_shape) summed over
        duplicates, row for row.

    Example:
        >>> g = torch.sparse_coo_tensor([[7, 3, 7]], torch.tensor([[1.0], [2.0], [4.0]]), (10, 1))
        >>> rows, values = unique_rows(g)
        >>> sorted(zip(rows.tolist(), values.flatten().tolist()))
        [(3, 2.0), (7, 5.0)]
    """
    if grad.is_coalesced():
        return grad.indices()[0], grad.values()
    ids = grad._indices()[0]  # (n,)
    values = grad._values()  # (n, *row_shape)
    n = ids.numel()
    slots = (scratch or SlotScratch()).get(grad.shape[0], ids.device)
    position = torch.arange(n, device=ids.device)  # (n,)
    # scatter_, not slots[ids] = position: with duplicate ids index_put_ takes a serialising path (~10x
    # slower); any write may win, since every entry reads back the same winner
    slots.scatter_(0, ids, position)
    rep = slots.index_select(0, ids)  # (n,) one position per distinct id
    is_rep = rep == position  # (n,) True at each distinct id's representative
    number = torch.cumsum(is_rep, 0) - 1  # (n,) the representative's output row, at representatives
    inverse = number.index_select(0, rep)  # (n,) output row of every entry
    rows = ids.masked_select(is_rep)  # (U,)
    summed = values.new_zeros((rows.numel(), *values.shape[1:])).index_add_(0, inverse, values)
    return rows, summed
