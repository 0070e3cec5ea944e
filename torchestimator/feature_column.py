"""``torchestimator.feature_column``: the ``tf.feature_column`` names (re-exported from :mod:`torchestimator.columns`),
plus TF1's functional ``input_layer`` / ``linear_model`` for function model_fns."""

from __future__ import annotations

from torchestimator.columns import *  # noqa: F403
from torchestimator.columns import __all__ as _columns_all
from torchestimator.columns.inline import input_layer as input_layer
from torchestimator.columns.inline import linear_model as linear_model

__all__ = sorted([*_columns_all, "input_layer", "linear_model"])
