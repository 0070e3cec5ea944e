"""Element-order transformations: map, filter, flat_map, interleave, repeat, take, skip, shard, enumerate,
concatenate, zip, prefetch, with_options.

Cardinalities follow TF's rules (``INFINITE`` = -1, ``UNKNOWN`` = -2). Those that keep or cut the element
order (repeat, take, skip, shard, enumerate, concatenate) stream blocks when their input does.
"""

from __future__ import annotations

import collections
import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from torchestimator.data._block import Block
from torchestimator.data._dataset import AUTOTUNE, INFINITE, UNKNOWN, Dataset, check_count
from torchestimator.data._structure import flatten, leaf_element, to_array, unflatten
from torchestimator.errors import InputError, InvalidArgumentError

__all__ = [
    "Concatenate",
    "Enumerate",
    "Filter",
    "FlatMap",
    "Interleave",
    "Map",
    "Prefetch",
    "Repeat",
    "Shard",
    "Skip",
    "Take",
    "WithOptions",
    "Zip",
    "call_with_element",
]

_NUMPY_LEAF = (np.ndarray, np.generic, str, bytes)


def call_with_element(fn: Callable[..., Any], element: Any) -> Any:
    """``fn(*element)`` for a plain tuple (TF unpacks it into arguments), else ``fn(element)``."""
    return fn(*element) if type(element) is tuple else fn(element)


def normalize(value: Any) -> Any:
    """A function's result as an element: Python scalars converted as TF converts them."""
    if isinstance(value, _NUMPY_LEAF):
        return value
    if isinstance(value, list):  # TF turns a returned list into a tuple (a structure, not one tensor)
        value = tuple(value)
    leaves, tree = flatten(value)
    if all(isinstance(leaf, _NUMPY_LEAF) for leaf in leaves):
        return value
    return unflatten(
        tree, [leaf if isinstance(leaf, _NUMPY_LEAF) else leaf_element(to_array(leaf)) for leaf in leaves]
    )


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


class _Unary(Dataset):
    """A node over one input dataset that passes its cardinality / block ability through by default."""

    def __init__(self, parent: Dataset) -> None:
        if not isinstance(parent, Dataset):
            raise InvalidArgumentError(f"expected a Dataset; received {type(parent).__name__}.")
        self._parent = parent
        self._batch_unknown = parent._batch_unknown

    def _cardinality(self) -> int:
        return self._parent._cardinality()


class Map(_Unary):
    """``map``: a function of every element; threads for ``num_parallel_calls``."""

    def __init__(
        self, parent: Dataset, fn: Callable[..., Any], num_parallel_calls: Any, deterministic: Any
    ) -> None:
        super().__init__(parent)
        if not callable(fn):
            raise InvalidArgumentError(f"map_func must be callable; received {type(fn).__name__}.")
        self._fn = fn
        if num_parallel_calls is not None and num_parallel_calls != AUTOTUNE:
            check_count("num_parallel_calls", num_parallel_calls, minimum=1)
        self._workers = (
            1
            if num_parallel_calls is None
            else _cpu_count()
            if num_parallel_calls == AUTOTUNE
            else int(num_parallel_calls)
        )
        self._ordered = deterministic is None or bool(deterministic)

    def _apply(self, element: Any) -> Any:
        return normalize(call_with_element(self._fn, element))

    def _elements(self) -> Iterator[Any]:
        if self._workers <= 1:
            for element in self._parent:
                yield self._apply(element)
            return
        with ThreadPoolExecutor(self._workers, thread_name_prefix="te-data-map") as pool:
            window = 2 * self._workers
            if self._ordered:
                pending: collections.deque[Future[Any]] = collections.deque()
                for element in self._parent:
                    pending.append(pool.submit(self._apply, element))
                    if len(pending) >= window:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
                return
            running: set[Future[Any]] = set()
            for element in self._parent:
                running.add(pool.submit(self._apply, element))
                if len(running) >= window:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for f in done:
                        yield f.result()
            for f in running:
                yield f.result()


class Filter(_Unary):
    """``filter``: the elements for which the predicate is a true scalar."""

    def __init__(self, parent: Dataset, predicate: Callable[..., Any]) -> None:
        super().__init__(parent)
        self._predicate = predicate

    def _elements(self) -> Iterator[Any]:
        for element in self._parent:
            keep = call_with_element(self._predicate, element)
            if np.ndim(keep) != 0 or np.asarray(keep).dtype != np.bool_:
                raise InputError(
                    f"filter's predicate must return a scalar bool; it returned {keep!r}. Reduce it with "
                    "np.all / np.any or compare a scalar."
                )
            if keep:
                yield element

    def _cardinality(self) -> int:
        n = self._parent._cardinality()
        return n if n == INFINITE else UNKNOWN


