"""Deprecated: moved to :mod:`torchestimator.estimator` (this module re-exports it with a ``DeprecationWarning``)."""

from __future__ import annotations

import warnings

from torchestimator.estimator import build_function_model

warnings.warn(
    "torchestimator.function_build is deprecated: import from torchestimator.estimator instead.",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["build_function_model"]
