"""``Dataset``: the ``tf.data.Dataset`` API (the subset ``input_fn``\\ s use) over numpy.

A dataset is a lazy chain of nodes; iterating it (``for x in ds``, or the Estimator calling
``iter(input_fn())``) runs the chain and yields *elements*: numpy scalars / arrays, ``str`` / ``bytes``,
in the dict / tuple structure the source was given (see :mod:`torchestimator.data._structure`). Every
``iter()`` starts over, as a new TF iterator does.

Nodes that can run column-wise (in-memory sources, ``range``, file readers and ``shuffle`` / ``repeat`` /
``take`` / ``skip`` / ``shard`` / ``enumerate`` / ``concatenate`` / ``cache`` / ``unbatch`` over them)
also stream :class:`~torchestimator.data._block.Block`\\ s, so ``batch`` gathers whole batches with one
numpy fancy index per column. Functions given to ``map`` / ``filter`` / ``flat_map`` receive numpy values
(a tuple element is unpacked into positional arguments, as in TF); after ``batch`` they receive batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from torchestimator.data._block import Block, elements_of
from torchestimator.data._nodes import NODES
from torchestimator.data._structure import flatten, spec_of, unflatten
from torchestimator.errors import InvalidArgumentError

__all__ = ["AUTOTUNE", "INFINITE", "UNKNOWN", "Dataset"]

_NOTHING = object()
AUTOTUNE = -1  # tf.data.AUTOTUNE
INFINITE = -1  # tf.data.INFINITE_CARDINALITY
UNKNOWN = -2  # tf.data.UNKNOWN_CARDINALITY


def check_count(name: str, value: Any, minimum: int = 0, allow_minus_one: bool = False) -> int:
    """``value`` as an int ``>= minimum`` (or ``-1`` where TF means "all").

    Raises:
        InvalidArgumentError: it is not such an int.
    """
    if isinstance(value, (bool, float)) or not isinstance(value, (int, np.integer)):
        arr = np.asarray(value)
        if arr.ndim != 0 or arr.dtype.kind not in "iu":
            raise InvalidArgumentError(f"{name} must be an int; received {value!r}.")
        value = int(arr)
    value = int(value)
    if value < minimum and not (allow_minus_one and value == -1):
        extra = " (or -1 for all)" if allow_minus_one else ""
        raise InvalidArgumentError(f"{name} must be >= {minimum}{extra}; received {value}.")
    return value


class Dataset:
    """A re-iterable, lazily evaluated sequence of elements (``tf.data.Dataset``).

    Build one with a source (:meth:`from_tensor_slices`, :meth:`range`, :class:`TextLineDataset`, ...)
    and chain transformations; each returns a new dataset.

    Example:
        >>> ds = Dataset.range(10).filter(lambda x: x % 2 == 0).map(lambda x: x * 10).batch(2)
        >>> [b.tolist() for b in ds]
        [[0, 20], [40, 60], [80]]
    """

    # element_spec: the leading dim of each component is unknown (a batch that may be partial)
    _batch_unknown = False

    # ---- what nodes implement -------------------------------------------------------------------
    def _vectorized(self) -> bool:
        """Whether :meth:`_blocks` is available (elements can be streamed column-wise)."""
        return False

    def _blocks(self) -> Iterator[Block]:
        raise NotImplementedError

    def _elements(self) -> Iterator[Any]:
        for block in self._blocks():
            yield from elements_of(block)

    def _cardinality(self) -> int:
        return UNKNOWN

    def _static_leading_dim(self) -> int | None:
        """The first dimension every element's components share, where known without running (TF's
        static shape; ``unbatch``'s cardinality needs it)."""
        return None

    # ---- iteration ------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        return self._elements()

    def as_numpy_iterator(self) -> Iterator[Any]:
        """Iterate the elements (already numpy values; TF's ``as_numpy_iterator``)."""
        return iter(self)

    def __len__(self) -> int:
        n = self._cardinality()
        if n == INFINITE:
            raise TypeError("The dataset is infinite.")
        if n == UNKNOWN:
            raise TypeError("The dataset length is unknown.")
        return n

    def __bool__(self) -> bool:
        return True

    def cardinality(self) -> np.int64:
        """The number of elements, ``INFINITE`` (-1) or ``UNKNOWN`` (-2), as TF reports it."""
        return np.int64(self._cardinality())

    @property
    def element_spec(self) -> Any:
        """The structure of :class:`TensorSpec` of an element, read from the first element."""
        first = next(iter(self), None)
        if first is None:
            raise InvalidArgumentError(
                "element_spec of an empty dataset is unknown here (it is read from the first element)."
            )
        leaves, tree = flatten(first)
        return unflatten(tree, [spec_of(leaf, self._batch_unknown) for leaf in leaves])

    # ---- sources --------------------------------------------------------------------------------
    @staticmethod
    def from_tensor_slices(tensors: Any, name: str | None = None) -> Dataset:
        """Slice ``tensors`` along their first dimension (``tf.data.Dataset.from_tensor_slices``).

        Args:
            tensors: a dict / tuple (nested) of numpy arrays, pandas columns, lists or torch tensors,
                all with the same first dimension. Python ints / floats become int32 / float32 as in TF.
            name: accepted for TF compatibility.

        Returns:
            A dataset of the rows; streamed column-wise, so ``shuffle`` / ``batch`` gather whole batches.

        Raises:
            InvalidArgumentError: the components' first dimensions differ, or a component is a scalar.

        Example:
            >>> ds = Dataset.from_tensor_slices(({"age": [22.0, 38.0]}, [0, 1]))
            >>> next(iter(ds.batch(2)))[1]
            array([0, 1], dtype=int32)
        """
        return NODES.TensorSlices(tensors)

    @staticmethod
    def from_tensors(tensors: Any, name: str | None = None) -> Dataset:
        """A dataset of one element, ``tensors``."""
        return NODES.Tensors(tensors)

    @staticmethod
    def from_generator(
        generator: Callable[..., Any],
        output_types: Any = None,
        output_shapes: Any = None,
        args: Any = None,
        output_signature: Any = None,
        name: str | None = None,
    ) -> Dataset:
        """Elements yielded by ``generator(*args)`` (``tf.data.Dataset.from_generator``).

        Args:
            generator: a callable returning an iterator; called again for every iteration.
            output_types: the dtypes of the yielded structure (TF 1 style; ``output_signature`` is preferred).
            output_shapes: accepted; shapes are not checked.
            args: positional arguments for ``generator``.
            output_signature: a structure of :class:`TensorSpec` whose dtypes the values are converted to.
            name: accepted for TF compatibility.

        Returns:
            A dataset of unknown cardinality.

        Raises:
            InvalidArgumentError: ``generator`` is not callable or a dtype is unknown.
            InputError: while iterating, a yielded value does not match the declared structure.
        """
        return NODES.Generator(generator, output_types, output_shapes, args, output_signature)

    @staticmethod
    def range(*args: int, output_type: Any = np.int64, name: str | None = None) -> Dataset:
        """``range(stop)``, ``range(start, stop[, step])`` as int64 scalars."""
        return NODES.Range(*args, output_type=output_type)

    @staticmethod
    def zip(*datasets: Any, name: str | None = None) -> Dataset:
        """Elements of several datasets side by side (a tuple / dict of datasets); ends with the shortest."""
        structure = datasets[0] if len(datasets) == 1 else datasets
        return NODES.Zip(structure)

    @staticmethod
    def list_files(
        file_pattern: Any, shuffle: bool | None = None, seed: int | None = None, name: str | None = None
    ) -> Dataset:
        """File names matching ``file_pattern`` (a glob or list of globs), shuffled unless ``shuffle=False``."""
        return NODES.list_files(file_pattern, shuffle, seed)

    # ---- transformations ------------------------------------------------------------------------
    def map(
        self,
        map_func: Callable[..., Any],
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
        name: str | None = None,
    ) -> Dataset:
        """``map_func`` applied to every element (``tf.data.Dataset.map``).

        Args:
            map_func: a function of numpy values; a tuple element is unpacked into positional arguments.
                After ``batch`` it receives whole batches.
            num_parallel_calls: ``None`` runs in the iterating thread; an int or ``AUTOTUNE`` (one per CPU)
                runs that many calls at once in threads.
            deterministic: ``False`` yields results as they finish; otherwise in input order.
            name: accepted for TF compatibility.

        Returns:
            The mapped dataset.

        Example:
            >>> [int(x) for x in Dataset.range(3).map(lambda x: x * 2, num_parallel_calls=AUTOTUNE)]
            [0, 2, 4]
        """
        return NODES.Map(self, map_func, num_parallel_calls, deterministic)

    def filter(self, predicate: Callable[..., Any], name: str | None = None) -> Dataset:
        """The elements for which ``predicate`` returns True."""
        return NODES.Filter(self, predicate)

    def flat_map(self, map_func: Callable[..., Dataset], name: str | None = None) -> Dataset:
        """The elements of the datasets ``map_func`` returns, one after another."""
        return NODES.FlatMap(self, map_func)

    def interleave(
        self,
        map_func: Callable[..., Dataset],
        cycle_length: int | None = None,
        block_length: int | None = None,
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
        name: str | None = None,
    ) -> Dataset:
        """Elements of ``cycle_length`` datasets at a time, ``block_length`` from each in turn.

        Args:
            map_func: element -> Dataset.
            cycle_length: datasets open at once (``None`` / ``AUTOTUNE``: one per CPU, as TF).
            block_length: consecutive elements taken from each (default 1).
            num_parallel_calls: accepted; the order is TF's deterministic order either way.
            deterministic: accepted (see ``num_parallel_calls``).
            name: accepted for TF compatibility.

        Returns:
            The interleaved dataset (TF's exact order).

        Example:
            >>> [int(x) for x in Dataset.range(1, 3).interleave(lambda n: Dataset.range(n * 10, n * 10 + 2), cycle_length=2)]
            [10, 20, 11, 21]
        """
        return NODES.Interleave(self, map_func, cycle_length, block_length)

    def shuffle(
        self,
        buffer_size: int,
        seed: int | None = None,
        reshuffle_each_iteration: bool | None = None,
        name: str | None = None,
    ) -> Dataset:
        """Randomly shuffle through a buffer of ``buffer_size`` elements (TF's algorithm, numpy's RNG).

        Args:
            buffer_size: elements held in the buffer (``>= 1``; the data size for a full shuffle).
            seed: a seed for a reproducible order; ``None`` draws one from numpy's global generator when
                the dataset is built (so ``RunConfig(tf_random_seed=...)`` makes it reproducible).
            reshuffle_each_iteration: a new order per iteration / epoch (default True), else the same.
            name: accepted for TF compatibility.

        Returns:
            The shuffled dataset (see :mod:`torchestimator.data._shuffle`).

        Raises:
            InvalidArgumentError: ``buffer_size < 1``.
        """
        return NODES.Shuffle(self, buffer_size, seed, reshuffle_each_iteration)

    def repeat(self, count: int | None = None, name: str | None = None) -> Dataset:
        """The dataset ``count`` times (``None`` / -1: forever)."""
        return NODES.Repeat(self, count)

    def batch(
        self,
        batch_size: int,
        drop_remainder: bool = False,
        num_parallel_calls: int | None = None,
        deterministic: bool | None = None,
        name: str | None = None,
    ) -> Dataset:
        """Consecutive elements stacked into batches (``tf.data.Dataset.batch``).

        Args:
            batch_size: elements per batch.
            drop_remainder: drop a last batch smaller than ``batch_size`` (TF's default keeps it).
            num_parallel_calls: accepted for TF compatibility.
            deterministic: accepted for TF compatibility.
            name: accepted for TF compatibility.

        Returns:
            A dataset of batches: the element structure with a leading batch dimension (string components
            as object arrays; vectors of different lengths as a :class:`~torchestimator.parsing.Ragged`).

        Raises:
            InvalidArgumentError: ``batch_size < 1``.
            InputError: while iterating, elements whose shapes cannot be batched.

        Example:
            >>> [b.tolist() for b in Dataset.range(5).batch(2)]
            [[0, 1], [2, 3], [4]]
        """
        return NODES.Batch(self, batch_size, drop_remainder)

    def padded_batch(
        self,
        batch_size: int,
        padded_shapes: Any = None,
        padding_values: Any = None,
        drop_remainder: bool = False,
        name: str | None = None,
    ) -> Dataset:
        """Batches whose components are padded to a common (or the given) shape."""
        return NODES.PaddedBatch(self, batch_size, padded_shapes, padding_values, drop_remainder)

    def unbatch(self, name: str | None = None) -> Dataset:
        """Split batches back into elements."""
        return NODES.Unbatch(self)

    def ragged_batch(self, batch_size: int, drop_remainder: bool = False, name: str | None = None) -> Dataset:
        """Batches whose vector components become :class:`~torchestimator.parsing.Ragged` (scalars stack)."""
        return NODES.RaggedBatch(self, batch_size, drop_remainder)

    def take(self, count: int, name: str | None = None) -> Dataset:
        """The first ``count`` elements (-1: all)."""
        return NODES.Take(self, count)

    def skip(self, count: int, name: str | None = None) -> Dataset:
        """All but the first ``count`` elements (-1: skip all)."""
        return NODES.Skip(self, count)

    def shard(self, num_shards: int, index: int, name: str | None = None) -> Dataset:
        """Every ``num_shards``-th element starting at ``index`` (e.g. one input pipeline's share)."""
        return NODES.Shard(self, num_shards, index)

    def enumerate(self, start: int = 0, name: str | None = None) -> Dataset:
        """``(i, element)`` pairs, ``i`` an int64 counting from ``start``."""
        return NODES.Enumerate(self, start)

    def concatenate(self, dataset: Dataset, name: str | None = None) -> Dataset:
        """This dataset's elements, then ``dataset``'s."""
        return NODES.Concatenate(self, dataset)

    def cache(self, filename: str = "", name: str | None = None) -> Dataset:
        """Keep the elements after the first complete pass, in memory or (``filename``) in a file."""
        return NODES.Cache(self, filename)

    def prefetch(self, buffer_size: int, name: str | None = None) -> Dataset:
        """Produce up to ``buffer_size`` elements ahead in a background thread."""
        return NODES.Prefetch(self, buffer_size)

    def reduce(
        self, initial_state: Any, reduce_func: Callable[[Any, Any], Any], name: str | None = None
    ) -> Any:
        """Fold the elements: ``state = reduce_func(state, element)`` from ``initial_state``."""
        return NODES.reduce_dataset(self, initial_state, reduce_func)

    def get_single_element(self, name: str | None = None) -> Any:
        """The dataset's only element.

        Raises:
            InvalidArgumentError: it has no element or more than one.
        """
        it = iter(self)
        first = next(it, _NOTHING)
        if first is _NOTHING or next(it, _NOTHING) is not _NOTHING:
            what = "no element" if first is _NOTHING else "more than one element"
            raise InvalidArgumentError(
                f"get_single_element needs a dataset of exactly one element; it has {what}."
            )
        return first

    @staticmethod
    def sample_from_datasets(
        datasets: list[Dataset],
        weights: Any = None,
        seed: int | None = None,
        stop_on_empty_dataset: bool = False,
        rerandomize_each_iteration: bool | None = None,
    ) -> Dataset:
        """Elements drawn from ``datasets`` at random with probabilities ``weights`` (uniform by default)."""
        return NODES.Sample(datasets, weights, seed, stop_on_empty_dataset, rerandomize_each_iteration)

    @staticmethod
    def choose_from_datasets(
        datasets: list[Dataset], choice_dataset: Dataset, stop_on_empty_dataset: bool = True
    ) -> Dataset:
        """Element ``i`` from ``datasets[choice_i]``, ``choice_dataset`` giving the indices."""
        return NODES.Choose(datasets, choice_dataset, stop_on_empty_dataset)

    def apply(self, transformation_func: Callable[[Dataset], Dataset]) -> Dataset:
        """``transformation_func(self)``."""
        out = transformation_func(self)
        if not isinstance(out, Dataset):
            raise InvalidArgumentError(
                f"apply's transformation_func must return a Dataset; it returned {type(out).__name__}."
            )
        return out

    def with_options(self, options: Any, name: str | None = None) -> Dataset:
        """Accepted for TF compatibility; the options do not change the elements."""
        return NODES.WithOptions(self, options)

    def options(self) -> Any:
        """The options set with :meth:`with_options` (a fresh ``Options`` when none)."""
        from torchestimator.data._options import Options

        return getattr(self, "_options", None) or Options()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} cardinality={self._cardinality()}>"
