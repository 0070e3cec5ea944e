"""Warm start (tf.estimator's ``warm_start_from``): settings, the variables it addresses, vocabulary remaps.

* :class:`WarmStartSettings` / :func:`warm_start`: what to copy from which checkpoint, and the copy
  (``_warm_start.py``);
* :class:`WarmStartVariable` and the variable tables of a live module or a checkpoint
  (:func:`module_variables`, :func:`checkpoint_variables`; ``_variables.py``);
* :class:`VocabInfo` and the row remap of a variable whose vocabulary changed (``_vocab_remap.py``).

Formerly the modules ``torchestimator.warm_start``, ``torchestimator.warm_start_variables`` and
``torchestimator.vocab_remap``; the last two still import, with a ``DeprecationWarning``.
"""

from __future__ import annotations

from torchestimator.warm_start._variables import (
    WarmStartVariable,
    checkpoint_variables,
    layer_tables,
    module_variables,
)
from torchestimator.warm_start._vocab_remap import KEEP_INITIAL, RowRemap, VocabInfo, load_vocab, plan_remap
from torchestimator.warm_start._warm_start import WarmStartSettings, warm_start

__all__ = [
    "KEEP_INITIAL",
    "RowRemap",
    "VocabInfo",
    "WarmStartSettings",
    "WarmStartVariable",
    "checkpoint_variables",
    "layer_tables",
    "load_vocab",
    "module_variables",
    "plan_remap",
    "warm_start",
]
