"""``te.io``: the ``tf.io`` names that input functions call, over :mod:`torchestimator.inputs`.

=======================================  ================================================================
TF                                       torchestimator
=======================================  ================================================================
``tf.io.parse_example``                  :func:`parse_example` (a batch: ``VarLenFeature`` -> ``Ragged``)
``tf.io.parse_single_example``           :func:`parse_single_example` (``VarLenFeature`` -> 1-D array)
``tf.io.parse_sequence_example`` (+1)    :func:`parse_sequence_example`, :func:`parse_single_sequence_example`
``tf.io.FixedLenFeature`` and friends    :class:`FixedLenFeature`, :class:`VarLenFeature`, ...
``tf.io.decode_csv``                     :func:`decode_csv`
``tf.io.TFRecordWriter``                 :class:`TFRecordWriter`
=======================================  ================================================================

Dtypes are names (``"int64"``, ``"float32"``, ``"string"``) where TF takes ``tf.int64``; string values
come back as numpy object arrays of ``bytes``, as TF's ``.numpy()`` gives them.
"""

from __future__ import annotations

from torchestimator.data._text import decode_csv
from torchestimator.inputs.example_parsing import (
    parse_example,
    parse_sequence_example,
    parse_single_example,
    parse_single_sequence_example,
)
from torchestimator.inputs.tfrecord import TFRecordWriter
from torchestimator.parsing import FixedLenFeature, FixedLenSequenceFeature, VarLenFeature

__all__ = [
    "FixedLenFeature",
    "FixedLenSequenceFeature",
    "TFRecordWriter",
    "VarLenFeature",
    "decode_csv",
    "parse_example",
    "parse_sequence_example",
    "parse_single_example",
    "parse_single_sequence_example",
]
