"""Deprecated: moved to :mod:`torchestimator.warm_start` (this module re-exports it with a ``DeprecationWarning``)."""

from __future__ import annotations

import warnings

from torchestimator.warm_start import KEEP_INITIAL, RowRemap, VocabInfo, load_vocab, plan_remap

warnings.warn(
    "torchestimator.vocab_remap is deprecated: import from torchestimator.warm_start instead.",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["KEEP_INITIAL", "RowRemap", "VocabInfo", "load_vocab", "plan_remap"]
