"""Deprecated: moved to :mod:`torchestimator.warm_start` (this module re-exports it with a ``DeprecationWarning``)."""

from __future__ import annotations

import warnings

from torchestimator.warm_start import WarmStartVariable, checkpoint_variables, layer_tables, module_variables

warnings.warn(
    "torchestimator.warm_start_variables is deprecated: import from torchestimator.warm_start instead.",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["WarmStartVariable", "checkpoint_variables", "layer_tables", "module_variables"]
