"""Function transformations: ``map``, ``filter``, ``flat_map``, ``interleave``.

Functions receive numpy values; a plain ``tuple`` element is unpacked into positional arguments and a
returned Python scalar / list is converted as TF converts it (``int`` -> int32, a list -> a tuple).
``map`` with ``num_parallel_calls`` runs in threads (numpy releases the GIL) and keeps the order unless
``deterministic=False``. ``interleave`` follows TF's cycle exactly (an exhausted slot is refilled when
the cycle comes back to it); ``num_parallel_calls`` does not change its order.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from torchestimator.data._dataset import AUTOTUNE, INFINITE, UNKNOWN, Dataset, check_count
from torchestimator.data._nodes import register_nodes
from torchestimator.data._structure import flatten, leaf_element, to_array, unflatten
from torchestimator.data._transforms import Unary
from torchestimator.errors import InputError, InvalidArgumentError

__all__ = ["Filter", "FlatMap", "Interleave", "Map", "call_with_element", "normalize", "reduce_dataset"]

_NUMPY_LEAF = (np.ndarray, np.generic, str, bytes)


def call_with_element(fn: Callable[..., Any], element: Any) -> Any:
    """``fn(*element)`` for a plain tuple (TF unpacks it into arguments), else ``fn(element)``."""
    return fn(*element) if type(element) is tuple else fn(element)


def _all_numpy(value: Any) -> bool:
    """Whether every leaf of a dict / tuple structure is already a numpy value, str or bytes."""
    if isinstance(value, _NUMPY_LEAF):
        return True
    if type(value) is dict:
        return all(_all_numpy(v) for v in value.values())
    if type(value) is tuple:
        return all(_all_numpy(v) for v in value)
    return False


def normalize(value: Any) -> Any:
    """A function's result as an element: Python scalars converted as TF converts them."""
    if isinstance(value, _NUMPY_LEAF):
        return value
    if isinstance(value, list):  # TF turns a returned list into a tuple (a structure, not one tensor)
        value = tuple(value)
    if _all_numpy(value):
        return value
    leaves, tree = flatten(value)
    return unflatten(
        tree, [leaf if isinstance(leaf, _NUMPY_LEAF) else leaf_element(to_array(leaf)) for leaf in leaves]
    )


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


class Map(Unary):
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


class Filter(Unary):
    """``filter``: the elements for which the predicate is a true scalar."""

    _keeps_elements = True

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


class FlatMap(Unary):
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


class Interleave(Unary):
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


def reduce_dataset(dataset: Dataset, initial_state: Any, reduce_func: Callable[[Any, Any], Any]) -> Any:
    """``Dataset.reduce``: the state after folding every element (a tuple element is unpacked after the
    state, as TF passes it)."""
    state = normalize(initial_state)
    for element in dataset:
        state = normalize(reduce_func(state, element))
    return state


register_nodes(Map, Filter, FlatMap, Interleave, reduce_dataset)
