"""In-memory sources: ``from_tensor_slices``, ``from_tensors``, ``from_generator``, ``range``, ``list_files``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from torchestimator.data._block import Block
from torchestimator.data._dataset import Dataset
from torchestimator.data._nodes import register_nodes
from torchestimator.data._structure import flatten, leaf_element, to_array, unflatten
from torchestimator.errors import InputError, InvalidArgumentError
from torchestimator.parsing import Ragged

__all__ = ["Generator", "Range", "TensorSlices", "Tensors", "list_files"]

_RANGE_BLOCK = 1 << 16  # range elements materialised per block


def _leaf_rows(leaf: Any) -> int:
    return leaf.nrows if isinstance(leaf, Ragged) else len(leaf)


def _common_leading_dim(leaves: list[Any], skip_first: bool) -> int | None:
    """The size of the first element dimension shared by every leaf (``None`` if any lacks it)."""
    axis = 1 if skip_first else 0
    dims = set()
    for leaf in leaves:
        if isinstance(leaf, Ragged) or np.ndim(leaf) <= axis:
            return None
        dims.add(np.shape(leaf)[axis])
    return dims.pop() if len(dims) == 1 else None


def _writable(column: Any) -> Any:
    if isinstance(column, np.ndarray) and not column.flags.writeable:
        return column.copy()
    return column


class TensorSlices(Dataset):
    """The rows (axis 0) of a structure of columns; streamed as one lazy block (no copy)."""

    def __init__(self, tensors: Any) -> None:
        leaves, self._tree = flatten(tensors)
        if not leaves:
            raise InvalidArgumentError(
                "from_tensor_slices needs at least one array; received an empty structure."
            )
        # read-only columns (pandas' copy-on-write arrays) are copied once: batches may be views of them
        self._columns = [_writable(to_array(leaf)) for leaf in leaves]
        for column in self._columns:
            if not isinstance(column, Ragged) and np.ndim(column) == 0:
                raise InvalidArgumentError(
                    "from_tensor_slices slices along the first dimension, so every component needs at least one "
                    "dimension; received a scalar. Use from_tensors for a single element."
                )
        lengths = [_leaf_rows(c) for c in self._columns]
        if len(set(lengths)) > 1:
            raise InvalidArgumentError(
                f"from_tensor_slices: all components must have the same first dimension; received lengths "
                f"{lengths}."
            )
        self._n = lengths[0]

    def _vectorized(self) -> bool:
        return True

    def _blocks(self) -> Iterator[Block]:
        if self._n:
            yield Block(self._tree, self._columns)

    def _cardinality(self) -> int:
        return self._n

    def _static_leading_dim(self) -> int | None:
        return _common_leading_dim([c for c in self._columns], skip_first=True)


class Tensors(Dataset):
    """One element (``from_tensors``)."""

    def __init__(self, tensors: Any) -> None:
        leaves, self._tree = flatten(tensors)
        self._leaves = [to_array(leaf) for leaf in leaves]

    def _vectorized(self) -> bool:
        return not any(isinstance(leaf, Ragged) for leaf in self._leaves)

    def _blocks(self) -> Iterator[Block]:
        yield Block(self._tree, [np.asarray(leaf)[np.newaxis] for leaf in self._leaves])

    def _elements(self) -> Iterator[Any]:
        yield unflatten(self._tree, [leaf_element(leaf) for leaf in self._leaves])

    def _cardinality(self) -> int:
        return 1

    def _static_leading_dim(self) -> int | None:
        return _common_leading_dim(self._leaves, skip_first=False)


def _spec_dtype(spec: Any) -> Any:
    dtype = spec if isinstance(spec, (type, np.dtype, str)) else getattr(spec, "dtype", spec)
    if isinstance(dtype, type) and issubclass(dtype, np.generic):
        return np.dtype(dtype)
    name = str(getattr(dtype, "name", dtype)).replace("tf.", "")
    if name in ("string", "str", "object", "bytes"):
        return object
    try:
        return np.dtype(name)
    except TypeError as err:
        raise InvalidArgumentError(
            f"from_generator: unknown dtype {dtype!r}; use a numpy dtype name such as 'float32', 'int64' or "
            "'string'."
        ) from err


class Generator(Dataset):
    """Elements of ``generator(*args)``, converted to the declared dtypes (``from_generator``)."""

    def __init__(
        self,
        generator: Callable[..., Any],
        output_types: Any,
        output_shapes: Any,
        args: Any,
        output_signature: Any,
    ) -> None:
        if not callable(generator):
            raise InvalidArgumentError(
                f"from_generator needs a callable that returns an iterator; received {type(generator).__name__}."
            )
        self._generator = generator
        self._args = tuple(args) if args is not None else ()
        types = output_signature if output_signature is not None else output_types
        self._dtypes: list[Any] | None = None
        self._tree = None
        if types is not None:
            specs, self._tree = flatten(types)
            self._dtypes = [_spec_dtype(s) for s in specs]
        del output_shapes  # shapes are not checked: the values are what the generator yields

    def _convert(self, element: Any) -> Any:
        leaves, tree = flatten(element)
        if self._dtypes is None:
            return unflatten(tree, [leaf_element(to_array(leaf)) for leaf in leaves])
        if tree != self._tree and not (self._tree == "leaf" and tree == "leaf"):
            raise InputError(
                f"from_generator: the generator yielded {str(element)[:80]!r}, which does not match the declared "
                f"output structure {self._tree}."
            )
        out = []
        for leaf, dtype in zip(leaves, self._dtypes):
            if dtype is object:
                out.append(leaf_element(to_array(leaf)))
            else:
                out.append(leaf_element(np.asarray(leaf, dtype=dtype)))
        return unflatten(self._tree, out)

    def _elements(self) -> Iterator[Any]:
        for element in self._generator(*self._args):
            yield self._convert(element)


class Range(Dataset):
    """``Dataset.range``: int64 scalars in column blocks."""

    def __init__(self, *args: int, output_type: Any = np.int64) -> None:
        if not 1 <= len(args) <= 3:
            raise InvalidArgumentError(f"range takes 1 to 3 ints (start, stop, step); received {args}.")
        bounds = [int(a) for a in args]
        start, stop, step = (
            (0, bounds[0], 1) if len(bounds) == 1 else (*bounds[:2], bounds[2] if len(bounds) == 3 else 1)
        )
        if step == 0:
            raise InvalidArgumentError("range's step must not be 0.")
        self._range = range(start, stop, step)
        self._dtype = _spec_dtype(output_type)

    def _vectorized(self) -> bool:
        return True

    def _blocks(self) -> Iterator[Block]:
        r = self._range
        for i in range(0, len(r), _RANGE_BLOCK):
            part = r[i : i + _RANGE_BLOCK]
            yield Block("leaf", [np.arange(part.start, part.stop, part.step, dtype=self._dtype)])

    def _cardinality(self) -> int:
        return len(self._range)


def list_files(file_pattern: Any, shuffle: bool | None, seed: int | None) -> Dataset:
    """File names matching ``file_pattern``, sorted, then shuffled per iteration unless ``shuffle=False``.

    Raises:
        InvalidArgumentError: nothing matches.
    """
    from torchestimator.inputs.pipeline import expand_file_pattern

    if isinstance(file_pattern, Dataset):
        file_pattern = [str(f) for f in file_pattern]
    files = expand_file_pattern(file_pattern, shuffle=False)
    names = np.empty(len(files), dtype=object)
    names[:] = files
    ds: Dataset = TensorSlices(names)
    if shuffle is None or shuffle:
        ds = ds.shuffle(len(files), seed=seed)
    return ds


register_nodes(TensorSlices, Tensors, Generator, Range, list_files)
