"""``tf.compat.v1.feature_column``: every ``te.feature_column`` name plus TF1's ``input_layer`` / ``linear_model``."""

from __future__ import annotations

from torchestimator.feature_column import *  # noqa: F403
from torchestimator.feature_column import __all__ as __all__

from torchestimator.columns import shared_embeddings as shared_embedding_columns  # noqa: E402 - TF1's name

__all__ = sorted([*__all__, "shared_embedding_columns"])  # noqa: PLE0605
