"""Blocks: many elements held column-wise, so shuffle / batch / take work on arrays, not Python rows.

A :class:`Block` is ``n`` elements of one structure kept as its flattened leaf *columns* (numpy arrays
with the elements on axis 0, or :class:`~torchestimator.parsing.Ragged`) plus, lazily, the ``rows`` of
those columns it stands for::

    base columns (e.g. 20 in-memory columns of 1M rows, never copied)
    rows  = [812, 3, 99_104, ...]   int64 indices chosen by shuffle / take / shard / repeat
    batch = [column[rows[i:i + 512]] for column in base]    one fancy-index gather per column

Blocks over the same base concatenate by concatenating ``rows``; only a batch (or a per-element
consumer) gathers. That is how ``from_tensor_slices(columns).shuffle(b).batch(n)`` runs vectorised.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from torchestimator.data._structure import Tree, unflatten
from torchestimator.errors import InputError
from torchestimator.inputs.pipeline import ragged_concat, ragged_take
from torchestimator.parsing import Ragged

__all__ = ["Block", "concat_blocks", "elements_of", "stack_leaves"]


def _nrows(column: Any) -> int:
    return column.nrows if isinstance(column, Ragged) else len(column)


def _gather(column: Any, rows: np.ndarray) -> Any:
    return ragged_take(column, rows) if isinstance(column, Ragged) else column[rows]


class Block:
    """``n`` elements of structure ``tree``: ``columns[i][rows]`` for each leaf ``i`` (``rows=None``: all).

    ``rows`` is ``None`` (every row), a ``range`` (a contiguous or strided slice, gathered by slicing) or
    an int64 index array (gathered by fancy indexing).
    """

    __slots__ = ("base", "n", "rows", "tree")

    def __init__(self, tree: Tree, base: list[Any], rows: np.ndarray | range | None = None) -> None:
        self.tree = tree
        self.base = base
        self.rows = rows
        self.n = len(rows) if rows is not None else (_nrows(base[0]) if base else 0)

    def __len__(self) -> int:
        return self.n

    def _row_index(self) -> np.ndarray:
        rows = range(self.n) if self.rows is None else self.rows
        if isinstance(rows, range):
            return np.arange(rows.start, rows.stop, rows.step, dtype=np.int64)
        return rows

    def take(self, index: np.ndarray | slice) -> Block:
        """The elements at ``index`` (positions within this block)."""
        rows = range(self.n) if self.rows is None else self.rows
        if isinstance(index, slice):
            return Block(self.tree, self.base, rows[index])
        if isinstance(rows, range):
            picked = rows.start + np.asarray(index, dtype=np.int64) * rows.step
        else:
            picked = rows[index]
        return Block(self.tree, self.base, picked)

    def columns(self) -> list[Any]:
        """The leaf columns of exactly these elements (gathered once)."""
        rows = self.rows
        if rows is None or (
            isinstance(rows, range) and rows.step == 1 and rows.start == 0 and rows.stop == self._base_rows()
        ):
            return self.base
        if isinstance(rows, range):
            if rows.step > 0:
                cut = slice(rows.start, rows.stop, rows.step)
                return [ragged_take(c, cut) if isinstance(c, Ragged) else c[cut] for c in self.base]
            rows = self._row_index()
        return [_gather(c, rows) for c in self.base]

    def _base_rows(self) -> int:
        return _nrows(self.base[0]) if self.base else 0

    def structure(self) -> Any:
        """These elements as one batched structure (what ``batch`` yields)."""
        return unflatten(self.tree, self.columns())


def concat_blocks(blocks: list[Block]) -> Block:
    """One block of the elements of ``blocks`` in order (lazy when they share their base columns).

    Raises:
        InputError: the blocks hold elements of different structures.
    """
    if len(blocks) == 1:
        return blocks[0]
    first = blocks[0]
    for b in blocks[1:]:
        if b.tree != first.tree:
            raise InputError(
                "Cannot put elements of different structures in one batch / buffer: "
                f"{first.tree} vs {b.tree}. Make every element the same dict / tuple structure."
            )
    if all(b.base is first.base for b in blocks):
        rows = [b._row_index() for b in blocks]
        return Block(first.tree, first.base, np.concatenate(rows))
    cols = [b.columns() for b in blocks]
    merged = []
    for i, c in enumerate(cols[0]):
        parts = [cs[i] for cs in cols]
        merged.append(ragged_concat(parts) if isinstance(c, Ragged) else np.concatenate(parts))
    return Block(first.tree, merged)


def _row(column: Any, i: int) -> Any:
    if isinstance(column, Ragged):
        return column.values[column.row_splits[i] : column.row_splits[i + 1]]
    return column[i]


def elements_of(block: Block) -> Iterator[Any]:
    """The block's elements one by one (numpy scalars / arrays / str / bytes as leaves)."""
    columns = block.columns()
    if block.tree == "leaf" and not isinstance(columns[0], Ragged):
        yield from columns[0]
        return
    for i in range(block.n):
        yield unflatten(block.tree, [_row(c, i) for c in columns])


def stack_leaves(values: list[Any], what: str) -> Any:
    """Stack one leaf of several elements into a batched column (TF's ``batch`` of one component).

    1-D values of different lengths give a :class:`Ragged` batch (TF batches the ``SparseTensor`` of a
    ``VarLenFeature`` into a sparse batch; for dense tensors it would need ``padded_batch``).

    Raises:
        InputError: values of rank 0 or >= 2 with different shapes.
    """
    first = values[0]
    if isinstance(first, (str, bytes)) and all(isinstance(v, (str, bytes)) for v in values):
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    shapes = {np.shape(v) for v in values}
    if len(shapes) > 1 and all(np.ndim(v) == 1 for v in values):
        # variable-length vectors (e.g. parse_single_example's VarLenFeature, a SparseTensor in TF,
        # which TF batches into a sparse batch) become one Ragged batch
        lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
        splits = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(lengths, out=splits[1:])
        return Ragged(np.concatenate([np.asarray(v) for v in values]), splits)
    if len(shapes) > 1:
        raise InputError(
            f"Cannot batch {what}: elements have different shapes {sorted(shapes)[:4]}. Use padded_batch, "
            "or make every element the same shape."
        )
    if isinstance(first, np.ndarray) and first.dtype == object:
        out = np.empty((len(values), *first.shape), dtype=object)
        for i, v in enumerate(values):
            out[i] = v
        return out
    return np.stack([np.asarray(v) for v in values]) if np.ndim(first) else np.asarray(values)
