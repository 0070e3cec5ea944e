"""TFRecord datasets: ``TFRecordDataset`` (records as bytes) and ``make_tfrecord_dataset`` (parsed batches).

``make_tfrecord_dataset`` is TF's ``tf.data.experimental.make_batched_features_dataset`` over TFRecord
files. TF's canonical pipeline is ``TFRecordDataset -> shuffle -> batch -> map(parse_example)``; parsing is a
per-record function, so parsing *before* shuffling gives the same batches, and that is what happens here:
records are parsed straight from the file buffer a few thousand at a time (the vectorised decoder for
numeric specs), then the parsed rows are sharded, shuffled and batched. One difference follows: a record
that does not parse raises when it is read, which with a shuffle buffer can be before batches that TF
would still have produced.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from torchestimator.errors import InvalidArgumentError, did_you_mean
from torchestimator.inputs.example_parsing import ParseSpec, parse_record_span
from torchestimator.inputs.pipeline import BatchedDataset, expand_file_pattern
from torchestimator.inputs.tfrecord import RecordChunk, read_record_chunks, tfrecord_compression
from torchestimator.parallel.input_context import InputContext
from torchestimator.parsing import FixedLenSequenceFeature

__all__ = ["TFRecordDataset", "make_batched_features_dataset", "make_tfrecord_dataset"]


class TFRecordDataset:
    """The records of TFRecord files, as ``bytes`` (``tf.data.TFRecordDataset``); re-iterable.

    Args:
        filenames: a file name or a list of them (read in order; no globbing, as in TF).
        compression_type: ``None`` / ``""``, ``"GZIP"`` or ``"ZLIB"``.

    Example:
        >>> records = list(TFRecordDataset("tests/fixtures/inputs/examples.tfrecord"))  # doctest: +SKIP
    """

    def __init__(
        self,
        filenames: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        compression_type: str | None = None,
    ) -> None:
        names = [filenames] if isinstance(filenames, (str, os.PathLike)) else list(filenames)
        self.filenames = [os.fspath(f) for f in names]
        self.compression_type = tfrecord_compression(compression_type)

    def __iter__(self) -> Iterator[bytes]:
        for path in self.filenames:
            for chunk in read_record_chunks(path, self.compression_type):
                yield from chunk.records()


_PARSE_ROWS = 2048  # records parsed per call: amortises numpy call overhead, stays in cache


def _parse_chunk(chunk: RecordChunk, features: ParseSpec) -> Iterator[dict[str, Any]]:
    """Parse a chunk's records in slices, straight from the chunk buffer (no bytes object per record)."""
    for start in range(0, len(chunk), _PARSE_ROWS):
        stop = min(start + _PARSE_ROWS, len(chunk))
        yield parse_record_span(chunk.buffer, chunk.starts[start:stop], chunk.lengths[start:stop], features)


def make_tfrecord_dataset(
    file_pattern: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    batch_size: int,
    features: ParseSpec,
    label_key: str | None = None,
    num_epochs: int | None = None,
    shuffle: bool = True,
    shuffle_buffer_size: int = 10000,
    shuffle_seed: int | None = None,
    compression_type: str | None = None,
    prefetch_buffer_size: int | None = None,
    drop_final_batch: bool = False,
    input_context: InputContext | None = None,
) -> BatchedDataset:
    """Batches of parsed ``tf.train.Example`` from TFRecord files (TF's ``make_batched_features_dataset``).

    Args:
        file_pattern: a file, a glob, or a list of them.
        batch_size: examples per batch (the last partial batch is kept unless ``drop_final_batch``).
        features: the parse spec (``{key: FixedLenFeature | VarLenFeature | FixedLenSequenceFeature}``), e.g.
            from ``make_parse_example_spec``.
        label_key: a spec key returned separately as the label.
        num_epochs: passes over the data; ``None`` repeats forever (TF's default).
        shuffle: shuffle file order and records.
        shuffle_buffer_size: records in the shuffle buffer.
        shuffle_seed: seed for reproducible order.
        compression_type: ``None`` / ``""``, ``"GZIP"`` or ``"ZLIB"``.
        prefetch_buffer_size: batches prepared ahead in a background thread (``None`` → 2, 0 disables).
        drop_final_batch: drop a last batch smaller than ``batch_size``.
        input_context: shard the files (or records) for this input pipeline.

    Returns:
        A re-iterable dataset of ``(features, label)`` (or ``features`` without ``label_key``).

    Raises:
        InvalidArgumentError: bad arguments (no files, ``label_key`` not in the spec, ...).
        InputError / DataLossError: while iterating, a record that does not parse or a corrupt file.
    """
    if not features:
        raise InvalidArgumentError("features (the parse spec) must be a non-empty dict.")
    if label_key is not None and label_key not in features:
        raise InvalidArgumentError(
            f"label_key {label_key!r} is not in the parse spec ({sorted(features)}){did_you_mean(label_key, features)}"
        )
    spec = dict(features)
    for key, feature in spec.items():
        if isinstance(feature, FixedLenSequenceFeature) and not feature.allow_missing:
            raise InvalidArgumentError(
                f"features[{key!r}] is a FixedLenSequenceFeature; it needs allow_missing=True."
            )
    compression = tfrecord_compression(compression_type)
    files = expand_file_pattern(file_pattern, shuffle)

    def read_file(path: str) -> Iterator[dict[str, Any]]:
        for chunk in read_record_chunks(path, compression):
            yield from _parse_chunk(chunk, spec)

    def finalize(block: dict[str, Any]) -> Any:
        parsed = dict(block)
        if label_key is None:
            return parsed
        label = parsed.pop(label_key)
        return parsed, label

    return BatchedDataset(
        files,
        read_file,
        batch_size,
        finalize,
        num_epochs=num_epochs,
        shuffle=shuffle,
        shuffle_buffer_size=shuffle_buffer_size,
        shuffle_seed=shuffle_seed,
        input_context=input_context,
        prefetch_buffer_size=2 if prefetch_buffer_size is None else prefetch_buffer_size,
        drop_remainder=drop_final_batch,
    )


make_batched_features_dataset = make_tfrecord_dataset
"""TF's name for :func:`make_tfrecord_dataset` (``tf.data.experimental.make_batched_features_dataset``)."""
