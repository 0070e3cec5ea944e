"""``te.data``: the ``tf.data`` API that ``input_fn``\\ s use, over numpy.

=========================================  ===================================================
TF                                         torchestimator
=========================================  ===================================================
``tf.data.Dataset``                        :class:`Dataset` (same constructors / methods)
``tf.data.TextLineDataset``                :class:`TextLineDataset`
``tf.data.TFRecordDataset``                :class:`TFRecordDataset`
``tf.data.experimental.CsvDataset``        :class:`CsvDataset` (also ``experimental.CsvDataset``)
``tf.data.experimental.make_csv_dataset``  :func:`experimental.make_csv_dataset`
``tf.data.AUTOTUNE``                       :data:`AUTOTUNE`
``tf.io.decode_csv``                       :func:`decode_csv`
``tf.strings.split``                       :func:`string_split`
=========================================  ===================================================

Elements are numpy values; functions given to ``map`` / ``filter`` receive numpy, not tensors. See
``docs/porting.md`` for what differs from TF.
"""

from __future__ import annotations

# the node modules register the nodes Dataset's methods build (data/_dataset.py's NODES)
from torchestimator.data import (  # noqa: F401
    _batching,
    _cache,
    _mapping,
    _sampling,
    _shuffle,
    _sources,
    _transforms,
    experimental,
)
from torchestimator.data._dataset import AUTOTUNE, INFINITE, UNKNOWN, Dataset
from torchestimator.data._files import CsvDataset, TextLineDataset, TFRecordDataset
from torchestimator.data._options import Options
from torchestimator.data._structure import TensorSpec
from torchestimator.data._text import decode_csv, string_split

INFINITE_CARDINALITY = INFINITE
UNKNOWN_CARDINALITY = UNKNOWN

__all__ = [
    "AUTOTUNE",
    "INFINITE_CARDINALITY",
    "UNKNOWN_CARDINALITY",
    "CsvDataset",
    "Dataset",
    "Options",
    "TFRecordDataset",
    "TensorSpec",
    "TextLineDataset",
    "decode_csv",
    "experimental",
    "string_split",
]
