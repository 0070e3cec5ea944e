"""Deprecated: moved to :mod:`torchestimator.estimator._runtime` (this module re-exports it with a ``DeprecationWarning``)."""

from __future__ import annotations

import warnings

from torchestimator.estimator._runtime import ESTIMATOR_ALIASES, Runtime, fire_hooks, open_stream

warnings.warn(
    "torchestimator._runtime is deprecated: import from torchestimator.estimator._runtime instead.",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["ESTIMATOR_ALIASES", "Runtime", "fire_hooks", "open_stream"]
