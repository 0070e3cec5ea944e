"""``torchestimator.feature_column``: the ``tf.feature_column`` names (re-exported from :mod:`torchestimator.columns`)."""

from __future__ import annotations

from torchestimator.columns import *  # noqa: F403
from torchestimator.columns import __all__ as __all__
