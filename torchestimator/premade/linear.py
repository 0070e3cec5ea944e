"""``LinearClassifier`` / ``LinearRegressor`` / ``LinearEstimator`` (TF ``canned/linear.py``).

The model is a :class:`~torchestimator.columns.LinearModel` (zero-initialised weights, categorical
columns fused into one sparse ``EmbeddingBag``) feeding a head::

    features ─► LinearModel(columns, units=head.logits_dimension, sparse_combiner) ─► logits ─► head

Default optimizer: FTRL (``'Ftrl'``, learning rate 0.2 for any optimizer *name*); a falsy
``optimizer`` (None, '') gives FTRL at ``min(0.2, 1 / sqrt(len(feature_columns)))``, as in TF.
FTRL and Adagrad (and this package's Adam / RMSProp) update only the rows a batch touches.

Example:
    >>> import numpy as np
    >>> from torchestimator import feature_column as fc
    >>> est = LinearClassifier([fc.numeric_column("x")])
    >>> batch = ({"x": np.array([-1.0, 1.0], np.float32)}, np.array([0, 1]))
    >>> _ = est.train(lambda: batch, steps=20)
    >>> [int(p["class_ids"][0]) for p in est.predict(lambda: batch[0])]
    [0, 1]
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from torchestimator import summary
from torchestimator.columns import LinearModel
from torchestimator.estimator import Estimator
from torchestimator.heads import LossReduction
from torchestimator.heads.base import Head
from torchestimator.optimizers import LINEAR_LEARNING_RATE, linear_default_learning_rate
from torchestimator.premade.head_factory import classification_head, regression_head
from torchestimator.premade.model_base import (
    OptimizerPlan,
    PremadeModel,
    check_feature_columns,
    check_head,
    check_optimizer_spec,
    trainable,
)
from torchestimator.premade.sdca import LinearSDCA
from torchestimator.run_config import RunConfig
from torchestimator.spec import EstimatorSpec, ModeKeys

__all__ = ["LinearClassifier", "LinearEstimator", "LinearModelFn", "LinearRegressor", "linear_optimizer_plan"]


def linear_optimizer_plan(
    name: str, params: list[torch.nn.Parameter], optimizer: Any, num_columns: int
) -> OptimizerPlan:
    """TF's linear defaults: a name trains at 0.2; a falsy optimizer is FTRL at ``min(0.2, 1/sqrt(n))``."""
    if not optimizer:
        return name, params, "Ftrl", linear_default_learning_rate(num_columns)
    return name, params, optimizer, LINEAR_LEARNING_RATE


def _linear_summaries(model: LinearModel) -> None:
    """TF's canned linear summaries: ``bias`` (a scalar for one unit, else a histogram) and
    ``fraction_of_zero_weights`` over every weight but the bias."""
    bias = model.bias.detach()
    if bias.numel() == 1:
        summary.scalar("bias", bias)
    else:
        summary.histogram("bias", bias)
    weights = [p.detach() for name, p in model.named_parameters() if name != "bias"]
    total = sum(w.numel() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)  # a recorded step only: one sync is fine
    summary.scalar("fraction_of_zero_weights", zeros / total if total else 0.0)


class LinearModelFn(PremadeModel):
    """The linear model_fn module: ``LinearModel`` -> head.

    Args:
        head: the head (its ``logits_dimension`` sets the model's width).
        feature_columns: any categorical or dense columns.
        optimizer: 'Ftrl' (default), another name, an optimizer class, a callable
            ``params -> Optimizer``, a falsy value (FTRL at ``min(0.2, 1/sqrt(n_columns))``), or a
            :class:`~torchestimator.premade.sdca.LinearSDCA` (binary / one-dimensional heads only).
        sparse_combiner: 'sum' (default), 'mean' or 'sqrtn' within each multivalent categorical column.

    Raises:
        InvalidArgumentError: empty columns, a bad optimizer or combiner, or a non-Head head.
    """

    def __init__(
        self,
        head: Head,
        feature_columns: Sequence[Any],
        optimizer: Any = "Ftrl",
        sparse_combiner: str = "sum",
    ) -> None:
        super().__init__(head)
        owner = type(self).__name__
        columns = check_feature_columns(feature_columns, owner)
        self.sdca = optimizer if isinstance(optimizer, LinearSDCA) else None
        if self.sdca is not None:
            self.sdca_loss = self.sdca.loss_type(self.head, sparse_combiner, owner)  # TF's requirements
            self.optimizer_spec = optimizer
        else:
            self.optimizer_spec = check_optimizer_spec(optimizer, owner, allow_none=True)
        self.linear_model = LinearModel(
            columns, units=self.head.logits_dimension, sparse_combiner=sparse_combiner
        )

    def logits(self, features: Mapping[str, Any], mode: str = ModeKeys.PREDICT) -> torch.Tensor:
        """``(B, logits_dimension)``: the linear combination of the columns plus the bias."""
        logits = self.linear_model(features)  # (B, units)
        if summary.is_recording():
            _linear_summaries(self.linear_model)
        return logits

    def tf_variable_bindings(self) -> list[Any]:
        from torchestimator.compat._tf_names import linear_model_bindings

        return linear_model_bindings(self.linear_model, "linear_model", "linear/linear_model")

    def _optimizer_plan(self) -> list[OptimizerPlan]:
        if self.sdca is not None:
            sdca, model, loss = self.sdca, self.linear_model, self.sdca_loss
            return [("optimizer", trainable(model), lambda params: sdca.build_optimizer(model, loss), None)]
        n = len(self.linear_model.feature_columns)
        return [linear_optimizer_plan("optimizer", trainable(self.linear_model), self.optimizer_spec, n)]

    def forward(
        self, features: Mapping[str, Any], labels: Any = None, mode: str = ModeKeys.PREDICT
    ) -> EstimatorSpec:
        """As :meth:`PremadeModel.forward`; with a :class:`LinearSDCA` optimizer, TRAIN stages an SDCA step."""
        if self.sdca is not None and mode == ModeKeys.TRAIN:
            return self.sdca.train_spec(self, features, labels)
        return super().forward(features, labels, mode)


