"""``te.data.experimental``: the ``tf.data.experimental`` names input_fns use.

``make_csv_dataset`` and ``make_batched_features_dataset`` return a :class:`~torchestimator.data.Dataset`
of batches (so ``.map(...)`` etc. chain onto them) over the readers of :mod:`torchestimator.inputs`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from torchestimator.data._dataset import AUTOTUNE, INFINITE, UNKNOWN, Dataset
from torchestimator.data._distribute import auto_shard
from torchestimator.data._files import CsvDataset
from torchestimator.data._options import AutoShardPolicy

__all__ = [
    "AUTOTUNE",
    "INFINITE_CARDINALITY",
    "UNKNOWN_CARDINALITY",
    "AutoShardPolicy",
    "CsvDataset",
    "auto_shard",
    "cardinality",
    "make_batched_features_dataset",
    "make_csv_dataset",
]

INFINITE_CARDINALITY = INFINITE
UNKNOWN_CARDINALITY = UNKNOWN


class _ReaderBatches(Dataset):
    """A reader of :mod:`torchestimator.inputs` (re-iterable batches) as a Dataset."""

    _batch_unknown = True
    _batches_from_reader = True  # its elements are batches (for auto_shard)

    def __init__(self, reader: Iterable[Any], repeats_forever: bool) -> None:
        self._reader = reader
        self._forever = repeats_forever

    def _elements(self) -> Iterator[Any]:
        return iter(self._reader)

    def _cardinality(self) -> int:
        return INFINITE if self._forever else UNKNOWN


def make_csv_dataset(file_pattern: Any, batch_size: int, *args: Any, **kwargs: Any) -> Dataset:
    """``tf.data.experimental.make_csv_dataset`` as a Dataset of ``(features, label)`` batches.

    Takes TF's arguments (see :func:`torchestimator.inputs.make_csv_dataset`, which reads the files;
    ``encoding`` must be UTF-8). An unseeded shuffle draws its seed from numpy's global generator, as
    :meth:`Dataset.shuffle` does.

    Example:
        >>> ds = make_csv_dataset("data/titanic/eval.csv", 32, label_name="survived", num_epochs=1)  # doctest: +SKIP
    """
    from torchestimator.errors import InvalidArgumentError
    from torchestimator.inputs.csv_dataset import make_csv_dataset as read_csv

    encoding = str(kwargs.pop("encoding", "utf-8"))
    if encoding.lower().replace("-", "") != "utf8":
        raise InvalidArgumentError(f"make_csv_dataset reads UTF-8 files; received encoding={encoding!r}.")
    if not args and kwargs.get("shuffle", True) and kwargs.get("shuffle_seed") is None:
        # as Dataset.shuffle: an unseeded shuffle takes its seed from numpy's global generator, so
        # RunConfig(tf_random_seed=...) makes it reproducible (and a resumed train() replays it)
        kwargs["shuffle_seed"] = int(np.random.randint(0, 2**62, dtype=np.int64))
    reader = read_csv(file_pattern, batch_size, *args, **kwargs)
    return _ReaderBatches(reader, reader.num_epochs is None)


def make_batched_features_dataset(
    file_pattern: Any,
    batch_size: int,
    features: Any,
    reader: Any = None,
    label_key: str | None = None,
    reader_args: Any = None,
    num_epochs: int | None = None,
    shuffle: bool = True,
    shuffle_buffer_size: int = 10000,
    shuffle_seed: int | None = None,
    prefetch_buffer_size: int | None = None,
    reader_num_threads: int | None = None,
    parser_num_threads: int | None = None,
    sloppy_ordering: bool = False,
    drop_final_batch: bool = False,
) -> Dataset:
    """``tf.data.experimental.make_batched_features_dataset`` (TFRecord files of ``tf.train.Example``)
    as a Dataset of batches; ``reader`` / threads / ``sloppy_ordering`` are accepted and ignored."""
    from torchestimator.inputs.tfrecord_dataset import make_tfrecord_dataset

    del reader, reader_args, reader_num_threads, parser_num_threads, sloppy_ordering
    batches = make_tfrecord_dataset(
        file_pattern,
        batch_size,
        features,
        label_key=label_key,
        num_epochs=num_epochs,
        shuffle=shuffle,
        shuffle_buffer_size=shuffle_buffer_size,
        shuffle_seed=shuffle_seed,
        prefetch_buffer_size=prefetch_buffer_size,
        drop_final_batch=drop_final_batch,
    )
    return _ReaderBatches(batches, num_epochs is None)


def cardinality(dataset: Dataset) -> np.int64:
    """``tf.data.experimental.cardinality``: ``dataset.cardinality()``."""
    return dataset.cardinality()
