"""Element-order transformations: repeat, take, skip, shard, enumerate, concatenate, zip, prefetch,
with_options (and the one-input node base class).

Cardinalities follow TF's rules (``INFINITE`` = -1, ``UNKNOWN`` = -2). Those that keep or cut the element
order (repeat, take, skip, shard, enumerate, concatenate) stream blocks when their input does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np

from torchestimator.data._block import Block
from torchestimator.data._dataset import AUTOTUNE, INFINITE, UNKNOWN, Dataset, check_count
from torchestimator.data._nodes import register_nodes
from torchestimator.data._structure import LEAF, flatten, unflatten
from torchestimator.errors import InvalidArgumentError

__all__ = [
    "Concatenate",
    "Enumerate",
    "Prefetch",
    "Repeat",
    "Shard",
    "Skip",
    "Take",
    "Unary",
    "WithOptions",
    "Zip",
]


class Unary(Dataset):
    """A node over one input dataset that passes its cardinality / block ability through by default."""

    def __init__(self, parent: Dataset) -> None:
        if not isinstance(parent, Dataset):
            raise InvalidArgumentError(f"expected a Dataset; received {type(parent).__name__}.")
        self._parent = parent
        self._batch_unknown = parent._batch_unknown

    # transformations that keep every element as it is (shuffle, repeat, take, ...) keep its static shape
    _keeps_elements = False

    def _cardinality(self) -> int:
        return self._parent._cardinality()

    def _static_leading_dim(self) -> int | None:
        return self._parent._static_leading_dim() if self._keeps_elements else None


class Repeat(Unary):
    """``repeat``: the input again and again (an empty input ends even when repeated forever)."""

    _keeps_elements = True

    def __init__(self, parent: Dataset, count: Any) -> None:
        super().__init__(parent)
        self._count = -1 if count is None else check_count("count", count, 0, allow_minus_one=True)

    def _vectorized(self) -> bool:
        return self._parent._vectorized()

    def _epochs(self) -> Iterator[int]:
        return itertools.count() if self._count == -1 else iter(range(self._count))

    def _blocks(self) -> Iterator[Block]:
        for _ in self._epochs():
            produced = False
            for block in self._parent._blocks():
                produced = True
                yield block
            if not produced:
                return

    def _elements(self) -> Iterator[Any]:
        if self._vectorized():
            yield from super()._elements()
            return
        for _ in self._epochs():
            produced = False
            for element in self._parent:
                produced = True
                yield element
            if not produced:
                return

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        if self._count == -1:
            return 0 if n == 0 else INFINITE
        if self._count == 0:
            return 0
        return n if n < 0 else n * self._count


class Take(Unary):
    """``take``: the first ``count`` elements."""

    _keeps_elements = True

    def __init__(self, parent: Dataset, count: Any) -> None:
        super().__init__(parent)
        self._count = check_count("count", count, 0, allow_minus_one=True)

    def _vectorized(self) -> bool:
        return self._parent._vectorized()

    def _blocks(self) -> Iterator[Block]:
        left = self._count
        if left == 0:
            return
        for block in self._parent._blocks():
            if 0 <= left <= len(block):
                if left:
                    yield block.take(slice(0, left))
                return
            yield block
            if left > 0:
                left -= len(block)

    def _elements(self) -> Iterator[Any]:
        if self._vectorized():
            return super()._elements()
        return iter(self._parent) if self._count == -1 else itertools.islice(self._parent, self._count)

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        if self._count == -1:
            return n
        if n == UNKNOWN:
            return UNKNOWN
        return self._count if n == INFINITE else min(n, self._count)


class Skip(Unary):
    """``skip``: all but the first ``count`` elements."""

    _keeps_elements = True

    def __init__(self, parent: Dataset, count: Any) -> None:
        super().__init__(parent)
        self._count = check_count("count", count, 0, allow_minus_one=True)

    def _vectorized(self) -> bool:
        return self._parent._vectorized()

    def _blocks(self) -> Iterator[Block]:
        if self._count == -1:
            return
        left = self._count
        for block in self._parent._blocks():
            if left >= len(block):
                left -= len(block)
                continue
            yield block.take(slice(left, None)) if left else block
            left = 0

    def _elements(self) -> Iterator[Any]:
        if self._vectorized():
            return super()._elements()
        if self._count == -1:
            return iter(())
        return itertools.islice(self._parent, self._count, None)

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        if n < 0:
            return n
        return 0 if self._count == -1 else max(0, n - self._count)


class Shard(Unary):
    """``shard``: elements ``index, index + num_shards, ...``."""

    _keeps_elements = True

    def __init__(self, parent: Dataset, num_shards: Any, index: Any) -> None:
        super().__init__(parent)
        self._n = check_count("num_shards", num_shards, 1)
        self._i = check_count("index", index, 0)
        if self._i >= self._n:
            raise InvalidArgumentError(
                f"shard index must be in [0, num_shards={self._n}); received {self._i}."
            )

    def _vectorized(self) -> bool:
        return self._parent._vectorized()

    def _blocks(self) -> Iterator[Block]:
        offset = 0
        for block in self._parent._blocks():
            first = (self._i - offset) % self._n
            offset += len(block)
            if first < len(block):
                yield block.take(slice(first, None, self._n))

    def _elements(self) -> Iterator[Any]:
        if self._vectorized():
            return super()._elements()
        return itertools.islice(self._parent, self._i, None, self._n)

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        if n < 0:
            return n
        return n // self._n + (1 if self._i < n % self._n else 0)


class Enumerate(Unary):
    """``enumerate``: ``(int64 counter, element)``."""

    def __init__(self, parent: Dataset, start: Any) -> None:
        super().__init__(parent)
        self._start = int(start)

    def _vectorized(self) -> bool:
        return self._parent._vectorized()

    def _blocks(self) -> Iterator[Block]:
        count = self._start
        for block in self._parent._blocks():
            counter = np.arange(count, count + len(block), dtype=np.int64)
            count += len(block)
            yield Block(("tuple", None, ("leaf", block.tree)), [counter, *block.columns()])

    def _elements(self) -> Iterator[Any]:
        if self._vectorized():
            return super()._elements()
        return ((np.int64(i), x) for i, x in enumerate(self._parent, start=self._start))


class Concatenate(Unary):
    """``concatenate``: one dataset's elements, then another's."""

    def __init__(self, parent: Dataset, other: Dataset) -> None:
        super().__init__(parent)
        if not isinstance(other, Dataset):
            raise InvalidArgumentError(f"concatenate needs a Dataset; received {type(other).__name__}.")
        self._other = other
        self._batch_unknown = parent._batch_unknown or other._batch_unknown

    def _vectorized(self) -> bool:
        return self._parent._vectorized() and self._other._vectorized()

    def _blocks(self) -> Iterator[Block]:
        yield from self._parent._blocks()
        yield from self._other._blocks()

    def _elements(self) -> Iterator[Any]:
        if self._vectorized():
            return super()._elements()
        return itertools.chain(self._parent, self._other)

    def _cardinality(self) -> int:
        a, b = self._parent._cardinality(), self._other._cardinality()
        if INFINITE in (a, b):
            return INFINITE
        return UNKNOWN if UNKNOWN in (a, b) else a + b


def _graft(tree: Any, subtrees: list[Any]) -> Any:
    """``tree`` with its leaves (in order) replaced by ``subtrees``."""
    it = iter(subtrees)

    def walk(t: Any) -> Any:
        if t == LEAF:
            return next(it)
        kind, meta, children = t
        return (kind, meta, tuple(walk(c) for c in children))

    return walk(tree)


class Zip(Dataset):
    """``zip``: a tuple (or dict) of datasets' elements side by side, as long as the shortest."""

    def __init__(self, structure: Any) -> None:
        self._datasets, self._tree = flatten(structure)
        if not self._datasets or not all(isinstance(d, Dataset) for d in self._datasets):
            raise InvalidArgumentError(
                f"zip takes a tuple or dict of Datasets; received {[type(d).__name__ for d in self._datasets]}."
            )
        self._batch_unknown = any(d._batch_unknown for d in self._datasets)

    def _vectorized(self) -> bool:
        return all(d._vectorized() for d in self._datasets)

    def _blocks(self) -> Iterator[Block]:
        """Blocks of the inputs cut to common lengths, their columns side by side."""
        streams = [d._blocks() for d in self._datasets]
        current: list[Block] = []
        for stream in streams:
            first = next(stream, None)
            if first is None:
                return
            current.append(first)
        while True:
            for i, stream in enumerate(streams):
                while not len(current[i]):
                    refill = next(stream, None)
                    if refill is None:
                        return
                    current[i] = refill
            n = min(len(b) for b in current)
            parts = [b.take(slice(0, n)) for b in current]
            current = [b.take(slice(n, None)) for b in current]
            columns = [c for part in parts for c in part.columns()]
            yield Block(_graft(self._tree, [part.tree for part in parts]), columns)

    def _elements(self) -> Iterator[Any]:
        if self._vectorized():
            yield from super()._elements()
            return
        for parts in zip(*self._datasets):
            yield unflatten(self._tree, list(parts))

    def _cardinality(self) -> int:
        ns = [d._cardinality() for d in self._datasets]
        finite = [n for n in ns if n >= 0]
        if finite:
            return min(finite)
        return UNKNOWN if UNKNOWN in ns else INFINITE


class Prefetch(Unary):
    """``prefetch``: elements produced ahead in a background thread."""

    _keeps_elements = True

    def __init__(self, parent: Dataset, buffer_size: Any) -> None:
        super().__init__(parent)
        size = check_count("buffer_size", buffer_size, 0, allow_minus_one=True)
        self._size = 2 if size == AUTOTUNE else size

    def _elements(self) -> Iterator[Any]:
        if self._size == 0:
            return iter(self._parent)
        from torchestimator.inputs.prefetch import prefetch

        return prefetch(self._parent, self._size)


class WithOptions(Unary):
    """``with_options``: the same elements; the options are kept for :meth:`Dataset.options`."""

    _keeps_elements = True

    def __init__(self, parent: Dataset, options: Any) -> None:
        super().__init__(parent)
        self._options = options

    def _vectorized(self) -> bool:
        return self._parent._vectorized()

    def _blocks(self) -> Iterator[Block]:
        return self._parent._blocks()

    def _elements(self) -> Iterator[Any]:
        return iter(self._parent)


register_nodes(Repeat, Take, Skip, Shard, Enumerate, Concatenate, Zip, Prefetch, WithOptions)
