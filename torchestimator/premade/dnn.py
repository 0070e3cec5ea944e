"""``DNNClassifier`` / ``DNNRegressor`` / ``DNNEstimator`` (TF ``canned/dnn.py``).

The model::

    features ─► DenseFeatures(columns) (B, D) ─► DNNTower(hidden_units, activation, dropout, batch_norm)
             ─► logits (B, head.logits_dimension) ─► head

Embedding columns of equal dimension share one fused sparse ``EmbeddingBag``, so Adagrad (the
default, at Keras' 0.001 with TF's initial accumulator 0.1) updates only the rows a batch uses.

Example:
    >>> import numpy as np
    >>> from torchestimator import feature_column as fc
    >>> est = DNNClassifier([8], [fc.numeric_column("x")], n_classes=3)
    >>> _ = est.train(lambda: ({"x": np.array([0.0, 1.0, 2.0], np.float32)}, np.array([0, 1, 2])), steps=2)
    >>> sorted(next(iter(est.predict(lambda: {"x": np.zeros(1, np.float32)}))))
    ['all_class_ids', 'all_classes', 'class_ids', 'classes', 'logits', 'probabilities']
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torchestimator.columns import DenseFeatures
from torchestimator.estimator import Estimator
from torchestimator.heads import LossReduction
from torchestimator.heads.base import Head
from torchestimator.premade.dnn_tower import DNNTower, check_dropout, check_hidden_units, resolve_activation
from torchestimator.premade.head_factory import classification_head, regression_head
from torchestimator.premade.model_base import (
    OptimizerPlan,
    PremadeModel,
    check_feature_columns,
    check_head,
    check_optimizer_spec,
    trainable,
)
from torchestimator.run_config import RunConfig
from torchestimator.spec import ModeKeys

__all__ = ["DNNClassifier", "DNNEstimator", "DNNModelFn", "DNNRegressor"]


class DNNModelFn(PremadeModel):
    """The DNN model_fn module: ``DenseFeatures`` -> :class:`DNNTower` -> head.

    Args:
        head: the head (its ``logits_dimension`` sets the logits layer's width).
        hidden_units: hidden layer sizes, e.g. ``[30, 10]``.
        feature_columns: dense columns (numeric, bucketized, indicator, embedding).
        optimizer: 'Adagrad' (default; Keras' default learning rate 0.001), another name, an optimizer
            class, or a callable ``params -> Optimizer``.
        activation_fn: a callable (default ``torch.nn.functional.relu``) or a name ('relu', 'tanh', ...).
        dropout: drop rate in TRAIN, or None.
        batch_norm: TF-style batch normalisation after each hidden layer.

    Raises:
        InvalidArgumentError: bad arguments (named in the message).
    """

    def __init__(
        self,
        head: Head,
        hidden_units: Sequence[int],
        feature_columns: Sequence[Any],
        optimizer: Any = "Adagrad",
        activation_fn: Any = F.relu,
        dropout: float | None = None,
        batch_norm: bool = False,
    ) -> None:
        super().__init__(head)
        owner = type(self).__name__
        units = check_hidden_units(hidden_units, owner)
        columns = check_feature_columns(feature_columns, owner)
        self.optimizer_spec = check_optimizer_spec(optimizer, owner)
        self.input_layer = DenseFeatures(columns)
        self.tower = DNNTower(
            self.input_layer.output_dim,
            units,
            self.head.logits_dimension,
            resolve_activation(activation_fn, owner),
            check_dropout(dropout, owner),
            bool(batch_norm),
        )

    def logits(self, features: Mapping[str, Any], mode: str = ModeKeys.PREDICT) -> torch.Tensor:
        """``(B, logits_dimension)``; dropout and batch statistics only in TRAIN."""
        inputs = self.input_layer(features)  # (B, D)
        return self.tower(inputs, training=mode == ModeKeys.TRAIN)

    def tf_variable_bindings(self) -> list[Any]:
        from torchestimator.compat._tf_names import DNN_INPUT_SCOPE, dense_features_bindings, tower_bindings

        return [
            *dense_features_bindings(self.input_layer, "input_layer", DNN_INPUT_SCOPE),
            *tower_bindings(self.tower, "tower", "dnn"),
        ]

    def _optimizer_plan(self) -> list[OptimizerPlan]:
        params = trainable(self.input_layer) + trainable(self.tower)
        return [("optimizer", params, self.optimizer_spec, None)]


class DNNClassifier(Estimator):
    """Feed-forward classifier (tf.estimator.DNNClassifier): binary (sigmoid) or multi-class (softmax).

    Args:
        hidden_units: hidden layer sizes, e.g. ``[30, 10]``.
        feature_columns: dense columns (wrap categorical ones in ``embedding_column`` / ``indicator_column``).
        model_dir: where checkpoints and summaries go.
        n_classes: number of classes (> 1).
        weight_column: a feature key or ``numeric_column`` weighting each example's loss.
        label_vocabulary: the class names when labels are strings.
        optimizer: see :class:`DNNModelFn` ('Adagrad' by default).
        activation_fn: hidden-layer activation (default relu).
        dropout: drop rate in TRAIN, or None.
        config: a :class:`~torchestimator.RunConfig`.
        warm_start_from: a model_dir or checkpoint to initialise matching weights from.
        loss_reduction: ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        batch_norm: batch normalisation after each hidden layer.

    Raises:
        InvalidArgumentError: bad arguments.
    """

    def __init__(
        self,
        hidden_units: Sequence[int],
        feature_columns: Sequence[Any],
        model_dir: str | os.PathLike[str] | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Sequence[str] | None = None,
        optimizer: Any = "Adagrad",
        activation_fn: Any = F.relu,
        dropout: float | None = None,
        config: RunConfig | None = None,
        warm_start_from: Any = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
    ) -> None:
        head = classification_head(
            n_classes, weight_column, label_vocabulary, loss_reduction, "DNNClassifier"
        )
        super().__init__(
            lambda: DNNModelFn(
                head, hidden_units, feature_columns, optimizer, activation_fn, dropout, batch_norm
            ),
            model_dir=model_dir,
            config=config,
            warm_start_from=warm_start_from,
        )


class DNNRegressor(Estimator):
    """Feed-forward regressor with squared-error loss (tf.estimator.DNNRegressor).

    Args:
        hidden_units: hidden layer sizes.
        feature_columns: dense columns.
        model_dir: where checkpoints and summaries go.
        label_dimension: number of regression targets per example.
        weight_column: a feature key or ``numeric_column`` weighting each example's loss.
        optimizer: see :class:`DNNModelFn`.
        activation_fn: hidden-layer activation (default relu).
        dropout: drop rate in TRAIN, or None.
        config: a :class:`~torchestimator.RunConfig`.
        warm_start_from: a model_dir or checkpoint to initialise matching weights from.
        loss_reduction: ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        batch_norm: batch normalisation after each hidden layer.

    Raises:
        InvalidArgumentError: bad arguments.
    """

    def __init__(
        self,
        hidden_units: Sequence[int],
        feature_columns: Sequence[Any],
        model_dir: str | os.PathLike[str] | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Adagrad",
        activation_fn: Any = F.relu,
        dropout: float | None = None,
        config: RunConfig | None = None,
        warm_start_from: Any = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
    ) -> None:
        head = regression_head(label_dimension, weight_column, loss_reduction, "DNNRegressor")
        super().__init__(
            lambda: DNNModelFn(
                head, hidden_units, feature_columns, optimizer, activation_fn, dropout, batch_norm
            ),
            model_dir=model_dir,
            config=config,
            warm_start_from=warm_start_from,
        )


class DNNEstimator(Estimator):
    """A feed-forward model with any head (tf.estimator.DNNEstimator).

    Args:
        head: a :class:`~torchestimator.heads.Head`.
        hidden_units: hidden layer sizes.
        feature_columns: dense columns.
        model_dir: where checkpoints and summaries go.
        optimizer: see :class:`DNNModelFn`.
        activation_fn: hidden-layer activation (default relu).
        dropout: drop rate in TRAIN, or None.
        config: a :class:`~torchestimator.RunConfig`.
        warm_start_from: a model_dir or checkpoint to initialise matching weights from.
        batch_norm: batch normalisation after each hidden layer.

    Raises:
        InvalidArgumentError: bad arguments.
    """

    def __init__(
        self,
        head: Head,
        hidden_units: Sequence[int],
        feature_columns: Sequence[Any],
        model_dir: str | os.PathLike[str] | None = None,
        optimizer: Any = "Adagrad",
        activation_fn: Any = F.relu,
        dropout: float | None = None,
        config: RunConfig | None = None,
        warm_start_from: Any = None,
        batch_norm: bool = False,
    ) -> None:
        check_head(head, "DNNEstimator")
        super().__init__(
            lambda: DNNModelFn(
                head, hidden_units, feature_columns, optimizer, activation_fn, dropout, batch_norm
            ),
            model_dir=model_dir,
            config=config,
            warm_start_from=warm_start_from,
        )
