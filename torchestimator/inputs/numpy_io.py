"""``numpy_input_fn`` / ``pandas_input_fn``: ``tf.compat.v1.estimator.inputs`` on in-memory arrays.

TF fed these through queues; the batches they produce are a continuous stream over the epochs (checked
against TF 2.15 fixtures): with ``num_epochs=2`` and 5 rows in batches of 2 the batches are
``[0 1] [2 3] [4 0] [1 2] [3 4]`` — a batch may span an epoch boundary, and only the very last batch
may be partial. ``num_epochs=None`` repeats forever. ``shuffle`` must be given explicitly, as in TF.

Differences from TF, on purpose: shuffling is a full seeded permutation of each epoch (TF's
``RandomShuffleQueue`` mixed within ``queue_capacity`` rows, unseeded), so ``queue_capacity`` and
``num_threads`` are accepted but do not change the result; ``shuffle_seed`` makes the order reproducible.
Values keep their numpy dtype (a pandas string column stays an object array of ``str``; TF gives bytes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from torchestimator.errors import InvalidArgumentError
from torchestimator.rng import unseeded_shuffle_seed

__all__ = ["numpy_input_fn", "pandas_input_fn"]


class _ArrayBatches:
    """A re-iterable stream of batches over in-memory arrays (see the module docstring)."""

    def __init__(
        self,
        x: dict[str, np.ndarray] | np.ndarray,
        y: dict[str, np.ndarray] | np.ndarray | None,
        batch_size: int,
        num_epochs: int | None,
        shuffle: bool,
        shuffle_seed: int | None,
    ) -> None:
        self._x = x
        self._y = y
        self._batch_size = batch_size
        self._num_epochs = num_epochs
        self._shuffle = shuffle
        self._seed = shuffle_seed
        first = next(iter(x.values())) if isinstance(x, dict) else x
        self._n = len(first)

    def _indices(self) -> Iterator[np.ndarray]:
        """Row indices of each batch, streaming over the epochs."""
        seed = self._seed if self._seed is not None or not self._shuffle else unseeded_shuffle_seed()
        rng = np.random.default_rng(seed)
        epoch = 0
        carry = np.zeros(0, dtype=np.int64)
        while self._num_epochs is None or epoch < self._num_epochs:
            order = rng.permutation(self._n) if self._shuffle else np.arange(self._n, dtype=np.int64)
            epoch += 1
            stream = np.concatenate((carry, order)) if carry.size else order
            full = len(stream) - len(stream) % self._batch_size
            for start in range(0, full, self._batch_size):
                yield stream[start : start + self._batch_size]
            carry = stream[full:]
        if carry.size:
            yield carry

    @staticmethod
    def _take(values: dict[str, np.ndarray] | np.ndarray, index: np.ndarray) -> Any:
        if isinstance(values, dict):
            return {k: v[index] for k, v in values.items()}
        return values[index]

    def __iter__(self) -> Iterator[Any]:
        if self._n == 0:
            return
        for index in self._indices():
            features = self._take(self._x, index)
            if self._y is None:
                yield features
            else:
                yield features, self._take(self._y, index)


def _check_common(batch_size: int, num_epochs: int | None, shuffle: Any) -> None:
    if not isinstance(shuffle, bool):
        raise InvalidArgumentError(
            "shuffle must be provided and explicitly set as boolean (it is recommended to set it as True for "
            f"training); got {shuffle!r}."
        )
    if int(batch_size) < 1:
        raise InvalidArgumentError(f"batch_size must be a positive int; received {batch_size!r}.")
    if num_epochs is not None and int(num_epochs) < 1:
        raise InvalidArgumentError(
            f"num_epochs must be None (repeat forever) or >= 1; received {num_epochs!r}."
        )


def _as_arrays(name: str, values: Any) -> dict[str, np.ndarray] | np.ndarray:
    if isinstance(values, Mapping):
        if not values:
            raise InvalidArgumentError(f"{name} cannot be an empty dict.")
        return {str(k): np.asarray(v) for k, v in values.items()}
    return np.asarray(values)


def _shapes(values: dict[str, np.ndarray] | np.ndarray) -> Any:
    if isinstance(values, dict):
        return {k: v.shape for k, v in values.items()}
    return values.shape


def numpy_input_fn(
    x: Mapping[str, Any] | np.ndarray,
    y: Mapping[str, Any] | np.ndarray | None = None,
    batch_size: int = 128,
    num_epochs: int | None = 1,
    shuffle: bool | None = None,
    queue_capacity: int = 1000,
    num_threads: int = 1,
    shuffle_seed: int | None = None,
) -> Callable[[], Iterable[Any]]:
    """An ``input_fn`` over numpy arrays (``tf.compat.v1.estimator.inputs.numpy_input_fn``).

    Args:
        x: a dict of arrays (the features) or one array (then features *are* that array).
        y: labels: an array, a dict of arrays, or ``None``.
        batch_size: rows per batch.
        num_epochs: passes over the data; ``None`` repeats forever.
        shuffle: required; shuffle each epoch.
        queue_capacity: accepted for TF compatibility (see the module docstring).
        num_threads: accepted for TF compatibility.
        shuffle_seed: seed for a reproducible shuffle (not in TF).

    Returns:
        A zero-argument ``input_fn`` returning a re-iterable of ``(features, labels)`` (or ``features``).

    Raises:
        InvalidArgumentError: ``shuffle`` not a bool, an empty dict, mismatched lengths, or keys in both
            ``x`` and ``y``.

    Examples:
        >>> fn = numpy_input_fn({"a": np.arange(5)}, np.arange(5) * 10, batch_size=2, shuffle=False)
        >>> [labels.tolist() for _, labels in fn()]
        [[0, 10], [20, 30], [40]]
    """
    _check_common(batch_size, num_epochs, shuffle)
    del queue_capacity, num_threads
    features = _as_arrays("x", x)
    labels = None if y is None else _as_arrays("y", y)
    if isinstance(features, dict) and isinstance(labels, dict):
        shared = sorted(set(features) & set(labels))
        if shared:
            raise InvalidArgumentError(f"{len(shared)} duplicate keys are found in both x and y: {shared}.")
    lengths = {
        len(v) if v.ndim else -1 for v in (features.values() if isinstance(features, dict) else [features])
    }
    if labels is not None:
        lengths |= {
            len(v) if v.ndim else -1 for v in (labels.values() if isinstance(labels, dict) else [labels])
        }
    if len(lengths) != 1 or -1 in lengths:
        raise InvalidArgumentError(
            "Length of tensors in x and y is mismatched. All elements in x and y must have the same length.\n"
            f"Shapes in x: {_shapes(features)}\nShapes in y: {None if labels is None else _shapes(labels)}"
        )
    batches = _ArrayBatches(features, labels, int(batch_size), num_epochs, bool(shuffle), shuffle_seed)

    def input_fn() -> Iterable[Any]:
        return batches

    return input_fn


def pandas_input_fn(
    x: Any,
    y: Any = None,
    batch_size: int = 128,
    num_epochs: int | None = 1,
    shuffle: bool | None = None,
    queue_capacity: int = 1000,
    num_threads: int = 1,
    target_column: str = "target",
    shuffle_seed: int | None = None,
) -> Callable[[], Iterable[Any]]:
    """An ``input_fn`` over a pandas DataFrame (``tf.compat.v1.estimator.inputs.pandas_input_fn``).

    Args:
        x: a ``pandas.DataFrame``; each column becomes a feature (the index is not).
        y: a ``Series`` (labels array) or ``DataFrame`` (dict of label arrays) with the same index as ``x``.
        batch_size: as :func:`numpy_input_fn`.
        num_epochs: as :func:`numpy_input_fn`.
        shuffle: as :func:`numpy_input_fn`.
        queue_capacity: as :func:`numpy_input_fn`.
        num_threads: as :func:`numpy_input_fn`.
        shuffle_seed: as :func:`numpy_input_fn`.
        target_column: must not be a column of ``x`` when ``y`` is a Series (TF's check).

    Returns:
        A zero-argument ``input_fn``.

    Raises:
        InvalidArgumentError: ``x`` is not a DataFrame, indexes differ, a name clash, or ``shuffle`` not a bool.
    """
    from torchestimator.optional import import_optional

    pd = import_optional("pandas", extra="pandas", purpose="pandas_input_fn")
    _check_common(batch_size, num_epochs, shuffle)
    if not isinstance(x, pd.DataFrame):
        raise InvalidArgumentError(f"x must be a pandas.DataFrame; received {type(x).__name__}.")
    labels: Any = None
    if y is not None:
        if isinstance(y, pd.Series) and target_column in x:
            raise InvalidArgumentError(
                f"Cannot use name {target_column!r} for target column: DataFrame already has a column with that "
                f"name: {list(x.columns)}; pass another target_column."
            )
        if not np.array_equal(x.index, y.index):
            raise InvalidArgumentError(
                f"Index for x and y are mismatched.\nIndex for x: {x.index}\nIndex for y: {y.index}\n"
            )
        if isinstance(y, pd.DataFrame):
            labels = {str(c): y[c].to_numpy() for c in y.columns}
        else:
            labels = y.to_numpy()
    features = {str(c): x[c].to_numpy() for c in x.columns}
    return numpy_input_fn(
        features,
        labels,
        batch_size,
        num_epochs,
        shuffle,
        queue_capacity,
        num_threads,
        shuffle_seed=shuffle_seed,
    )
