"""Deprecated: moved to :mod:`torchestimator.estimator` (this module re-exports it with a ``DeprecationWarning``)."""

from __future__ import annotations

import warnings

from torchestimator.estimator import MultiEvaluation, as_eval_specs

warnings.warn(
    "torchestimator.multi_eval is deprecated: import from torchestimator.estimator instead.",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["MultiEvaluation", "as_eval_specs"]
