"""Input pipelines without TensorFlow: CSV, numpy / pandas, TFRecord of ``tf.train.Example``.

=====================================  ==============================================================
TF                                     torchestimator.inputs
=====================================  ==============================================================
``tf.data.experimental.make_csv_dataset``            :func:`make_csv_dataset`
``tf.data.experimental.make_batched_features_dataset``  :func:`make_tfrecord_dataset`
``tf.data.TFRecordDataset`` / ``tf.io.TFRecordWriter``  :class:`TFRecordDataset` / :class:`TFRecordWriter`
``tf.io.parse_example`` (+ single / sequence)        :func:`parse_example` and friends
``tf.compat.v1.estimator.inputs.numpy_input_fn``     :func:`numpy_input_fn` / :func:`pandas_input_fn`
``dataset.prefetch``                                  :func:`prefetch`
=====================================  ==============================================================

Every dataset is a re-iterable (each ``iter()`` starts over) of ``(features, label)`` batches of numpy
arrays, sharded by an ``InputContext`` and shuffled reproducibly with a seed.
"""

from __future__ import annotations

from torchestimator.inputs.csv_dataset import make_csv_dataset
from torchestimator.inputs.example_parsing import (
    parse_example,
    parse_sequence_example,
    parse_single_example,
    parse_single_sequence_example,
)
from torchestimator.inputs.example_proto import (
    decode_example,
    decode_sequence_example,
    encode_example,
    encode_sequence_example,
)
from torchestimator.inputs.numpy_io import numpy_input_fn, pandas_input_fn
from torchestimator.inputs.prefetch import Prefetcher, prefetch
from torchestimator.inputs.tfrecord import TFRecordWriter, masked_crc32c, read_records
from torchestimator.inputs.tfrecord_dataset import (
    TFRecordDataset,
    make_batched_features_dataset,
    make_tfrecord_dataset,
)

__all__ = [
    "Prefetcher",
    "TFRecordDataset",
    "TFRecordWriter",
    "decode_example",
    "decode_sequence_example",
    "encode_example",
    "encode_sequence_example",
    "make_batched_features_dataset",
    "make_csv_dataset",
    "make_tfrecord_dataset",
    "masked_crc32c",
    "numpy_input_fn",
    "pandas_input_fn",
    "parse_example",
    "parse_sequence_example",
    "parse_single_example",
    "parse_single_sequence_example",
    "prefetch",
    "read_records",
]
