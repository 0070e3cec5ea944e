"""``tf.compat.v1.feature_column``: every ``te.feature_column`` name plus TF1's ``input_layer`` / ``linear_model``
and ``shared_embedding_columns`` (TF1's name of ``shared_embeddings``)."""

from __future__ import annotations

from torchestimator.columns import shared_embeddings as shared_embedding_columns  # noqa: F401 - in __all__
from torchestimator.feature_column import *  # noqa: F403
from torchestimator.feature_column import __all__ as _names

__all__ = sorted([*_names, "shared_embedding_columns"])
