"""``auto_shard``: an input pipeline's share of an ``input_fn``'s dataset, as TF's strategies give it.

TF distributes the dataset of an ``input_fn`` that does not take ``input_context`` itself
(``experimental_distribute_dataset``): with ``AutoShardPolicy.DATA`` every worker reads the whole
dataset and keeps its share, and a batched dataset is *rebatched* so that the batch size the input_fn
asked for stays the global batch — each of ``n`` workers gets a slice of every batch, sizes as even as
possible (10 rows over 3 workers: 4, 3, 3). An ``input_fn`` that takes ``input_context`` shards itself and
is left alone, as in TF; so is a chain that already calls ``shard``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torchestimator.data._batching import Batch, Unbatch
from torchestimator.data._dataset import Dataset
from torchestimator.data._structure import flatten, unflatten
from torchestimator.data._transforms import Shard, Unary
from torchestimator.inputs.pipeline import ragged_take
from torchestimator.parsing import Ragged

__all__ = ["SplitBatches", "auto_shard", "is_batched", "shards_itself"]


def _inputs(dataset: Dataset) -> list[Dataset]:
    found = [v for v in vars(dataset).values() if isinstance(v, Dataset)]
    for v in vars(dataset).values():
        if isinstance(v, list):
            found.extend(d for d in v if isinstance(d, Dataset))
    return found


def shards_itself(dataset: Dataset) -> bool:
    """Whether ``dataset``'s chain already contains a ``shard``."""
    stack = [dataset]
    while stack:
        node = stack.pop()
        if isinstance(node, Shard):
            return True
        stack.extend(_inputs(node))
    return False


def is_batched(dataset: Dataset) -> bool:
    """Whether the elements are batches: the nearest ``batch`` / ``unbatch`` up the chain decides
    (``make_csv_dataset`` and ``make_batched_features_dataset`` yield batches)."""
    node: Dataset | None = dataset
    while node is not None:
        if isinstance(node, Batch) or getattr(node, "_batches_from_reader", False):
            return True
        if isinstance(node, Unbatch):
            return False
        parents = _inputs(node)
        node = parents[0] if parents else None
    return False


class SplitBatches(Unary):
    """Slice ``index`` of ``num_slices`` (rows ``[a, b)``, as even as possible) of every batch."""

    def __init__(self, parent: Dataset, num_slices: int, index: int) -> None:
        super().__init__(parent)
        self._n, self._i = num_slices, index

    def _elements(self) -> Iterator[Any]:
        for batch in self._parent:
            leaves, tree = flatten(batch)
            rows = leaves[0].nrows if isinstance(leaves[0], Ragged) else len(leaves[0])
            base, extra = divmod(rows, self._n)
            start = self._i * base + min(self._i, extra)
            stop = start + base + (1 if self._i < extra else 0)
            cut = slice(start, stop)
            yield unflatten(tree, [ragged_take(v, cut) if isinstance(v, Ragged) else v[cut] for v in leaves])


def auto_shard(dataset: Any, input_context: Any) -> Any:
    """This input pipeline's share of ``dataset`` (see the module docstring).

    Args:
        dataset: what an ``input_fn`` that does not take ``input_context`` returned.
        input_context: the :class:`~torchestimator.InputContext` of this pipeline (or ``None``).

    Returns:
        ``dataset`` unchanged when it is not a :class:`Dataset`, there is one pipeline or it shards
        itself; otherwise its batches split across the pipelines (or, unbatched, every ``n``-th element).

    Example:
        >>> from torchestimator.parallel import InputContext
        >>> [b.tolist() for b in auto_shard(Dataset.range(10).batch(5), InputContext(2, 1))]
        [[3, 4], [8, 9]]
    """
    if not isinstance(dataset, Dataset) or input_context is None:
        return dataset
    n, i = int(input_context.num_input_pipelines), int(input_context.input_pipeline_id)
    if n <= 1 or shards_itself(dataset):
        return dataset
    if is_batched(dataset):
        return SplitBatches(dataset, n, i)
    return dataset.shard(n, i)
