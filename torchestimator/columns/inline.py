"""``input_layer`` / ``linear_model``: TF1's functional column layers, for function model_fns.

Inside a function model_fn (``te.Estimator(model_fn=fn)``, :mod:`torchestimator.function_model`) each call
site builds its :class:`~torchestimator.columns.DenseFeatures` / :class:`~torchestimator.columns.LinearModel`
on the model's first call (named ``input_layer``, ``input_layer_1``, ... / ``linear_model`` ... as TF names
them) and reuses it on every later call and mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from torchestimator.columns.dense_features import DenseFeatures
from torchestimator.columns.linear_model import LinearModel
from torchestimator.errors import InvalidArgumentError

__all__ = ["input_layer", "linear_model"]


def _names(feature_columns: Any) -> list[str]:
    cols = [feature_columns] if not isinstance(feature_columns, (list, tuple)) else list(feature_columns)
    return sorted(getattr(c, "name", repr(c)) for c in cols)


def _unsupported(name: str, **given: Any) -> None:
    bad = sorted(k for k, v in given.items() if v is not None)
    if bad:
        raise InvalidArgumentError(
            f"{name}: {bad} (TF graph collections / output dicts) have no meaning here; drop them. The layer's "
            "variables are in the Estimator's checkpoint under the layer's name."
        )


def input_layer(
    features: Mapping[str, Any],
    feature_columns: Sequence[Any],
    weight_collections: Any = None,
    trainable: bool = True,
    cols_to_vars: Any = None,
    cols_to_output_tensors: Any = None,
) -> torch.Tensor:
    """``tf.compat.v1.feature_column.input_layer``: dense columns -> one ``(B, D)`` tensor, sorted by name.

    Raises:
        ModelFnError: called outside a function model_fn.
        InvalidArgumentError: TF-only arguments (collections, output dicts).
    """
    from torchestimator.function_model import get_or_create

    _unsupported(
        "input_layer",
        weight_collections=weight_collections,
        cols_to_vars=cols_to_vars,
        cols_to_output_tensors=cols_to_output_tensors,
    )
    cols: list[Any] = (
        list(feature_columns) if isinstance(feature_columns, (list, tuple)) else [feature_columns]
    )

    def build() -> DenseFeatures:
        layer = DenseFeatures(cols)
        layer.requires_grad_(trainable)
        return layer

    layer = get_or_create("input_layer", build, f"input_layer(columns={_names(cols)})", what="input_layer")
    return layer(features)  # (B, D)


def linear_model(
    features: Mapping[str, Any],
    feature_columns: Sequence[Any],
    units: int = 1,
    sparse_combiner: str = "sum",
    weight_collections: Any = None,
    trainable: bool = True,
    cols_to_vars: Any = None,
) -> torch.Tensor:
    """``tf.compat.v1.feature_column.linear_model``: ``(B, units)`` weighted sum of the columns plus a bias.

    Raises:
        ModelFnError: called outside a function model_fn.
        InvalidArgumentError: TF-only arguments, a bad ``units`` or ``sparse_combiner``.
    """
    from torchestimator.function_model import get_or_create

    _unsupported("linear_model", weight_collections=weight_collections, cols_to_vars=cols_to_vars)
    cols: list[Any] = (
        list(feature_columns) if isinstance(feature_columns, (list, tuple)) else [feature_columns]
    )

    def build() -> LinearModel:
        layer = LinearModel(cols, units=units, sparse_combiner=sparse_combiner)
        layer.requires_grad_(trainable)
        return layer

    signature = f"linear_model(columns={_names(cols)}, units={units}, sparse_combiner={sparse_combiner!r})"
    layer = get_or_create("linear_model", build, signature, what="linear_model")
    return layer(features)  # (B, units)
