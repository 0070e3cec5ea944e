"""Deprecated: moved to :mod:`torchestimator.estimator` (this module re-exports it with a ``DeprecationWarning``)."""

from __future__ import annotations

import warnings

from torchestimator.estimator import run_prediction

warnings.warn(
    "torchestimator.prediction is deprecated: import from torchestimator.estimator instead.",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["run_prediction"]
