"""``torchestimator.feature_column``: the ``tf.feature_column`` names (re-exported from :mod:`torchestimator.columns`)."""

from __future__ import annotations

from torchestimator.columns import *  # noqa: F403
from torchestimator.columns import __all__ as _columns_all
from torchestimator.columns.inline import input_layer, linear_model

__all__ = sorted([*_columns_all, "input_layer", "linear_model"])  # noqa: PLE0605 - names re-exported above