class LinearClassifier(Estimator):
    """Linear classifier (tf.estimator.LinearClassifier): binary (sigmoid) or multi-class (softmax).

    Args:
        feature_columns: the model's columns (categorical ones are used directly, dense ones multiplied).
        model_dir: where checkpoints and summaries go.
        n_classes: number of classes (> 1).
        weight_column: a feature key or ``numeric_column`` whose value weights each example's loss.
        label_vocabulary: the class names when labels are strings (else int ids 0..n_classes-1).
        optimizer: see :class:`LinearModelFn` ('Ftrl' by default, learning rate 0.2).
        config: a :class:`~torchestimator.RunConfig`.
        warm_start_from: a model_dir or checkpoint to initialise matching weights from.
        loss_reduction: ``LossReduction.SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        sparse_combiner: 'sum' (default), 'mean' or 'sqrtn'.

    Raises:
        InvalidArgumentError: bad arguments (named in the message).
    """

    def __init__(
        self,
        feature_columns: Sequence[Any],
        model_dir: str | os.PathLike[str] | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Sequence[str] | None = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        warm_start_from: Any = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
        sparse_combiner: str = "sum",
    ) -> None:
        head = classification_head(
            n_classes, weight_column, label_vocabulary, loss_reduction, "LinearClassifier"
        )
        super().__init__(
            lambda: LinearModelFn(head, feature_columns, optimizer, sparse_combiner),
            model_dir=model_dir,
            config=config,
            warm_start_from=warm_start_from,
        )


class LinearRegressor(Estimator):
    """Linear regressor with squared-error loss (tf.estimator.LinearRegressor).

    Args:
        feature_columns: the model's columns.
        model_dir: where checkpoints and summaries go.
        label_dimension: number of regression targets per example.
        weight_column: a feature key or ``numeric_column`` weighting each example's loss.
        optimizer: see :class:`LinearModelFn`.
        config: a :class:`~torchestimator.RunConfig`.
        warm_start_from: a model_dir or checkpoint to initialise matching weights from.
        loss_reduction: ``SUM_OVER_BATCH_SIZE`` (default) or ``SUM``.
        sparse_combiner: 'sum' (default), 'mean' or 'sqrtn'.

    Raises:
        InvalidArgumentError: bad arguments.
    """

    def __init__(
        self,
        feature_columns: Sequence[Any],
        model_dir: str | os.PathLike[str] | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        warm_start_from: Any = None,
        loss_reduction: str = LossReduction.SUM_OVER_BATCH_SIZE,
        sparse_combiner: str = "sum",
    ) -> None:
        head = regression_head(label_dimension, weight_column, loss_reduction, "LinearRegressor")
        super().__init__(
            lambda: LinearModelFn(head, feature_columns, optimizer, sparse_combiner),
            model_dir=model_dir,
            config=config,
            warm_start_from=warm_start_from,
        )


class LinearEstimator(Estimator):
    """A linear model with any head (tf.estimator.LinearEstimator).

    Args:
        head: a :class:`~torchestimator.heads.Head` (e.g. ``MultiLabelHead(3)``).
        feature_columns: the model's columns.
        model_dir: where checkpoints and summaries go.
        optimizer: see :class:`LinearModelFn`.
        config: a :class:`~torchestimator.RunConfig`.
        sparse_combiner: 'sum' (default), 'mean' or 'sqrtn'.
        warm_start_from: a model_dir or checkpoint to initialise matching weights from.

    Raises:
        InvalidArgumentError: bad arguments.
    """

    def __init__(
        self,
        head: Head,
        feature_columns: Sequence[Any],
        model_dir: str | os.PathLike[str] | None = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        sparse_combiner: str = "sum",
        warm_start_from: Any = None,
    ) -> None:
        check_head(head, "LinearEstimator")
        super().__init__(
            lambda: LinearModelFn(head, feature_columns, optimizer, sparse_combiner),
            model_dir=model_dir,
            config=config,
            warm_start_from=warm_start_from,
        )
