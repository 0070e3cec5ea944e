"""``batch``, ``padded_batch`` and ``unbatch``.

``batch`` over a block-streaming input cuts the blocks into batches and gathers each column once
(:mod:`torchestimator.data._block`); otherwise it stacks the elements' components (they must have equal
shapes, as in TF). A batch is the element's structure with a leading batch dimension: ``(features,
labels)`` of ``{name: (B, ...) array}`` and ``(B, ...)``, string components as object arrays.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from torchestimator.data._block import Block, concat_blocks, stack_leaves
from torchestimator.data._dataset import INFINITE, UNKNOWN, Dataset, check_count
from torchestimator.data._nodes import register_nodes
from torchestimator.data._structure import TensorSpec, flatten, to_array, unflatten
from torchestimator.data._transforms import Unary
from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.parsing import Ragged

__all__ = ["Batch", "PaddedBatch", "RaggedBatch", "Unbatch"]


def _batched_cardinality(n: int, size: int, drop_remainder: bool) -> int:
    if n < 0:
        return n
    return n // size if drop_remainder else -(-n // size)


def _element_groups(
    parent: Dataset, size: int, drop_remainder: bool
) -> Iterator[tuple[Any, list[list[Any]]]]:
    """``(tree, [leaves of each element])`` for consecutive groups of ``size`` elements."""
    group: list[list[Any]] = []
    tree = None
    for element in parent:
        leaves, t = flatten(element)
        if tree is None:
            tree = t
        elif t != tree:
            raise InputError(
                f"Cannot batch elements of different structures: {tree} vs {t}. Make every element the same "
                "dict / tuple structure."
            )
        group.append(leaves)
        if len(group) == size:
            yield tree, group
            group = []
    if group and not drop_remainder:
        yield tree, group


class Batch(Unary):
    """``batch(batch_size, drop_remainder)``."""

    def __init__(self, parent: Dataset, batch_size: Any, drop_remainder: bool) -> None:
        super().__init__(parent)
        self._size = check_count("batch_size", batch_size, 1)
        self._drop = bool(drop_remainder)
        self._batch_unknown = not self._drop

    def _elements(self) -> Iterator[Any]:
        if self._parent._vectorized():
            yield from self._vectorized_batches()
            return
        for tree, group in _element_groups(self._parent, self._size, self._drop):
            columns = [stack_leaves([g[i] for g in group], f"component {i}") for i in range(len(group[0]))]
            yield unflatten(tree, columns)

    def _vectorized_batches(self) -> Iterator[Any]:
        size = self._size
        pending: list[Block] = []
        rows = 0
        for block in self._parent._blocks():
            if not len(block):
                continue
            pending.append(block)
            rows += len(block)
            if rows < size:
                continue
            merged = concat_blocks(pending)
            full = rows - rows % size
            for start in range(0, full, size):
                yield merged.take(slice(start, start + size)).structure()
            pending = [merged.take(slice(full, None))] if full < rows else []
            rows -= full
        if rows and not self._drop:
            yield concat_blocks(pending).structure()

    def _cardinality(self) -> int:
        return _batched_cardinality(self._parent._cardinality(), self._size, self._drop)

    def _static_leading_dim(self) -> int | None:
        return self._size if self._drop else None


def _padding_for(value: Any, leaf: Any) -> Any:
    if value is not None:
        return np.asarray(value).reshape(()).item() if not isinstance(value, (str, bytes)) else value
    if isinstance(leaf, bytes) or (
        isinstance(leaf, np.ndarray)
        and leaf.dtype == object
        and leaf.size
        and isinstance(leaf.flat[0], bytes)
    ):
        return b""
    if isinstance(leaf, str) or (isinstance(leaf, np.ndarray) and leaf.dtype == object):
        return ""
    return 0


def _pad_stack(values: list[Any], shape: Any, padding: Any, what: str) -> np.ndarray:
    arrays = [to_array(v) if not isinstance(v, np.ndarray) else v for v in values]
    ranks = {a.ndim for a in arrays}
    if len(ranks) > 1:
        raise InputError(f"padded_batch: {what} has elements of different ranks {sorted(ranks)}.")
    rank = arrays[0].ndim
    biggest = [max(a.shape[d] for a in arrays) for d in range(rank)]
    if shape is None:
        target = biggest
    else:
        given = (
            [
                None if s is None or int(s) == -1 else int(s)
                for s in np.atleast_1d(np.asarray(shape, dtype=object))
            ]
            if rank
            else []
        )
        if len(given) != rank:
            raise InvalidArgumentError(
                f"padded_batch: padded_shapes for {what} has rank {len(given)}; elements have rank {rank}."
            )
        target = [b if g is None else g for g, b in zip(given, biggest)]
        too_big = [d for d, (g, b) in enumerate(zip(given, biggest)) if g is not None and b > g]
        if too_big:
            raise InputError(
                f"padded_batch: {what} has an element of shape {biggest} larger than padded_shapes {target}; "
                "give a larger padded shape or None for that dimension."
            )
    dtype = arrays[0].dtype
    out = np.empty((len(arrays), *target), dtype=dtype)
    out[...] = _padding_for(padding, values[0])
    for i, a in enumerate(arrays):
        region: tuple[Any, ...] = (i, *(slice(0, s) for s in a.shape))
        out[region] = a
    return out


class PaddedBatch(Batch):
    """``padded_batch``: components padded to the batch's largest (or the given) shape."""

    def __init__(
        self, parent: Dataset, batch_size: Any, padded_shapes: Any, padding_values: Any, drop_remainder: bool
    ) -> None:
        super().__init__(parent, batch_size, drop_remainder)
        self._shapes = padded_shapes
        self._padding = padding_values

    @property
    def element_spec(self) -> Any:
        """Batch and padded dims are ``None`` unless ``drop_remainder`` / ``padded_shapes`` fix them."""
        specs, tree = flatten(super().element_spec)
        shapes = self._per_leaf(self._shapes, tree, len(specs), "padded_shapes")
        out = []
        for spec, shape in zip(specs, shapes):
            given = (
                []
                if shape is None
                else [
                    None if s is None or int(s) == -1 else int(s)
                    for s in np.atleast_1d(np.asarray(shape, dtype=object))
                ]
            )
            dims = [given[i] if i < len(given) else None for i in range(len(spec.shape) - 1)]
            out.append(TensorSpec((spec.shape[0], *dims), spec.dtype))
        return unflatten(tree, out)

    def _per_leaf(self, value: Any, tree: Any, count: int, what: str) -> list[Any]:
        if value is None:
            return [None] * count
        leaves, t = flatten(value)
        if t == "leaf" and count > 1 and what == "padding_values":
            return leaves * count
        if len(leaves) != count:
            raise InvalidArgumentError(
                f"padded_batch: {what} must match the element structure {tree}; received {value!r}."
            )
        return leaves

    def _elements(self) -> Iterator[Any]:
        for tree, group in _element_groups(self._parent, self._size, self._drop):
            count = len(group[0])
            shapes = (
                self._per_leaf(self._shapes, tree, count, "padded_shapes")
                if self._shapes is not None
                else [None] * count
            )
            pads = self._per_leaf(self._padding, tree, count, "padding_values")
            columns = [
                _pad_stack([g[i] for g in group], shapes[i], pads[i], f"component {i}") for i in range(count)
            ]
            yield unflatten(tree, columns)