def _as_dataset(value: Any, what: str) -> Dataset:
    if not isinstance(value, Dataset):
        raise InputError(f"{what}'s map_func must return a Dataset; it returned {type(value).__name__}.")
    return value


class FlatMap(_Unary):
    """``flat_map``: the datasets returned by the function, concatenated."""

    def __init__(self, parent: Dataset, fn: Callable[..., Dataset]) -> None:
        super().__init__(parent)
        self._fn = fn
        self._batch_unknown = False

    def _elements(self) -> Iterator[Any]:
        for element in self._parent:
            yield from _as_dataset(call_with_element(self._fn, element), "flat_map")

    def _cardinality(self) -> int:
        return UNKNOWN


class Interleave(_Unary):
    """``interleave``: TF's cycle over ``cycle_length`` open datasets, ``block_length`` elements each."""

    def __init__(
        self, parent: Dataset, fn: Callable[..., Dataset], cycle_length: Any, block_length: Any
    ) -> None:
        super().__init__(parent)
        self._fn = fn
        self._batch_unknown = False
        self._cycle = (
            _cpu_count() if cycle_length in (None, AUTOTUNE) else check_count("cycle_length", cycle_length, 1)
        )
        self._block = 1 if block_length is None else check_count("block_length", block_length, 1)

    def _elements(self) -> Iterator[Any]:
        inputs = iter(self._parent)
        slots: list[Iterator[Any] | None] = [None] * self._cycle
        open_count, index, taken, end_of_input = 0, 0, 0, False
        while not end_of_input or open_count:
            current = slots[index]
            if current is not None:
                element = next(current, _END)
                if element is not _END:
                    yield element
                    taken += 1
                    if taken == self._block:
                        taken, index = 0, (index + 1) % self._cycle
                    continue
                slots[index], taken, index = None, 0, (index + 1) % self._cycle
                open_count -= 1
            elif not end_of_input:
                source = next(inputs, _END)
                if source is _END:
                    end_of_input = True
                else:
                    slots[index] = iter(_as_dataset(call_with_element(self._fn, source), "interleave"))
                    open_count += 1
            else:
                taken, index = 0, (index + 1) % self._cycle

    def _cardinality(self) -> int:
        return UNKNOWN


_END = object()


class Repeat(_Unary):
    """``repeat``: the input again and again (an empty input ends even when repeated forever)."""

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


class Take(_Unary):
    """``take``: the first ``count`` elements."""

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


class Skip(_Unary):
    """``skip``: all but the first ``count`` elements."""

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


class Shard(_Unary):
    """``shard``: elements ``index, index + num_shards, ...``."""

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


class Enumerate(_Unary):
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


class Concatenate(_Unary):
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


class Zip(Dataset):
    """``zip``: a tuple (or dict) of datasets' elements side by side, as long as the shortest."""

    def __init__(self, structure: Any) -> None:
        self._datasets, self._tree = flatten(structure)
        if not self._datasets or not all(isinstance(d, Dataset) for d in self._datasets):
            raise InvalidArgumentError(
                f"zip takes a tuple or dict of Datasets; received {[type(d).__name__ for d in self._datasets]}."
            )
        self._batch_unknown = any(d._batch_unknown for d in self._datasets)

    def _elements(self) -> Iterator[Any]:
        for parts in zip(*self._datasets):
            yield unflatten(self._tree, list(parts))

    def _cardinality(self) -> int:
        ns = [d._cardinality() for d in self._datasets]
        finite = [n for n in ns if n >= 0]
        if finite:
            return min(finite)
        return UNKNOWN if UNKNOWN in ns else INFINITE


class Prefetch(_Unary):
    """``prefetch``: elements produced ahead in a background thread."""

    def __init__(self, parent: Dataset, buffer_size: Any) -> None:
        super().__init__(parent)
        size = check_count("buffer_size", buffer_size, 0, allow_minus_one=True)
        self._size = 2 if size == AUTOTUNE else size

    def _elements(self) -> Iterator[Any]:
        if self._size == 0:
            return iter(self._parent)
        from torchestimator.inputs.prefetch import prefetch

        return prefetch(self._parent, self._size)


class WithOptions(_Unary):
    """``with_options``: the same elements; the options are kept for :meth:`Dataset.options`."""

    def __init__(self, parent: Dataset, options: Any) -> None:
        super().__init__(parent)
        self._options = options

    def _vectorized(self) -> bool:
        return self._parent._vectorized()

    def _blocks(self) -> Iterator[Block]:
        return self._parent._blocks()

    def _elements(self) -> Iterator[Any]:
        return iter(self._parent)
