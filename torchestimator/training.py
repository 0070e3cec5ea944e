"""Deprecated: moved to :mod:`torchestimator.estimator` (this module re-exports it with a ``DeprecationWarning``)."""

from __future__ import annotations

import warnings

from torchestimator.estimator import EvalSpec, TrainSpec, train_and_evaluate

warnings.warn(
    "torchestimator.training is deprecated: import from torchestimator.estimator instead.",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["EvalSpec", "TrainSpec", "train_and_evaluate"]