def _ragged_column(values: list[Any], what: str) -> Any:
    if all(np.ndim(v) == 0 for v in values):
        return stack_leaves(values, what)
    if not all(np.ndim(v) == 1 for v in values):
        raise InputError(
            f"ragged_batch: {what} must be scalars or vectors; received ranks {sorted({np.ndim(v) for v in values})}."
        )
    lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
    splits = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(lengths, out=splits[1:])
    return Ragged(np.concatenate([np.asarray(v) for v in values]), splits)


class RaggedBatch(Batch):
    """``ragged_batch``: vector components become :class:`Ragged` batches, scalars stack."""

    def _elements(self) -> Iterator[Any]:
        for tree, group in _element_groups(self._parent, self._size, self._drop):
            columns = [_ragged_column([g[i] for g in group], f"component {i}") for i in range(len(group[0]))]
            yield unflatten(tree, columns)


def _rows(leaf: Any) -> int:
    if isinstance(leaf, Ragged):
        return leaf.nrows
    if np.ndim(leaf) == 0:
        raise InputError("unbatch needs every component to have a batch dimension; received a scalar.")
    return len(leaf)


class Unbatch(Unary):
    """``unbatch``: each batch element split back into elements (streamed as blocks)."""

    def __init__(self, parent: Dataset) -> None:
        super().__init__(parent)
        self._batch_unknown = False

    def _vectorized(self) -> bool:
        return True

    def _blocks(self) -> Iterator[Block]:
        for element in self._parent:
            leaves, tree = flatten(element)
            columns = [to_array(leaf) for leaf in leaves]
            lengths = {_rows(c) for c in columns}
            if len(lengths) > 1:
                raise InputError(
                    f"unbatch: the components of a batch have different sizes {sorted(lengths)}."
                )
            if lengths and lengths.pop():
                yield Block(tree, columns)

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        if n == INFINITE:
            return INFINITE
        size = self._parent._static_leading_dim()
        return n * size if n >= 0 and size is not None else UNKNOWN


register_nodes(Batch, PaddedBatch, RaggedBatch, Unbatch)
